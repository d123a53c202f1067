"""`centers sync URL --format FORMAT`: download and import in one step, from a local HTTP server
serving SAMHSA's real N-SSATS directory (whole, or its first rows)."""

from __future__ import annotations

import base64
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from directory.extensions import db
from directory.models import Center
from directory.models.base import utcnow
from directory.sources.download import SyncError, download, shown_url, sync
from tests.conftest import NSSATS_FILE, SHARED_DATA
from tests.integration.services import free_port
from tests.sources.file_server import Answer, FileServer
from tests.sources.helpers import count_centers

#: The real file's first 300 lines (its header and 299 rows), for the tests that need not load it all.
HEAD = b"".join(NSSATS_FILE.read_bytes().splitlines(keepends=True)[:300])
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@pytest.fixture
def server() -> Iterator[FileServer]:
    with FileServer() as server:
        server.answers["/head.csv"] = Answer(HEAD)
        yield server


@pytest.fixture
def temp_folder(tmp_path, monkeypatch) -> Path:
    """Where the sync's temporary files go during the test (to check none is left behind)."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def run_sync(runner, url: str, *options: str, file_format: str = "nssats"):
    return runner.invoke(args=["centers", "sync", url, "--format", file_format, *options])


def snapshot(app) -> list[tuple]:
    """Every center's external id, name and last change, committed."""

    with app.app_context(), db.engine.connect() as connection:
        return connection.execute(select(Center.external_id, Center.name, Center.updated_at).order_by(Center.id)).all()


def test_the_real_directory_syncs_and_syncing_it_again_changes_nothing(app, runner, server, temp_folder):
    server.answers["/directory.csv"] = Answer(NSSATS_FILE.read_bytes())
    url = server.url("/directory.csv")
    first = run_sync(runner, url)
    assert first.exit_code == 0, first.output
    assert f"Downloaded {NSSATS_FILE.stat().st_size:,} bytes from {url}." in first.output
    assert "Imported: 11689 created, 0 updated, 0 unchanged" in first.output
    assert count_centers(app) == 11689
    before = snapshot(app)
    second = run_sync(runner, url)
    assert second.exit_code == 0, second.output
    assert "Imported: 0 created, 0 updated, 11689 unchanged" in second.output
    assert snapshot(app) == before
    assert list(temp_folder.iterdir()) == []


MA_EXPORT = SHARED_DATA / "findtreatment-2025-ma" / "facility-detail.csv"


@pytest.mark.parametrize(
    ("path", "listed"),
    [
        ("/FindTreament_Facility_listing_2025_08_19_150020.csv", "2025-08-19"),  # the locator's own name
        ("/national/facility-detail.csv", None),  # no day in the name: the day it was downloaded
    ],
)
def test_the_locators_download_syncs_with_its_day_and_covers_its_state(app, runner, server, path, listed):
    server.answers[path] = Answer(MA_EXPORT.read_bytes())
    result = run_sync(runner, server.url(path), "--covers", "MA", file_format="findtreatment-export")
    assert result.exit_code == 0, result.output
    assert "Imported: 411 created" in result.output and "41 left out as a mental-health facility" in result.output
    with app.app_context():
        days = {str(day) for day in db.session.scalars(select(Center.source_date))}
    assert days == {listed or utcnow().date().isoformat()}
    again = run_sync(runner, server.url(path), "--covers", "MA", file_format="findtreatment-export")
    assert "0 created, 0 updated, 411 unchanged" in again.output


def test_covers_takes_state_codes_only(app, runner, server):
    server.answers["/directory.csv"] = Answer(NSSATS_FILE.read_bytes())
    result = runner.invoke(
        args=["centers", "sync", server.url("/directory.csv"), "--format", "nssats", "--covers", "Massachusetts"]
    )
    assert result.exit_code != 0
    assert "--covers takes state codes separated by commas (e.g. MA or MA,RI) or US for every state" in result.output
    assert count_centers(app) == 0


def test_a_download_cut_short_at_a_line_end_imports_nothing(app, runner, server, temp_folder):
    # Cut where a line ends: the rows received would parse, so only the byte count tells.
    cut = HEAD.index(b"\n", len(HEAD) // 2) + 1
    server.answers["/cut.csv"] = Answer(HEAD, cut_after=cut)
    result = run_sync(runner, server.url("/cut.csv"))
    assert result.exit_code == 1
    assert (
        f"Error: {server.url('/cut.csv')}: the download was cut short: the connection closed after "
        f"{cut:,} of the {len(HEAD):,} bytes announced; nothing was imported"
    ) in result.output
    assert count_centers(app) == 0
    assert list(temp_folder.iterdir()) == []


def test_a_chunked_download_cut_short_imports_nothing(app, runner, server, temp_folder):
    server.answers["/cut.csv"] = Answer(HEAD, chunked=True, cut_after=8192)
    result = run_sync(runner, server.url("/cut.csv"))
    assert result.exit_code == 1
    assert "the download was cut short: the connection closed mid-chunk after 8,192 bytes" in result.output
    assert count_centers(app) == 0
    assert list(temp_folder.iterdir()) == []


def test_a_chunked_download_arrives_whole(app, runner, server):
    server.answers["/chunked.csv"] = Answer(HEAD, chunked=True)
    result = run_sync(runner, server.url("/chunked.csv"))
    assert result.exit_code == 0, result.output
    assert f"Downloaded {len(HEAD):,} bytes" in result.output
    assert count_centers(app) > 0


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (Answer(b"oops", 500, {"Content-Type": "text/plain"}), "the server answered HTTP 500 (Internal Server Error)"),
        (Answer(b"gone", 404, {"Content-Type": "text/plain"}), "the server answered HTTP 404 (Not Found)"),
        (Answer(b"", 503, {"Retry-After": "60"}), "the server answered HTTP 503 (Service Unavailable)"),
    ],
)
def test_an_error_status_changes_nothing(app, runner, server, temp_folder, answer, message):
    assert run_sync(runner, server.url("/head.csv")).exit_code == 0
    before = snapshot(app)
    assert before
    server.answers["/head.csv"] = answer
    result = run_sync(runner, server.url("/head.csv"))
    assert result.exit_code == 1
    assert f"Error: {server.url('/head.csv')}: {message}; nothing was imported\n" in result.output
    assert snapshot(app) == before
    assert list(temp_folder.iterdir()) == []


def test_a_refused_connection_is_reported(app, runner):
    url = f"http://127.0.0.1:{free_port()}/directory.csv"
    result = run_sync(runner, url)
    assert result.exit_code == 1
    assert f"{url}: the connection was refused" in result.output
    assert count_centers(app) == 0


def test_a_host_that_does_not_exist_is_reported(app, runner):
    result = run_sync(runner, "https://no-such-host.invalid/directory.csv")
    assert result.exit_code == 1
    assert "https://no-such-host.invalid/directory.csv: the host name could not be found" in result.output


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("file:///etc/passwd", "file:///etc/passwd: only http:// and https:// URLs can be synced, not file:"),
        ("ftp://example.org/d.csv", "ftp://example.org/d.csv: only http:// and https:// URLs can be synced, not ftp:"),
        ("example.org/d.csv", "example.org/d.csv: only http:// and https:// URLs can be synced, and this one has no"),
        ("https:///d.csv", "https:///d.csv: the URL has no host name"),
        ("http://127.0.0.1:port/d.csv", "the URL is not valid (Port could not be cast to integer value"),
        ("http://[::1/d.csv", "the URL is not valid (Invalid IPv6 URL)"),
    ],
)
def test_a_url_that_is_not_http_is_refused(app, runner, url, message):
    result = run_sync(runner, url)
    assert result.exit_code == 1
    assert f"Error: {message}" in result.output
    assert count_centers(app) == 0


def test_a_file_over_the_size_limit_is_refused_before_downloading(app, runner, server):
    app.config["DIRECTORY_SYNC_MAX_BYTES"] = 10_000
    result = run_sync(runner, server.url("/head.csv"))
    assert result.exit_code == 1
    assert f"the file is {len(HEAD):,} bytes, over the limit of 10,000; nothing was imported" in result.output
    assert count_centers(app) == 0


def test_a_file_of_unannounced_length_is_refused_once_over_the_size_limit(app, runner, server, temp_folder):
    app.config["DIRECTORY_SYNC_MAX_BYTES"] = 10_000
    server.answers["/chunked.csv"] = Answer(HEAD, chunked=True)
    result = run_sync(runner, server.url("/chunked.csv"))
    assert result.exit_code == 1
    assert "the file is over the limit of 10,000 bytes; nothing was imported" in result.output
    assert count_centers(app) == 0
    assert list(temp_folder.iterdir()) == []


def test_a_file_not_of_the_format_names_the_url_in_its_issues(app, runner, server, temp_folder):
    page = b"<html><body>Maintenance</body></html>\n"
    server.answers["/page.csv"] = Answer(page, headers={"Content-Type": "text/html"})
    url = server.url("/page.csv")
    result = run_sync(runner, url)
    assert result.exit_code == 1
    assert f"error: {url}:1: column '(header)': missing columns Name1, Name2" in result.output
    assert "Nothing imported" in result.output
    assert str(temp_folder) not in result.output
    assert count_centers(app) == 0


def test_dry_run_downloads_and_counts_but_changes_nothing(app, runner, server):
    result = run_sync(runner, server.url("/head.csv"), "--dry-run")
    assert result.exit_code == 0, result.output
    assert "Dry run, nothing changed. Rows would be" in result.output
    assert count_centers(app) == 0


def test_credentials_in_the_url_are_sent_but_never_shown(app, runner, server):
    url = server.url("/head.csv").replace("http://", "http://robot:pa%40ss@") + "?token=SECRET-TOKEN"
    result = run_sync(runner, url)
    assert result.exit_code == 0, result.output
    assert f"from {server.url('/head.csv')}." in result.output
    assert "SECRET" not in result.output and "pa%40ss" not in result.output and "robot" not in result.output
    target, headers = server.requests[-1]
    assert target == "/head.csv?token=SECRET-TOKEN"
    assert headers["Authorization"] == "Basic " + base64.b64encode(b"robot:pa@ss").decode()
    server.answers["/head.csv"] = Answer(b"", 500)
    failed = run_sync(runner, url)
    assert failed.exit_code == 1
    assert "SECRET" not in failed.output and "pa%40ss" not in failed.output


def test_redirects_are_followed_to_http_only_and_credentials_stay_with_their_host(app, runner, server):
    server.answers["/latest.csv"] = Answer(status=302, headers={"Location": server.url("/head.csv", host="localhost")})
    url = server.url("/latest.csv").replace("http://", "http://robot:secret@")
    result = run_sync(runner, url)
    assert result.exit_code == 0, result.output
    (first, first_headers), (second, second_headers) = server.requests
    assert (first, second) == ("/latest.csv", "/head.csv")
    assert "Authorization" in first_headers and "Authorization" not in second_headers
    server.answers["/latest.csv"] = Answer(status=302, headers={"Location": "ftp://example.org/d.csv"})
    refused = run_sync(runner, url)
    assert refused.exit_code == 1
    assert "the server redirected to a ftp: URL; only http:// and https:// are followed" in refused.output


def test_a_server_that_does_not_answer_times_out(app, session, server, temp_folder):
    server.answers["/slow.csv"] = Answer(HEAD, wait=30)
    with pytest.raises(SyncError, match=r"/slow\.csv: no answer within 0\.3 s; nothing was imported"):
        sync(session, server.url("/slow.csv"), "nssats", max_bytes=10**6, timeout=0.3)
    assert count_centers(app) == 0
    assert list(temp_folder.iterdir()) == []


def test_an_unknown_format_is_refused_before_downloading(session, server):
    with pytest.raises(SyncError, match="'spreadsheet' is not an import format: use one of centers, nssats"):
        sync(session, server.url("/head.csv"), "spreadsheet", max_bytes=10**6)
    assert server.requests == []


@pytest.mark.parametrize(
    ("path", "headers", "suffix"),
    [
        ("/directory.csv", {"Content-Type": "text/csv"}, ".csv"),
        ("/facilities.xlsx", {"Content-Type": "application/octet-stream"}, ".xlsx"),
        ("/download", {"Content-Type": XLSX_TYPE}, ".xlsx"),
        ("/download", {"Content-Disposition": 'attachment; filename="National.XLSX"'}, ".xlsx"),
        ("/export.xlsx", {"Content-Disposition": "attachment; filename=national.csv"}, ".csv"),
        ("/download.php", {"Content-Type": "text/html"}, ".csv"),
    ],
)
def test_the_downloaded_file_keeps_its_type_in_its_suffix(server, tmp_path, path, headers, suffix):
    server.answers[path] = Answer(b"Name1\n", headers=headers)
    saved, size = download(server.url(path) + "?format=1", tmp_path, max_bytes=100)
    assert (saved.suffix, saved.read_bytes(), size) == (suffix, b"Name1\n", 6)


def test_the_shown_url_leaves_out_credentials_query_and_fragment():
    assert shown_url("https://u:p@data.example.org:8443/a/b.csv?key=1#x") == "https://data.example.org:8443/a/b.csv"
