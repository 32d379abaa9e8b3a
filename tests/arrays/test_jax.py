"""``policy(step)`` on ``jax.numpy`` arrays: a jax array back, float32 (float64 with
``jax_enable_x64``), traceable under ``jax.jit`` with one compilation for every step value and
no transfer to the host."""

import numpy as np
import pytest

jax = pytest.importorskip("jax", reason="JAX is not installed (pip install '.[jax]')")
jnp = jax.numpy

from cyclr import policy  # noqa: E402
from tests.policies import EVERY_TYPE, FLOAT32, max_error  # noqa: E402

STEPS = np.arange(300)


@pytest.mark.parametrize("name", list(EVERY_TYPE))
def test_jitted_and_eager_equal_the_core_within_float32_rounding(name):
    p = EVERY_TYPE[name]
    jitted = jax.jit(p)(jnp.asarray(STEPS))
    eager = p(jnp.asarray(STEPS))
    for out in (jitted, eager):
        assert isinstance(out, jax.Array) and out.dtype == jnp.float32
        assert out.shape == STEPS.shape
        assert max_error(p, STEPS, np.asarray(out)) <= FLOAT32
    scalar = p(jnp.asarray(37))
    assert scalar.shape == () and float(scalar) == pytest.approx(p(37), rel=1e-6)


def test_one_compilation_for_every_step_and_no_transfer_to_the_host():
    p = EVERY_TYPE["join"]
    f = jax.jit(lambda k: p(k))  # a function of its own: jit's cache is per function
    with jax.transfer_guard_device_to_host("disallow"):  # (part of jit's cache key)
        values = [f(jnp.asarray(k)) for k in range(80)]
    assert f._cache_size() == 1
    assert max_error(p, range(80), [float(v) for v in values]) <= FLOAT32


def test_inside_a_jitted_function_with_python_and_traced_steps():
    p = EVERY_TYPE["cosine_restarts_mult"]

    @jax.jit
    def lr_sum(k):
        return p(k) + p(k + 1) + p(jnp.minimum(k, 3))

    assert float(lr_sum(jnp.asarray(5))) == pytest.approx(p(5) + p(6) + p(3), rel=1e-6)
    assert float(lr_sum(5)) == pytest.approx(p(5) + p(6) + p(3), rel=1e-6)  # a weak-typed int


def test_vmap_and_arrays_of_any_shape():
    p = EVERY_TYPE["warmup"]
    grid = jnp.arange(24).reshape(2, 3, 4)
    assert max_error(p, np.arange(24), np.ravel(jax.vmap(p)(grid))) <= FLOAT32


def test_int32_steps_are_exact_up_to_their_end():
    """Without jax_enable_x64 JAX steps are int32: every step up to 2**31 - 1 is exact (the
    cycle is found by integer arithmetic), where a float32 step would be off by whole steps."""
    p = policy.CosineRestarts(0.1, period=1000, period_mult=2, min_lr=1e-3)
    steps = np.array([2**31 - 1, 2**31 - 2, 2**30 + 12345, 2**24 + 1, 2**24 + 3])
    assert max_error(p, steps, np.asarray(jax.jit(p)(jnp.asarray(steps, jnp.int32)))) <= FLOAT32


def test_negative_steps_are_clamped_to_zero():
    p = EVERY_TYPE["linear"]
    assert float(jax.jit(p)(jnp.asarray(-7))) == p(0)


@pytest.mark.parametrize("dtype", [jnp.uint32, jnp.float32, jnp.bool_])
def test_unsigned_float_and_bool_arrays_are_refused_by_dtype(dtype):
    with pytest.raises(TypeError, match=r"Argument `step` must be a non-negative integer, or an "
                                        r"array of a signed integer dtype .*Received: step="):
        EVERY_TYPE["triangular"](jnp.asarray([1, 2], dtype=dtype))


def test_a_policy_whose_integers_exceed_int32_asks_for_x64():
    if jax.config.read("jax_enable_x64"):
        pytest.skip("jax_enable_x64 is set: steps are int64")
    p = policy.OneCycle(0.1, total_steps=10**10)
    with pytest.raises(TypeError, match="64-bit integer dtype .* enable jax_enable_x64"):
        jax.jit(p)(jnp.asarray(5))
    # a restart table is cut at int32's end instead: no step reaches the rest
    q = policy.CosineRestarts(0.1, period=1, period_mult=2)
    assert float(q(jnp.asarray(2**31 - 1))) == pytest.approx(q(2**31 - 1), rel=1e-6)


X64 = """
import json, jax
jax.config.update("jax_enable_x64", True)
import numpy as np, jax.numpy as jnp
from tests.policies import EVERY_TYPE
out = {}
for name, p in EVERY_TYPE.items():
    got = jax.jit(p)(jnp.arange(300))
    out[name] = [str(got.dtype), float(np.max(np.abs(np.asarray(got) - p(np.arange(300)))))]
p = EVERY_TYPE["cosine_restarts_mult"]
out["huge"] = float(abs(p(jnp.asarray(10**15)) - p(10**15)))
print(json.dumps(out))
"""


def test_with_jax_enable_x64_steps_are_int64_and_values_float64():
    import json
    import os
    import subprocess
    import sys

    from tests.keras.backends import ROOT

    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}
    done = subprocess.run([sys.executable, "-c", X64], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out.pop("huge") <= 1e-15
    for name, (dtype, error) in out.items():
        assert dtype == "float64" and error <= 1e-15, name
