"""Marking text for translation in code that does not import Flask (search, sources, the vocabulary).

`N_("...")` returns its text unchanged; the extraction (docs/translating.md) collects it into the
message catalogue, and the page that shows the text translates it with `_()` (gettext).
`Message(N_("... %(town)s ..."), town=...)` is a sentence with values: a string, in English, that
a page shows in the person's language with `Message.translate`. A value may be a Message itself,
a list of Messages (written joined with "; "), or a `LocalDate`, written as the language writes dates.
A Message that is stored (a referral's plan and timeline keep English text) is stored with its
`data()`, from which `Message.from_data` makes it again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

from babel.dates import format_date, format_skeleton

ENGLISH = "en_US"


def N_(message: str) -> str:
    """Mark `message` for the catalogue; it is translated where it is shown."""
    return message


@dataclass(frozen=True)
class LocalDate:
    """A date in a sentence, written in the sentence's language: as "long" ("August 19, 2025",
    "19 de agosto de 2025"), "day" ("19 August 2025" in English), "month" ("August 2025") or
    "short" ("19 Aug", "19 ago")."""

    day: date
    form: str = "long"

    def format(self, locale: str) -> str:
        english = locale.startswith("en")
        if self.form == "month":
            return (
                format_date(self.day, "MMMM y", locale=locale)
                if english
                else format_skeleton("yMMMM", self.day, locale=locale)
            )
        if self.form == "short":
            return format_date(self.day, "d MMM", locale=locale)
        if self.form == "day" and english:
            return format_date(self.day, "d MMMM y", locale=locale)
        return format_date(self.day, "long", locale=locale)


class Message(str):
    """A marked message with named values: the string is the English text, so code, logs and the
    API read it as plain text; pages translate it."""

    template: str
    values: dict[str, object]

    def __new__(cls, template: str, **values: object) -> Message:
        self = super().__new__(cls, cls._finish(_format(template, values, _english, ENGLISH)))
        self.template, self.values = template, values
        return self

    def translate(self, gettext: Callable[[str], str], locale: str) -> str:
        """The message in the language `gettext` translates into, dates as `locale` writes them."""
        return self._finish(_format(self.template, self.values, gettext, locale))

    def data(self) -> dict[str, Any]:
        """The message as JSON-ready data: its template and values (see `from_data`)."""
        return {"text": self.template, "values": {name: _data(value) for name, value in self.values.items()}}

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> Message:
        """The message whose `data()` this is."""
        return cls(data["text"], **{name: _from_data(value) for name, value in data["values"].items()})

    @staticmethod
    def _finish(text: str) -> str:
        return text


class LowerFirst(Message):
    """A Message starting in lower case, as a label inside a sentence ("Choose what is wrong: the
    phone number is wrong, ...")."""

    @staticmethod
    def _finish(text: str) -> str:
        return text[:1].lower() + text[1:]


def _english(text: str) -> str:
    return text


def _format(template: str, values: dict[str, object], gettext: Callable[[str], str], locale: str) -> str:
    if not values:
        return gettext(template)
    return gettext(template) % {name: _value(value, gettext, locale) for name, value in values.items()}


def _value(value: object, gettext: Callable[[str], str], locale: str) -> object:
    if isinstance(value, list):
        return "; ".join(str(_value(item, gettext, locale)) for item in value)
    if isinstance(value, Message):
        return value.translate(gettext, locale)
    if isinstance(value, LocalDate):
        return value.format(locale)
    return value


def _data(value: object) -> object:
    if isinstance(value, list):
        return [_data(item) for item in value]
    if isinstance(value, Message):
        return {"message": value.data()}
    if isinstance(value, LocalDate):
        return {"date": value.day.isoformat(), "form": value.form}
    return value


def _from_data(value: Any) -> object:
    if isinstance(value, list):
        return [_from_data(item) for item in value]
    if isinstance(value, dict) and "message" in value:
        return Message.from_data(value["message"])
    if isinstance(value, dict):
        return LocalDate(date.fromisoformat(value["date"]), value["form"])
    return value
