"""The bytes of outgoing mail: whatever the subject, sender and body, they parse back to what was sent."""

from __future__ import annotations

from email import message_from_bytes, policy

import pytest

from directory.mail import OutboxMailer, _message

CASES = [
    ("Directory <no-reply@example.org>", "A referral you sent has a new status", "Sign in: https://x.org/r/1\n"),
    ("no-reply@example.org", "Nouvelle offre de référence — ñ 日本語", "Plain ASCII body\n"),
    ("no-reply@example.org", "Subject", "Corps en français : référence\nligne deux\n"),
    ("no-reply@example.org", "A long ASCII subject " * 6, "x" * 200 + "\n" + "short line\n"),
    ("Répertoire des centres <no-reply@example.org>", "Offre", "Body\n"),
]


@pytest.mark.parametrize(("sender", "subject", "body"), CASES)
def test_a_message_parses_back_to_its_headers_and_body(sender, subject, body):
    raw = bytes(_message(sender, "staff@example.org", subject, body))
    assert raw.isascii()  # 7-bit clean: any SMTP server takes it
    message = message_from_bytes(raw, policy=policy.default)
    assert message["Subject"] == subject
    assert message["To"] == "staff@example.org"
    assert str(message["From"]) == sender
    assert message.get_content_type() == "text/plain"
    assert message.get_content_charset() == "utf-8"
    assert message.get_content() == body
    assert all(len(line) <= 78 for line in raw.split(b"\n"))


def test_an_ascii_body_in_short_lines_is_written_as_it_is():
    raw = bytes(_message("no-reply@example.org", "staff@example.org", "Offer", "Sign in: https://x.org/portal\n"))
    assert b"Content-Transfer-Encoding: 7bit" in raw
    assert raw.endswith(b"\n\nSign in: https://x.org/portal\n")


def test_the_outbox_writes_a_message_that_parses_back(tmp_path):
    OutboxMailer(tmp_path, "Directory <no-reply@example.org>").send("a@example.org", "Offre — ñ", "Corps é\n")
    (path,) = tmp_path.glob("*.eml")
    message = message_from_bytes(path.read_bytes(), policy=policy.default)
    assert (message["Subject"], message["To"], message.get_content()) == ("Offre — ñ", "a@example.org", "Corps é\n")


@pytest.mark.parametrize(
    ("to", "subject"),
    [
        ("staff@example.org", "Offer\r\nBcc: everyone@example.org"),
        ("staff@example.org\nBcc: everyone@example.org", "Offer"),
        ("staff@example.org", "Offer\nX-Injected: yes"),
    ],
)
def test_a_header_with_a_line_break_is_refused_not_written(to, subject):
    with pytest.raises(ValueError, match="linefeed or carriage return"):
        bytes(_message("no-reply@example.org", to, subject, "Body\n"))


@pytest.mark.parametrize("sender", ["no-reply@example.org", "Répertoire <no-reply@example.org>"])
@pytest.mark.parametrize("body", ["Sign in: https://x.org/i/1\n", "Connectez-vous : référence\n"])
def test_a_domain_with_accents_is_written_in_idna(sender, body):
    raw = bytes(_message(sender, "staff@exämple.org", "Invitation", body))
    assert raw.isascii()
    assert b"\nTo: staff@xn--exmple-cua.org\n" in raw
    message = message_from_bytes(raw, policy=policy.default)
    assert (message["To"], str(message["From"]), message.get_content()) == ("staff@xn--exmple-cua.org", sender, body)


def test_a_mailbox_name_with_accents_is_written_in_utf8_not_as_encoded_words():
    raw = bytes(_message("no-reply@example.org", "ünicode@exämple.org", "Invitation", "Body\n"))
    assert "\nTo: ünicode@exämple.org\n".encode() in raw  # RFC 6532, for a server offering SMTPUTF8
    assert b"=?" not in raw
    message = message_from_bytes(raw, policy=policy.default)
    assert (message["To"], message.get_content()) == ("ünicode@exämple.org", "Body\n")
