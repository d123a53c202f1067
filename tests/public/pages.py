"""Read rendered pages the way the tests ask about them: links, form fields, text, results."""

from __future__ import annotations

import re
from dataclasses import dataclass
from html import unescape
from html.parser import HTMLParser
from urllib.parse import parse_qs, urlsplit


@dataclass(frozen=True)
class Element:
    tag: str
    attrs: dict[str, str | None]


@dataclass(frozen=True)
class Link:
    href: str
    text: str

    @property
    def path(self) -> str:
        return urlsplit(self.href).path

    @property
    def params(self) -> dict[str, list[str]]:
        return parse_qs(urlsplit(self.href).query)


class Page(HTMLParser):
    """A rendered HTML page, parsed with the standard library."""

    def __init__(self, html: str | bytes) -> None:
        super().__init__(convert_charrefs=True)
        self.html = html.decode() if isinstance(html, bytes) else html
        self.elements: list[Element] = []
        self.links: list[Link] = []
        self.scripts: list[tuple[dict[str, str | None], str]] = []
        self._text: list[str] = []
        self._open_links: list[tuple[str, list[str]]] = []
        self._script: dict[str, str | None] | None = None
        self._script_body: list[str] = []
        self.feed(self.html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, dict(attrs))
        self.elements.append(element)
        if tag == "a":
            self._open_links.append((element.attrs.get("href") or "", []))
        elif tag == "script":
            self._script, self._script_body = element.attrs, []
        elif tag == "br":
            self.handle_data(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._open_links:
            href, parts = self._open_links.pop()
            self.links.append(Link(href, squash("".join(parts))))
        elif tag == "script" and self._script is not None:
            self.scripts.append((self._script, "".join(self._script_body)))
            self._script = None

    def handle_data(self, data: str) -> None:
        if self._script is not None:
            self._script_body.append(data)
            return
        self._text.append(data)
        for _, parts in self._open_links:
            parts.append(data)

    @property
    def text(self) -> str:
        """The visible words of the page, whitespace squashed."""
        return squash(" ".join(self._text))

    def find_all(self, tag: str, **attrs: str) -> list[Element]:
        """Elements with this tag and these attribute values (`class_` for class)."""
        wanted = {name.rstrip("_"): value for name, value in attrs.items()}
        return [e for e in self.elements if e.tag == tag and all(e.attrs.get(k) == v for k, v in wanted.items())]

    def find(self, tag: str, **attrs: str) -> Element:
        found = self.find_all(tag, **attrs)
        assert len(found) == 1, f"expected one <{tag} {attrs}>, found {len(found)}"
        return found[0]

    def links_to(self, path: str) -> list[Link]:
        return [link for link in self.links if link.path == path]

    def link(self, text: str) -> Link:
        """The one link whose words include `text`."""
        found = [link for link in self.links if text in link.text]
        assert len(found) == 1, f"expected one link with {text!r}, found {[link.text for link in found]}"
        return found[0]

    def checked(self, name: str) -> list[str]:
        """The values of the ticked checkboxes called `name`."""
        return [
            e.attrs["value"] or "" for e in self.find_all("input", type="checkbox", name=name) if "checked" in e.attrs
        ]

    def results(self) -> list[Page]:
        """Each search result as a page of its own, in order."""
        chunks = re.findall(r'<li class="result">(.*?)</li>\s*(?=<li class="result">|</ol>)', self.html, re.S)
        return [Page(chunk) for chunk in chunks]

    def result_names(self) -> list[str]:
        return [result.first_text("h2") for result in self.results()]

    def main(self) -> Page:
        """The page's <main> landmark alone, without the site header and footer."""
        match = re.search(r"<main\b[^>]*>(.*?)</main>", self.html, re.S)
        assert match, "no <main>"
        return Page(match.group(1))

    def nav(self, label: str) -> Page:
        """The <nav> landmark with this label, as a page of its own."""
        match = re.search(rf'<nav\b[^>]*\baria-label="{label}"[^>]*>(.*?)</nav>', self.html, re.S)
        assert match, f"no <nav> labelled {label!r}"
        return Page(match.group(1))

    def text_of(self, element_id: str) -> str:
        """The words inside the element with this id (which must not nest its own tag)."""
        match = re.search(rf'<(\w+)\b[^>]*\bid="{element_id}"[^>]*>(.*?)</\1>', self.html, re.S)
        assert match, f"no element with id {element_id!r}"
        return squash(unescape(re.sub(r"<[^>]+>", " ", match.group(2))))

    def first_text(self, tag: str) -> str:
        """The words of the first <tag> element."""
        match = re.search(rf"<{tag}\b[^>]*>(.*?)</{tag}>", self.html, re.S)
        assert match, f"no <{tag}>"
        return squash(unescape(re.sub(r"<[^>]+>", "", match.group(1))))


def squash(text: str) -> str:
    return " ".join(text.split())
