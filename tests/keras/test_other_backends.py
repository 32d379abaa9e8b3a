"""This folder's tests on every other installed Keras backend, each in its own process (Keras
picks its backend once per process), all at once; and ``.keras`` files between this backend and
each of them (``test_saving.py``). tox runs the folder per backend too: ``tf``, ``keras-jax``,
``keras-torch``."""

import json

import keras
import pytest

from tests.keras.backends import PACKAGES, installed, is_child, start
from tests.keras.test_saving import BACKEND, SHARED, check, continue_file, save_with_reference

pytestmark = pytest.mark.skipif(is_child(), reason="runs in the process that starts the others")

OTHERS = [b for b in PACKAGES if b != keras.backend.backend()]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """``{backend: (exit status, output)}`` of this folder's tests on each other installed
    backend, started together, with this backend's saved file in a shared folder."""
    folder = tmp_path_factory.mktemp("keras-files")
    save_with_reference(folder)
    processes = {b: start(b, ["-m", "pytest", "tests/keras", "-q", "-p", "no:cacheprovider"],
                          env={SHARED: str(folder)})
                 for b in OTHERS if b in installed()}
    results = {b: process.communicate(timeout=600) for b, process in processes.items()}
    return folder, {b: (processes[b].returncode, out) for b, (out, _) in results.items()}


@pytest.mark.parametrize("backend", OTHERS)
def test_the_adapter_tests_pass_on(backend, runs):
    if backend not in installed():
        pytest.skip(f"the Keras backend {backend} is not installed")
    returncode, output = runs[1][backend]
    assert returncode == 0, f"tests/keras on {backend}:\n{output[-6000:]}"
    assert " passed" in output.splitlines()[-1]


@pytest.mark.parametrize("backend", OTHERS)
def test_keras_file_saved_on_another_backend_continues_here(backend, runs):
    folder, results = runs
    if backend not in results:
        pytest.skip(f"the Keras backend {backend} is not installed")
    reference = json.loads((folder / f"{BACKEND}.json").read_text())
    check(continue_file(folder / f"{backend}.keras"), reference, rtol=1e-4)
