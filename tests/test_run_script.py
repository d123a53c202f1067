"""The README's run command, end to end: scripts/run.sh serves the seeded directory."""

from __future__ import annotations

import os
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
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
    output = process.stdout.read().decode()
    assert "Loading the seed directory" in output
    assert "12170 created" in output
