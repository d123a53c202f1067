"""Mail through a real SMTP server (aiosmtpd on a loopback port): one message, a batch over one connection."""

from __future__ import annotations

import smtplib
from email import message_from_bytes, policy

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from directory.mail import SmtpMailer, make_mailer
from tests.integration.services import free_port


class Recorder:
    """An SMTP server's handler that keeps each message and the client connection it came over."""

    def __init__(self) -> None:
        self.messages: list[tuple[list[str], str, tuple]] = []
        self.parsed: list = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802  (aiosmtpd's hook name)
        message = message_from_bytes(envelope.content, policy=policy.default)
        self.messages.append((envelope.rcpt_tos, message["Subject"], session.peer))
        self.parsed.append(message)
        return "250 OK"

    @property
    def connections(self) -> int:
        return len({peer for _, _, peer in self.messages})


def accept_test_login(server, session, envelope, mechanism, auth_data):
    return AuthResult(success=auth_data.login == b"relay" and auth_data.password == b"secret")


@pytest.fixture
def smtp_server():
    recorder = Recorder()
    controller = Controller(
        recorder,
        hostname="127.0.0.1",
        port=free_port(),
        authenticator=accept_test_login,
        auth_require_tls=False,  # loopback only; STARTTLS is the client's default, off in these tests
    )
    controller.start()
    yield controller, recorder
    controller.stop()


def test_each_message_sent_alone_has_its_own_connection(smtp_server):
    controller, recorder = smtp_server
    mailer = SmtpMailer(controller.hostname, controller.port, "no-reply@example.org", tls=False)
    mailer.send("a@example.org", "First", "Body one")
    mailer.send("b@example.org", "Second", "Body two")
    assert [(to, subject) for to, subject, _ in recorder.messages] == [
        (["a@example.org"], "First"),
        (["b@example.org"], "Second"),
    ]
    assert recorder.connections == 2


def test_a_batch_sends_all_its_messages_over_one_connection(smtp_server):
    controller, recorder = smtp_server
    mailer = SmtpMailer(
        controller.hostname, controller.port, "no-reply@example.org", username="relay", password="secret", tls=False
    )
    with mailer.batch() as batch:
        for n in range(5):
            batch.send(f"staff{n}@example.org", f"Offer {n}", "Sign in")
    assert [subject for _, subject, _ in recorder.messages] == [f"Offer {n}" for n in range(5)]
    assert recorder.connections == 1


def test_an_empty_batch_connects_to_nothing():
    mailer = SmtpMailer("127.0.0.1", free_port(), "x@example.org", tls=False)  # nothing listens there
    with mailer.batch():
        pass


def test_smtp_is_used_when_a_host_is_configured(smtp_server):
    controller, recorder = smtp_server
    mailer = make_mailer(
        {
            "MAIL_FROM": "Directory <no-reply@example.org>",
            "MAIL_SMTP_HOST": controller.hostname,
            "MAIL_SMTP_PORT": str(controller.port),
            "MAIL_SMTP_TLS": False,
        }
    )
    mailer.send("a@example.org", "Hello", "Body")
    assert [to for to, _, _ in recorder.messages] == [["a@example.org"]]


def test_a_message_that_is_not_ascii_arrives_as_it_was_written(smtp_server):
    controller, recorder = smtp_server
    mailer = SmtpMailer(controller.hostname, controller.port, "Répertoire <no-reply@example.org>", tls=False)
    mailer.send("a@example.org", "Nouvelle offre — référence", "Connectez-vous : https://exemple.org/portail\n")
    (message,) = recorder.parsed
    assert message["Subject"] == "Nouvelle offre — référence"
    assert message["From"].addresses[0].display_name == "Répertoire"
    assert message.get_content().replace("\r\n", "\n") == "Connectez-vous : https://exemple.org/portail\n"  # SMTP: CRLF


def test_a_domain_with_accents_is_sent_to_its_idna_form(smtp_server):
    controller, recorder = smtp_server
    SmtpMailer(controller.hostname, controller.port, "no-reply@example.org", tls=False).send(
        "staff@exämple.org", "Invitation", "Body"
    )
    assert [to for to, _, _ in recorder.messages] == [["staff@xn--exmple-cua.org"]]
    assert recorder.parsed[0]["To"] == "staff@xn--exmple-cua.org"


@pytest.mark.parametrize("smtputf8", [True, False])
def test_a_mailbox_name_with_accents_goes_only_to_a_server_offering_smtputf8(smtputf8):
    recorder = Recorder()
    controller = Controller(recorder, hostname="127.0.0.1", port=free_port(), enable_SMTPUTF8=smtputf8)
    controller.start()
    try:
        mailer = SmtpMailer(controller.hostname, controller.port, "no-reply@example.org", tls=False)
        if smtputf8:
            mailer.send("ünicode@exämple.org", "Invitation", "Body")
            assert [to for to, _, _ in recorder.messages] == [["ünicode@exämple.org"]]
            assert recorder.parsed[0]["To"] == "ünicode@exämple.org"
        else:
            with pytest.raises(smtplib.SMTPNotSupportedError):  # an OSError: the caller reports it unsent
                mailer.send("ünicode@exämple.org", "Invitation", "Body")
            assert recorder.messages == []
    finally:
        controller.stop()
