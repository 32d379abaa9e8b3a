"""Policies on arrays of other libraries: JAX (jitted), optax, torch tensors (compiled). Each
module skips, saying why, where its library is not installed."""

from pathlib import Path

import pytest


def pytest_collection_modifyitems(config, items):
    here = Path(__file__).parent
    for item in items:
        if item.path.is_relative_to(here):
            item.add_marker(pytest.mark.arrays)
