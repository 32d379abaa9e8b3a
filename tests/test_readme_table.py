"""README's "what works where" table is true: every row but the Keras ones is run here (the Keras
rows by ``tests/keras/test_readme_table.py``, on each backend). See ``tests/readme_table.py``."""

import importlib.util

import pytest

from tests.readme_table import CHECKS, KERAS_ROWS, claims, rows

TABLE = rows()


def test_every_row_has_a_check_and_every_check_a_row():
    assert set(TABLE) == set(CHECKS)


@pytest.mark.parametrize("name", [r for r in TABLE if r not in KERAS_ROWS.values()])
def test_the_row_is_what_running_it_shows(name):
    packages, check = CHECKS[name]
    missing = [p for p in packages if importlib.util.find_spec(p) is None]
    if missing:
        pytest.skip(f"{', '.join(missing)} not installed: the README row {name!r} is not checked")
    assert check() == claims(TABLE[name])
