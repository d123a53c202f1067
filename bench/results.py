"""Results blocks in docs/benchmarks.md: each benchmark owns the text between its two markers."""

from __future__ import annotations

import os
import platform
from pathlib import Path


def start_marker(name: str) -> str:
    return f"<!-- bench:{name}:start (python -m bench {name} --output replaces everything down to the end marker) -->"


def end_marker(name: str) -> str:
    return f"<!-- bench:{name}:end -->"


def wrap(name: str, body: str) -> str:
    """The block as written into the results file: the body between the benchmark's markers."""
    return "\n".join([start_marker(name), body.strip("\n"), "", end_marker(name), ""])


def write_section(path: Path, name: str, block: str) -> None:
    """Put a block made by `wrap(name, ...)` into `path`, replacing the previous one (the rest is kept)."""
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    start, end = f"<!-- bench:{name}:start", end_marker(name)
    if start in text and end in text:
        head, _, rest = text.partition(start)
        _, _, tail = rest.partition(end)
        text = head + block.rstrip("\n") + tail
    else:
        text = text.rstrip("\n") + "\n\n" + block
    path.write_text(text)


def machine_line() -> str:
    """What the numbers were measured on, as one Markdown list item."""
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return (
        f"- Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores (os.cpu_count); "
        f"{platform.platform()}; Python {platform.python_version()}; load average at start (1, 5, 15 min) {load}"
    )
