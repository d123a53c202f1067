"""A real browser on the app: Debian's chromium, driven headless by Selenium, with axe-core in the page.

One browser and one live server per test module (starting them is the slow part); each test still
gets a fresh database of its own (SQLite, or PostgreSQL with TEST_DATABASE_URL), served by swapping
the app the live server hands requests to. Every page a test looks at is checked with axe-core and
saved as a PNG under artifacts/browser/.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from selenium.webdriver import Chrome, ChromeOptions
from selenium.webdriver.chrome.service import Service
from werkzeug.serving import make_server

from directory.extensions import db
from tests.browser.browser import CHROMEDRIVER, CHROMIUM, VIEWPORTS, Browser, missing_tools
from tests.conftest import ROOT, database_url, make_app, skip_missing_service

ARTIFACTS = ROOT / "artifacts" / "browser"


class AppSwitch:
    """The live server's WSGI app: hands each request to the current test's app."""

    def __init__(self) -> None:
        self.app: Flask | None = None

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if self.app is None:
            start_response("503 Service Unavailable", [("Content-Type", "text/plain")])
            return [b"No test is running."]
        return self.app(environ, start_response)


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    """artifacts/browser/, emptied once per run so it holds only this run's screenshots."""
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    ARTIFACTS.mkdir(parents=True)
    return ARTIFACTS


@pytest.fixture(scope="module")
def live_server() -> Iterator[tuple[str, AppSwitch]]:
    """An HTTP server on 127.0.0.1 (a free port) in a background thread."""
    switch = AppSwitch()
    server = make_server("127.0.0.1", 0, switch, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", switch
    server.shutdown()
    thread.join(timeout=10)
    server.server_close()


@pytest.fixture(scope="module")
def driver() -> Iterator[Chrome]:
    """One headless chromium for the whole module, with a fresh profile."""
    missing = missing_tools()
    if missing:
        skip_missing_service(missing)
    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    options = ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-extensions",
        "--no-first-run",
        "--no-default-browser-check",
        "--lang=en-US",
        f"--user-data-dir={profile}",
        "--window-size=1280,900",
    ):
        options.add_argument(flag)
    # The console's messages, for tests that read them (a Content-Security-Policy violation is one).
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    # Both paths given: Selenium Manager looks nothing up and downloads nothing.
    chrome = Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    chrome.set_page_load_timeout(30)
    chrome.set_script_timeout(30)
    yield chrome
    chrome.quit()
    shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def site(live_server: tuple[str, AppSwitch], tmp_path: Path) -> Iterator[Flask]:
    """The test's app, on a fresh database, served by the live server (with CSRF protection on)."""
    _, switch = live_server
    app = make_app(database_url(tmp_path), WTF_CSRF_ENABLED=True, MAIL_OUTBOX=str(tmp_path / "outbox"))
    switch.app = app
    yield app
    switch.app = None
    with app.app_context():
        db.engine.dispose()


@pytest.fixture(params=list(VIEWPORTS))
def browser(
    request: pytest.FixtureRequest, driver: Chrome, live_server: tuple[str, AppSwitch], site: Flask, artifacts_dir: Path
) -> Browser:
    """The module's browser at one viewport (desktop or phone), signed out, for this test."""
    base_url, _ = live_server
    return Browser(driver, base_url, request.param, artifacts_dir, request.node.originalname)
