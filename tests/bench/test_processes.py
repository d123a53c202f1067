"""The benchmarks' look-up of the programs they run."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from bench.processes import require_program


def test_a_program_beside_the_running_python_is_found_without_path(monkeypatch):
    """A tool installed into the virtual environment (py-spy) is found when its bin folder is not on PATH."""
    monkeypatch.setenv("PATH", "/nonexistent")
    python = Path(sys.executable)
    assert Path(require_program(python.name, "unused")) == python


def test_a_missing_program_says_how_to_install_it(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(SystemExit, match="no-such-program is not installed: install it like this"):
        require_program("no-such-program", "install it like this")
