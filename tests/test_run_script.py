"""The README's run command, end to end: scripts/run.sh serves the seeded directory."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_run_script_creates_seeds_and_serves(tmp_path):
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'run.sqlite3'}",
        "PORT": str(port),
        "REDIS_URL": "",
    }
    process = subprocess.Popen(
        ["bash", str(ROOT / "scripts" / "run.sh")],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 240
        body = ""
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise AssertionError(f"run.sh exited with {process.returncode}: {process.stdout.read().decode()}")
            try:
                with urllib.request.urlopen(
                    f"http://127.0.0.1:{port}/api/v1/centers/search?near=10001", timeout=5
                ) as r:
                    body = r.read().decode()
                break
            except OSError:
                time.sleep(1)
        assert '"total"' in body, "the app did not answer in time"
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as r:
            assert r.status == 200
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/vendor/leaflet.js", timeout=5) as r:
            assert r.status == 200  # the maps' npm packages, installed by the run command
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
    output = process.stdout.read().decode()
    assert "Loading the seed directory" in output
    assert "12170 created" in output


def test_without_npm_the_maps_packages_cannot_install_and_the_run_command_says_what_to_do(tmp_path):
    """scripts/frontend.sh (run by scripts/run.sh) on a machine without npm: a clear error, nothing half-installed."""
    (tmp_path / "scripts").mkdir()
    shutil.copy(ROOT / "scripts" / "frontend.sh", tmp_path / "scripts")
    shutil.copy(ROOT / "package-lock.json", tmp_path)
    tools = tmp_path / "bin"
    tools.mkdir()
    for tool in ("dirname", "sha256sum", "cut"):
        (tools / tool).symlink_to(shutil.which(tool))
    result = subprocess.run(
        [shutil.which("bash"), "-c", "source scripts/frontend.sh"],
        cwd=tmp_path,
        env={"PATH": str(tools)},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 1
    assert "error: npm is needed to install the maps' packages" in result.stderr
    assert "Install Node.js 18 or newer with npm" in result.stderr
    assert not (tmp_path / "node_modules").exists()
