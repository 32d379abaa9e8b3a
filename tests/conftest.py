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
