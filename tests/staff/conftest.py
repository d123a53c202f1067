from __future__ import annotations

import pytest
from flask import Flask

from tests.staff.scenario import Scene, Store, build_scene


@pytest.fixture
def store(app: Flask) -> Store:
    return Store(app)


@pytest.fixture
def scene(store: Store) -> Scene:
    return build_scene(store)
