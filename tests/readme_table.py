"""README's "what works where" table, read back, and what each row claims, checked by running it.

A row claims, for one place where a policy is used: the dtype the step is computed as (the first
`code` in its cell), the dtype of the values, and the compilers that trace it (every `code` in
the last cell; "XLA" is ``tf.function(jit_compile=True)``). :data:`CHECKS` holds one function
per row that does what the row says and returns what it saw; ``tests/test_readme_table.py``
checks every row but the Keras ones, ``tests/keras/test_readme_table.py`` the row of its Keras
backend. Frameworks are imported inside the checks only.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
START, END = "<!-- what works where: start -->", "<!-- what works where: end -->"
KERAS_ROWS = {"tensorflow": "Keras on TensorFlow", "jax": "Keras on JAX", "torch": "Keras on torch"}


def rows() -> dict[str, dict[str, str]]:
    """``{first cell: {column: cell}}`` of the table between README's markers."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    lines = [line for line in text[text.index(START) + len(START):text.index(END)].splitlines()
             if line.startswith("|")]
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    table = {}
    for line in lines[2:]:
        cells = [c.strip() for c in line.strip("|").split("|")]
        table[cells[0]] = dict(zip(header, cells))
    return table


def first_code(cell: str) -> str:
    found = re.findall(r"`([^`]+)`", cell)
    return found[0] if found else "-"


def compilers(cell: str) -> list[str]:
    names = re.findall(r"`([^`]+)`", cell)
    return names + (["XLA"] if "XLA" in cell else [])


def claims(row: dict[str, str]) -> dict[str, object]:
    return {"step": first_code(row["step computed as"]), "values": first_code(row["values"]),
            "compiled under": compilers(row["compiled under"])}



def _policy():
    from tests.policies import EVERY_TYPE

    return EVERY_TYPE["join"]  # a Join of a constant, a triangle and restarts: every operation


def _name(dtype) -> str:
    return str(dtype).replace("torch.", "")


def python():
    p = _policy()
    value = p(37)
    assert value == p(37)
    return {"step": "int", "values": type(value).__name__, "compiled under": []}


def numpy():
    import numpy as np

    from cyclr import validate

    return {"step": _name(validate.step(np.arange(3, dtype=np.int32)).dtype),
            "values": _name(_policy()(np.arange(3)).dtype), "compiled under": []}


def jax_arrays():
    import jax
    import jax.numpy as jnp

    from cyclr.ops import for_array

    p = _policy()
    steps = jnp.arange(70)
    ops, _ = for_array(steps)
    jitted = jax.jit(p)(steps)
    return {"step": _name(ops.int_dtype), "values": _name(jitted.dtype),
            "compiled under": ["jax.jit"]}


def optax_schedules():
    import jax
    import jax.numpy as jnp
    import optax

    p = _policy()
    seen = {}

    def schedule(count):
        seen["step"] = _name(count.dtype)
        return p(count)

    optimizer = optax.inject_hyperparams(optax.sgd)(learning_rate=schedule)
    params = {"w": jnp.zeros(2)}

    @jax.jit
    def update(state):
        return optimizer.update({"w": jnp.ones(2)}, state, params)

    updates, state = update(optimizer.init(params))
    return {"step": seen["step"], "values": _name(state.hyperparams["learning_rate"].dtype),
            "compiled under": ["jax.jit"]}


def torch_optimizers():
    import torch

    from cyclr_torch import Scheduler

    p = _policy()
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0, momentum=0.9)
    sched = Scheduler(opt, p, momentum=_policy())
    opt.step()
    sched.step()
    lr = opt.param_groups[0]["lr"]
    assert lr == p(1)
    return {"step": type(sched.last_epoch).__name__, "values": type(lr).__name__,
            "compiled under": []}


def torch_tensors():
    import torch

    from cyclr.ops import for_array

    p = _policy()
    steps = torch.arange(70)
    ops, _ = for_array(steps)
    torch._dynamo.reset()
    compiled = torch.compile(p, fullgraph=True, backend="aot_eager")(steps)
    return {"step": _name(ops.int_dtype), "values": _name(compiled.dtype),
            "compiled under": ["torch.compile"]}


def keras_backend():
    """The row of this process's Keras backend."""
    import keras

    from cyclr_tf import LRLogger, ReduceLROnPlateau, Schedule, cycle_momentum
    from cyclr_tf.ops import INT

    p = _policy()
    sched = Schedule(p)
    cycle_momentum(keras.optimizers.SGD(sched, momentum=0.9), _policy())
    LRLogger(), ReduceLROnPlateau()
    backend = keras.backend.backend()
    step = keras.ops.convert_to_tensor(5, dtype="int32")
    value = sched(step)
    if backend == "tensorflow":
        import tensorflow as tf

        tf.function(sched)(step)
        tf.function(sched, jit_compile=True)(step)
        used = ["tf.function", "XLA"]
    elif backend == "jax":
        import jax

        jax.jit(sched)(step)
        used = ["jax.jit"]
    else:
        import torch

        torch._dynamo.reset()
        torch.compile(sched, fullgraph=True, backend="aot_eager")(step)
        used = ["torch.compile"]
    return {"step": INT, "values": keras.backend.standardize_dtype(value.dtype),
            "compiled under": used}


#: README row -> (the packages it needs, its check).
CHECKS = {
    "Python": ((), python),
    "numpy": ((), numpy),
    "JAX": (("jax",), jax_arrays),
    "optax": (("jax", "optax"), optax_schedules),
    "PyTorch optimizers": (("torch",), torch_optimizers),
    "torch tensors": (("torch",), torch_tensors),
    **{row: (("keras",), keras_backend) for row in KERAS_ROWS.values()},
}
