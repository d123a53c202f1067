"""Marking text for translation in code that does not import Flask (search, sources, the vocabulary).

`N_("...")` returns its text unchanged; the extraction (docs/translating.md) collects it into the
message catalogue, and the page that shows the text translates it with `_()` (gettext).
"""


def N_(message: str) -> str:
    """Mark `message` for the catalogue; it is translated where it is shown."""
    return message
