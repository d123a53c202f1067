"""Importer for FindTreatment.gov locator pulls (service labels, no street address).

Placeholder until the findtreatment importer lands: reports every row as unsupported.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TextIO

from directory.sources.records import ParsedRow


def read_findtreatment(stream: TextIO, path: str) -> Iterator[ParsedRow]:
    raise NotImplementedError
