"""The languages of the pages, English and Spanish, and how a request's language is chosen.

A request's language is the one its `lang` query parameter names (the language switch on every
page and the `hreflang` alternates link with it), else the one the person chose before (the `lang`
cookie, set whenever a page is asked for with `lang`), else the browser's best match among the
site's languages (Accept-Language), else English. The JSON, HSDS and FHIR APIs answer in English.
Signed in, the switch is a form that also sets the account's language (`auth.change_language`),
in which the mail the worker sends the person is written (`in_language`); a link never changes it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from flask import Flask, Response, current_app, has_request_context, request
from flask_babel import force_locale, format_decimal, format_number, get_locale, gettext

from directory.errors import JSON_PREFIXES
from directory.extensions import babel
from directory.search.geocoding import coarse_point
from directory.translatable import Message

#: The site's languages, code -> name in that language (as the switch shows it).
LANGUAGES = {"en": "English", "es": "Español"}
#: The locale of each language, for numbers and dates as written in the United States
#: (Spanish translations come from the `es` catalogue).
LOCALES = {"en": "en_US", "es": "es_US"}
DEFAULT_LANGUAGE = "en"
#: The cookie keeping a person's choice, a year from their last pick.
LANGUAGE_COOKIE = "lang"
LANGUAGE_COOKIE_MAX_AGE = 365 * 24 * 3600
#: Where answers are for programs, in English whatever the language of the person's browser.
ENGLISH_ONLY_PREFIXES = (*JSON_PREFIXES, "/fhir/")


def init_i18n(app: Flask) -> None:
    """Bind Flask-Babel with the language selector; keep a chosen language; give templates the switch."""
    app.config.setdefault("BABEL_DEFAULT_LOCALE", LOCALES[DEFAULT_LANGUAGE])
    babel.init_app(app, locale_selector=select_locale)
    # {% trans %} blocks are extracted and looked up with their whitespace collapsed (babel.cfg too).
    app.jinja_env.policies["ext.i18n.trimmed"] = True
    app.jinja_env.globals.update(
        page_language=page_language,
        language_links=language_links,
        language_url=language_url,
        translate=translate,
        format_number=format_number,
        format_decimal=format_decimal,
    )
    app.after_request(_keep_chosen_language)


def chosen_language() -> str | None:
    """The language the request's `lang` query parameter names, if it is one of the site's."""
    code = request.args.get(LANGUAGE_COOKIE)
    return code if code in LANGUAGES else None


def request_language() -> str:
    """The request's language (see the module's docstring)."""
    if request.path.startswith(ENGLISH_ONLY_PREFIXES):
        return DEFAULT_LANGUAGE
    kept = request.cookies.get(LANGUAGE_COOKIE)
    return (
        chosen_language()
        or (kept if kept in LANGUAGES else None)
        or request.accept_languages.best_match(LANGUAGES, default=DEFAULT_LANGUAGE)
    )


def select_locale() -> str | None:
    """Flask-Babel's locale for the request; None outside a request (the default, English)."""
    return LOCALES[request_language()] if has_request_context() else None


def page_language() -> str:
    """The language of the page being made, for `<html lang>`."""
    locale = get_locale()
    return locale.language if locale is not None else DEFAULT_LANGUAGE


def translate(text: str, messages: Mapping[str, dict[str, Any]] | None = None) -> str:
    """Text marked in code without Flask (`directory.translatable`), in the request's language.
    A stored text with values is translated from its form in `messages` (`Message.data`, by its
    English text), as a referral's plan keeps them; without it, it stays as stored."""
    if messages and not isinstance(text, Message) and text in messages:
        text = Message.from_data(messages[text])
    if isinstance(text, Message):
        return text.translate(gettext, str(get_locale() or LOCALES[DEFAULT_LANGUAGE]))
    return gettext(text)


def in_language(language: str | None, text: str) -> str:
    """Text marked in code without Flask (`directory.translatable`) in `language` (a code of
    `LANGUAGES`; None, not known: English), whatever the request's: mail to a person in theirs."""
    with force_locale(LOCALES.get(language or DEFAULT_LANGUAGE, LOCALES[DEFAULT_LANGUAGE])):
        return translate(text)


def language_url(code: str | None, *, external: bool = False) -> str:
    """This page's address (with its query) in language `code`; without `lang` for None (the
    language the person's browser or choice gives); with the scheme and host if `external`.
    A point searched is rounded as in every link made from a search."""
    params = [
        (key, coarse_point(value) or "" if key == "near" else value)
        for key, value in request.args.items(multi=True)
        if key != LANGUAGE_COOKIE
    ]
    if code is not None:
        params.append((LANGUAGE_COOKIE, code))
    path = request.base_url if external else request.script_root + request.path
    return path + ("?" + urlencode(params) if params else "")


def language_links(*, external: bool = False) -> list[tuple[str, str, str]]:
    """(code, name, address) of this page in each of the site's languages."""
    return [(code, name, language_url(code, external=external)) for code, name in LANGUAGES.items()]


def _keep_chosen_language(response: Response) -> Response:
    """Keep the language a page was asked for in (the cookie); pages vary by the person's language."""
    code = chosen_language()
    if code is not None and request.cookies.get(LANGUAGE_COOKIE) != code:
        response.set_cookie(
            LANGUAGE_COOKIE,
            code,
            max_age=LANGUAGE_COOKIE_MAX_AGE,
            secure=current_app.config["SESSION_COOKIE_SECURE"],
            httponly=True,
            samesite="Lax",
        )
    if response.mimetype == "text/html":
        response.vary.update(("Accept-Language", "Cookie"))
    return response
