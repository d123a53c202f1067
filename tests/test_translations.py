"""The Spanish catalogue is complete: every message marked in the code and templates is in
directory/translations/es/LC_MESSAGES/messages.po, translated, not fuzzy, with the same placeholders."""

from __future__ import annotations

from pathlib import Path

from babel.messages.frontend import CommandLineInterface
from babel.messages.pofile import read_po

from tests.conftest import ROOT

CATALOGUE = ROOT / "directory" / "translations" / "es" / "LC_MESSAGES" / "messages.po"
#: As docs/translating.md extracts: `_l` (lazy_gettext, for form labels) besides Babel's own keywords.
EXTRACT = ["extract", "-F", "babel.cfg", "-k", "_l", "--no-location", "--sort-output"]


def extract_messages(out: Path) -> set[str]:
    """The msgids marked in the sources, extracted afresh."""
    pot = out / "messages.pot"
    CommandLineInterface().run(["pybabel", *EXTRACT, "-o", str(pot), str(ROOT)])
    with pot.open("rb") as file:
        return {message.id if isinstance(message.id, str) else message.id[0] for message in read_po(file) if message.id}


def test_every_message_has_a_spanish_translation(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(ROOT)  # babel.cfg's patterns are relative to the project's root
    marked = extract_messages(tmp_path)
    assert len(marked) > 10
    with CATALOGUE.open("rb") as file:
        catalogue = read_po(file)
    problems = []
    for msgid in sorted(marked):
        message = catalogue.get(msgid)
        if message is None:
            problems.append(f"not in the catalogue: {msgid!r}")
            continue
        strings = [message.string] if isinstance(message.string, str) else list(message.string)
        if not all(strings):
            problems.append(f"not translated: {msgid!r}")
        if message.fuzzy:
            problems.append(f"fuzzy (check the translation, then remove the flag): {msgid!r}")
    problems += [f"{message.id!r}: {error}" for message, errors in catalogue.check() for error in errors]
    assert not problems, "Run the steps in docs/translating.md:\n" + "\n".join(problems)
