"""The Keras backends, and running code on one of them in a fresh process (Keras picks its
backend once per process, at import)."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

#: Keras backend -> the package it needs.
PACKAGES = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}

#: Set in the processes test_other_backends.py starts: they do not start more.
CHILD = "CYCLR_KERAS_CHILD"


def installed() -> list[str]:
    """The Keras backends this environment can run (Keras and the backend's package)."""
    if importlib.util.find_spec("keras") is None:
        return []
    return [b for b, package in PACKAGES.items() if importlib.util.find_spec(package)]


def is_child() -> bool:
    return os.environ.get(CHILD) == "1"


def environment(backend: str) -> dict[str, str]:
    """This process's environment with ``KERAS_BACKEND=backend``, the source tree first on the
    path, TensorFlow's start-up lines off."""
    path = os.pathsep.join([str(ROOT / "src"), str(ROOT), os.environ.get("PYTHONPATH", "")])
    return {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3", CHILD: "1",
            "PYTHONPATH": path}


def start(backend: str, args: list[str], env: dict[str, str] | None = None) -> subprocess.Popen:
    """``python args...`` at the repository root on ``backend``, output captured."""
    return subprocess.Popen([sys.executable, *args], cwd=ROOT,
                            env={**environment(backend), **(env or {})},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
