"""The core imports no framework: DESIGN.md's one-way dependencies.

Importing cyclr, its analysis, plotting and CLI modules, and building the CLI parser loads neither
a framework nor the optional extras (matplotlib, pandas, scikit-learn): those load only inside the
function that needs them."""

import subprocess
import sys


def test_importing_cyclr_loads_no_framework():
    code = (
        "import sys, numpy as np, cyclr, cyclr.policy, cyclr.ops, cyclr.cli\n"
        "import cyclr.rangetest, cyclr.plot, cyclr.plot_cli, cyclr.rangetest_cli\n"
        "import cyclr.experiment, cyclr.report\n"
        "from cyclr import policy\n"
        "policy.OneCycle(0.1, 100)(np.arange(100))\n"
        "lrs = np.geomspace(1e-4, 1, 50)\n"
        "cyclr.rangetest.suggest(lrs, 1 - np.tanh(np.log10(lrs / 1e-2)))\n"
        "cyclr.cli.build_parser()\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('tensorflow', 'keras', 'torch', 'jax', 'matplotlib', 'pandas', 'sklearn'))\n"
        "print(bad)\n"
        "sys.exit(1 if bad else 0)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
