"""README's "what works where" row for this process's Keras backend is true (the other backends'
rows: ``test_other_backends.py`` runs this folder on them)."""

import keras

from tests.readme_table import CHECKS, KERAS_ROWS, claims, rows


def test_the_row_of_this_backend_is_what_running_it_shows():
    name = KERAS_ROWS[keras.backend.backend()]
    _, check = CHECKS[name]
    assert check() == claims(rows()[name])
