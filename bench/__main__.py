"""python -m bench [BENCHMARK] [OPTIONS]: the project's benchmarks, one command.

Without a name every benchmark runs in turn with its defaults and writes its results into
docs/benchmarks.md. With a name, that benchmark alone runs with the options that follow
(`python -m bench search --help`).
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

#: benchmark name -> module with main(argv); each accepts --output FILE.
BENCHMARKS: dict[str, str] = {
    "search": "bench.search_command",
    "http": "bench.http_load",
    "routing": "bench.routing",
    "placement": "bench.placement",
    "import": "bench.imports",
}
RESULTS = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"


def main(argv: list[str]) -> None:
    if argv and argv[0] in ("-h", "--help"):
        print(__doc__)
        print("Benchmarks: " + ", ".join(BENCHMARKS))
        return
    if argv and argv[0] in BENCHMARKS:
        importlib.import_module(BENCHMARKS[argv[0]]).main(argv[1:])
        return
    if argv:
        sys.exit(f"python -m bench: unknown benchmark {argv[0]!r}; choose from {', '.join(BENCHMARKS)}")
    for name, module in BENCHMARKS.items():
        print(f"== {name} ==", file=sys.stderr, flush=True)
        importlib.import_module(module).main(["--output", str(RESULTS)])


if __name__ == "__main__":
    main(sys.argv[1:])
