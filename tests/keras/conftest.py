"""The Keras adapter on whichever Keras backend this process has: ``KERAS_BACKEND`` if set, else
TensorFlow, JAX or torch, the first one installed. ``test_other_backends.py`` runs this folder
again in a subprocess on every other installed backend, so one ``pytest`` covers them all; tox
runs it per backend (``tf``, ``keras-jax``, ``keras-torch``)."""

import importlib.util
import os

import pytest

from tests.keras.backends import PACKAGES

if importlib.util.find_spec("keras") is None:
    pytest.skip("Keras is not installed (pip install '.[keras]')", allow_module_level=True)

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
if "KERAS_BACKEND" not in os.environ:
    os.environ["KERAS_BACKEND"] = next(
        (b for b, package in PACKAGES.items() if importlib.util.find_spec(package)), "tensorflow")
_package = PACKAGES.get(os.environ["KERAS_BACKEND"])
if _package is not None and importlib.util.find_spec(_package) is None:
    pytest.skip(f"the Keras backend {os.environ['KERAS_BACKEND']} is not installed",
                allow_module_level=True)
