import importlib.util

import pytest

# The application's tests need its extras (`data`: pandas, scikit-learn; `plot`: matplotlib).
MISSING = [m for m in ("pandas", "sklearn", "matplotlib") if importlib.util.find_spec(m) is None]
if MISSING:
    pytest.skip(f"the application's extras are not installed: {', '.join(MISSING)}",
                allow_module_level=True)
