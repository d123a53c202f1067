"""What gunicorn.conf.py makes of a real gunicorn server: it refuses to start without SECRET_KEY,
and its responses do not name the server software."""

from __future__ import annotations

import http.client
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, database_url, make_app
from tests.integration.services import free_port, wait_for


def gunicorn_command(port: int, tmp_path: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "gunicorn",
        "-c",
        "gunicorn.conf.py",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        "1",
        "--worker-tmp-dir",
        str(tmp_path),
        "--graceful-timeout",
        "5",
        "directory:create_app()",
    ]


def server_environment(tmp_path: Path, url: str) -> dict[str, str]:
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "SECRET_KEY": "test",
        "MAIL_OUTBOX": str(tmp_path / "outbox"),
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
        "HOME": str(tmp_path / "home"),
    }
    env.pop("REDIS_URL", None)
    env.pop("XDG_RUNTIME_DIR", None)
    return env


def request(port: int, method: str, path: str) -> http.client.HTTPResponse:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.request(method, path, headers={"Connection": "close"})
    response = connection.getresponse()
    response.read()
    connection.close()
    return response


@pytest.fixture
def gunicorn(tmp_path: Path):
    url = database_url(tmp_path)
    make_app(url)  # migrate
    port = free_port()
    server = subprocess.Popen(
        gunicorn_command(port, tmp_path),
        cwd=ROOT,
        env=server_environment(tmp_path, url),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )

    def answers() -> bool:
        try:
            return request(port, "GET", "/healthz").status == 200
        except OSError:
            return False

    try:
        wait_for(answers, 60, "gunicorn to answer /healthz")
        yield port
    finally:
        server.terminate()
        server.wait(timeout=30)


@pytest.mark.parametrize("secret_key", [None, ""])
def test_gunicorn_refuses_to_start_without_a_secret_key(tmp_path: Path, secret_key: str | None) -> None:
    env = server_environment(tmp_path, f"sqlite:///{tmp_path / 'never.sqlite3'}")
    del env["SECRET_KEY"]
    if secret_key is not None:
        env["SECRET_KEY"] = secret_key
    result = subprocess.run(
        gunicorn_command(free_port(), tmp_path), cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr
    assert "python -c 'import secrets; print(secrets.token_hex(32))'" in result.stderr
    assert "Booting worker" not in result.stderr + result.stdout


def test_responses_do_not_name_the_server_software(gunicorn) -> None:
    port = gunicorn
    for method, path in [("GET", "/healthz"), ("GET", "/"), ("GET", "/no-such-page"), ("HEAD", "/login")]:
        response = request(port, method, path)
        servers = response.headers.get_all("Server") or []
        assert not [s for s in servers if "gunicorn" in s.lower()], f"{method} {path}: Server: {servers}"
        assert servers == ["directory"], f"{method} {path}: {servers}"
