"""Download a source file over HTTP(S) and import it in one step: `sync`.

The download goes to a temporary file, and only a whole one is imported: an error status, a
host not found, a refused or silent connection, a body cut short (fewer bytes than its
Content-Length, or a chunked body that stops mid-chunk) or one over the size limit raises
`SyncError` before anything is imported. A body with neither a length nor chunks ends when the
connection closes, so a cut there cannot be told from the end of the file.
"""

from __future__ import annotations

import base64
import http.client
import re
import socket
import ssl
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath
from typing import IO
from urllib.error import HTTPError, URLError
from urllib.parse import unquote, urlsplit, urlunsplit
from urllib.request import HTTPRedirectHandler, Request, build_opener

from sqlalchemy.orm import Session

from directory.models.base import utcnow
from directory.sources import FORMATS, findtreatment_export, import_file
from directory.sources.loader import ImportReport

#: Seconds to wait for the connection, and then for each piece of the answer.
TIMEOUT_SECONDS = 60.0
SCHEMES = ("http", "https")
#: The suffixes the downloaded file may be saved under, so `import_file` can tell them apart.
SUFFIXES = (".csv", ".xlsx")
CONTENT_TYPE_SUFFIXES = {
    "text/csv": ".csv",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": ".xlsx",
}
USER_AGENT = "treatment-directory-sync"
_READ_BYTES = 1024 * 1024


class SyncError(Exception):
    """A sync that was refused, failed or imported nothing; the message names the URL (without
    credentials or query string) and what happened."""


@dataclass
class SyncReport:
    """What a sync downloaded, and what importing it did."""

    url: str  #: the URL as `shown_url` gives it
    downloaded_bytes: int
    report: ImportReport


def sync(
    session: Session,
    url: str,
    file_format: str,
    *,
    max_bytes: int,
    skip_invalid: bool = False,
    dry_run: bool = False,
    covers: frozenset[str] = frozenset(),
    timeout: float = TIMEOUT_SECONDS,
) -> SyncReport:
    """Download `url` (at most `max_bytes`) and import it as `file_format` (see `FORMATS`), all or
    nothing like `import_file`; the file is complete for the states it `covers`."""
    if file_format not in FORMATS:
        raise SyncError(f"{file_format!r} is not an import format: use one of {', '.join(FORMATS)}")
    check_url(url)
    shown = shown_url(url)
    with tempfile.TemporaryDirectory(prefix="directory-sync-") as folder:
        path, size = download(url, Path(folder), max_bytes=max_bytes, timeout=timeout)
        # A locator download names its day; one whose name does not was made today.
        dated = file_format == findtreatment_export.FORMAT and findtreatment_export.download_date(path) is None
        report = import_file(
            session,
            path,
            file_format,
            skip_invalid=skip_invalid,
            dry_run=dry_run,
            covers=covers,
            source_date=utcnow().date() if dated else None,
        )
    # Issues name the URL, not the temporary file that is gone.
    report.issues = [replace(issue, path=shown) for issue in report.issues]
    return SyncReport(shown, size, report)


def shown_url(url: str) -> str:
    """The URL to show in messages and logs: without user name, password, query string or fragment."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc.rpartition("@")[2], parts.path, "", ""))


def check_url(url: str) -> None:
    """Raise `SyncError` unless `url` is an http:// or https:// URL with a host."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (raises ValueError for a port that is not a number)
    except ValueError as error:
        raise SyncError(f"the URL is not valid ({error})") from None
    if parts.scheme.lower() not in SCHEMES:
        got = f"not {parts.scheme}:" if parts.scheme else "and this one has no scheme"
        raise SyncError(f"{shown_url(url)}: only http:// and https:// URLs can be synced, {got}")
    if not parts.hostname:
        raise SyncError(f"{shown_url(url)}: the URL has no host name")


def download(url: str, folder: Path, *, max_bytes: int, timeout: float = TIMEOUT_SECONDS) -> tuple[Path, int]:
    """Save `url` into `folder`, under a suffix from its type (`SUFFIXES`); the file and its size in bytes."""
    check_url(url)
    shown = shown_url(url)
    received = _Received()
    try:
        with _OPENER.open(_request(url), timeout=timeout) as response:
            path = folder / (_stem(response) + _suffix(response))
            with open(path, "wb") as file:
                _save(response, file, max_bytes, received)
    except SyncError as error:
        raise SyncError(f"{shown}: {error}; nothing was imported") from None
    except (OSError, ValueError, http.client.HTTPException) as error:
        if isinstance(error, HTTPError):
            error.close()
        raise SyncError(f"{shown}: {_what_failed(error, timeout, received)}; nothing was imported") from None
    return path, received.bytes


def _request(url: str) -> Request:
    """A GET of `url` asking for the file as stored (no compression); a user name and password in
    the URL go in a Basic authorization header."""
    parts = urlsplit(url)
    headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "identity"}
    if parts.username is not None:
        credentials = f"{unquote(parts.username)}:{unquote(parts.password or '')}".encode()
        headers["Authorization"] = "Basic " + base64.b64encode(credentials).decode("ascii")
        url = urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))
    return Request(url, headers=headers)


@dataclass
class _Received:
    """How many bytes of the body have arrived (for the message if the download fails midway)."""

    bytes: int = 0


def _save(response: http.client.HTTPResponse, file: IO[bytes], max_bytes: int, received: _Received) -> None:
    announced = response.headers.get("Content-Length", "").strip()
    expected = int(announced) if announced.isdigit() else None
    if expected is not None and expected > max_bytes:
        raise SyncError(f"the file is {expected:,} bytes, over the limit of {max_bytes:,}")
    while chunk := response.read1(_READ_BYTES):
        received.bytes += len(chunk)
        if received.bytes > max_bytes:
            raise SyncError(f"the file is over the limit of {max_bytes:,} bytes")
        file.write(chunk)
    if expected is not None and received.bytes < expected:
        raise SyncError(
            f"the download was cut short: the connection closed after {received.bytes:,} "
            f"of the {expected:,} bytes announced"
        )


def _what_failed(error: BaseException, timeout: float, received: _Received) -> str:
    """What went wrong, in words, for a network or HTTP error."""
    if isinstance(error, HTTPError):
        return f"the server answered HTTP {error.code} ({error.reason})"
    if isinstance(error, URLError):
        reason = error.reason
        if isinstance(reason, BaseException):
            return _what_failed(reason, timeout, received)
        return str(reason)
    if isinstance(error, socket.gaierror):
        return f"the host name could not be found ({error.strerror})"
    if isinstance(error, ConnectionRefusedError):
        return "the connection was refused (no server listens at that address and port)"
    if isinstance(error, TimeoutError):
        if received.bytes:
            return f"no more data came for {timeout:g} s, after {received.bytes:,} bytes"
        return f"no answer within {timeout:g} s"
    if isinstance(error, ssl.SSLCertVerificationError):
        return f"its TLS certificate could not be verified ({error.verify_message})"
    if isinstance(error, http.client.IncompleteRead):
        return f"the download was cut short: the connection closed mid-chunk after {received.bytes:,} bytes"
    if isinstance(error, http.client.RemoteDisconnected):
        return "the server closed the connection without answering"
    if isinstance(error, http.client.HTTPException | ValueError):
        return f"{type(error).__name__}: {error}"
    if isinstance(error, OSError):
        return f"the connection failed ({error.strerror or error})"
    return str(error)


def _stem(response: http.client.HTTPResponse) -> str:
    """The name the server gives the file (or the URL path's last part), without its suffix, made
    safe for a file name: the locator's names carry the day of the download. "download" if none."""
    for name in (response.headers.get_filename() or "", unquote(urlsplit(response.url or "").path)):
        stem = re.sub(r"[^A-Za-z0-9_-]", "_", PurePosixPath(name).stem)[:100]
        if stem.strip("_"):
            return stem
    return "download"


def _suffix(response: http.client.HTTPResponse) -> str:
    """The file's suffix (one of `SUFFIXES`): from the name the server gives it, else the URL's path
    (after redirects), else its Content-Type; `.csv` if none says."""
    names = [response.headers.get_filename() or "", unquote(urlsplit(response.url or "").path)]
    candidates = [PurePosixPath(name).suffix.lower() for name in names]
    candidates.append(CONTENT_TYPE_SUFFIXES.get(response.headers.get_content_type(), ""))
    return next((s for s in candidates if s in SUFFIXES), ".csv")


class _HttpRedirectsOnly(HTTPRedirectHandler):
    """Follows redirects to http:// and https:// URLs only, and sends the URL's credentials to its
    own host only."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # type: ignore[no-untyped-def]
        target = urlsplit(newurl)
        if target.scheme and target.scheme.lower() not in SCHEMES:
            raise SyncError(f"the server redirected to a {target.scheme}: URL; only http:// and https:// are followed")
        new = super().redirect_request(req, fp, code, msg, headers, newurl)
        if new is not None and new.host != req.host:
            new.remove_header("Authorization")
        return new


_OPENER = build_opener(_HttpRedirectsOnly)
