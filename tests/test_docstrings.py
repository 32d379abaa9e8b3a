"""Every public function and class of the library and both adapters documents, in its own body,
its arguments, what it returns and what it raises (DESIGN.md: optax-style docstrings)."""

import importlib
import importlib.util
import inspect

import pytest

PUBLIC = {
    "cyclr.rangetest": ["Sweep", "suggest", "smooth_losses", "smooth_lrs"],
    "cyclr.plot": ["figure", "save", "draw_range_test", "draw_schedule", "plot_range_test",
                   "plot_schedule"],
    "cyclr_tf": ["Schedule", "LRLogger", "ReduceLROnPlateau", "cycle_momentum", "range_test"],
    "cyclr_torch": ["Scheduler", "lightning_config", "range_test"],
}
FRAMEWORK = {"cyclr_tf": "keras", "cyclr_torch": "torch"}
CASES = [(module, name) for module, names in PUBLIC.items() for name in names]


@pytest.mark.parametrize("module, name", CASES, ids=[f"{m}.{n}" for m, n in CASES])
def test_public_docstrings_have_args_returns_raises(module, name):
    framework = FRAMEWORK.get(module)
    if framework and importlib.util.find_spec(framework) is None:
        pytest.skip(f"{framework} is not installed")
    obj = getattr(importlib.import_module(module), name)
    doc = inspect.getdoc(obj) or ""
    assert "__doc__" in vars(obj) if isinstance(obj, type) else obj.__doc__
    for section in ("Args:", "Returns:", "Raises:"):
        assert section in doc, (module, name, section)
