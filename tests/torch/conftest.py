import importlib.util

import pytest

if importlib.util.find_spec("torch") is None:
    pytest.skip("PyTorch is not installed (pip install torch==2.13.0)", allow_module_level=True)
