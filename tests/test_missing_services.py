"""A service the suite needs and cannot find (Redis, PostGIS, Chromium, axe-core) skips its tests
with the reason, except under CI (CI=true), where it fails them: CI must run the production path."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.conftest import ROOT

PROBE = """
import pytest
from pathlib import Path
from tests.integration.services import start_redis
try:
    start_redis(Path("."))
except pytest.fail.Exception as outcome:
    print("failed:", outcome.msg)
except pytest.skip.Exception as outcome:
    print("skipped:", outcome.msg)
"""


def without_redis(tmp_path, ci: str | None) -> str:
    """What the Redis tests do where redis-server is not on the PATH, with CI set to `ci`."""
    env = {key: value for key, value in os.environ.items() if key != "CI"}
    env["PATH"] = str(tmp_path)  # nothing there: no redis-server
    if ci is not None:
        env["CI"] = ci
    result = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()[-1]


def test_outside_ci_a_missing_service_skips_its_tests_saying_why(tmp_path):
    assert without_redis(tmp_path, None) == (
        "skipped: redis-server is not installed (scripts/test.sh installs it with apt-get where it can)"
    )


def test_under_ci_a_missing_service_fails_its_tests(tmp_path):
    outcome = without_redis(tmp_path, "true")
    assert outcome.startswith("failed: redis-server is not installed"), outcome
    assert "CI=true: the suite must run against it" in outcome


def test_scripts_test_sh_stops_under_ci_and_warns_elsewhere():
    """scripts/test.sh's `missing`, which every service check calls when it cannot install or start one."""
    function = subprocess.run(
        ["sed", "-n", "/^missing() {/,/^}/p", str(ROOT / "scripts" / "test.sh")], capture_output=True, text=True
    ).stdout
    assert function.startswith("missing() {")

    def run(ci: str) -> subprocess.CompletedProcess:
        script = f'{function}\nci="{ci}"\nmissing "redis-server is missing" "the Redis tests"\necho went on'
        return subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=30)

    under_ci = run("1")
    assert under_ci.returncode == 1 and "went on" not in under_ci.stdout
    assert "error: redis-server is missing; CI=true, so the run stops here" in under_ci.stderr
    elsewhere = run("")
    assert elsewhere.returncode == 0 and "went on" in elsewhere.stdout
    assert "warning: redis-server is missing; the Redis tests will be skipped." in elsewhere.stderr
    assert "DPkg::Lock::Timeout=300" in (ROOT / "scripts" / "test.sh").read_text()
