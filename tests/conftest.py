import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile("default", max_examples=100, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("ci", max_examples=200, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("ci" if os.environ.get("CI") else "default")


@pytest.fixture(scope="session")
def cardio_csv() -> Path:
    """The real cardio data, from CYCLR_CARDIO_CSV (set by .ci/run); skips without it."""
    path = os.environ.get("CYCLR_CARDIO_CSV")
    if not path or not Path(path).is_file():
        pytest.skip(f"real cardio data not available: set CYCLR_CARDIO_CSV (got {path!r})")
    return Path(path)


#: The test folders of one framework, and the marker their tests carry (``pytest -m torch``).
FOLDER_MARKERS = ("tf", "torch", "keras", "arrays")


def pytest_collection_modifyitems(config, items):
    here = Path(__file__).parent
    for item in items:
        if item.path.is_relative_to(here):
            folder = item.path.relative_to(here).parts[0]
            if folder in FOLDER_MARKERS:
                item.add_marker(getattr(pytest.mark, folder))
