"""Array namespaces a policy formula runs on, and the :class:`Ops` protocol they satisfy.

Every policy writes its formula once, as ``policy.formula(ops, step)``, against the small set of
operations in :class:`Ops`. ``step`` is a non-negative integer in the namespace's own integer
type; the formula does its integer arithmetic (``//``, ``%``, ``-``, comparisons) on it with
Python operators and converts to float only the small remainder, through ``ops.float``.

Two namespaces live here: :data:`PY` (plain Python numbers, the fast path a torch scheduler takes
once per update) and :data:`NP` (numpy int64 arrays, for previews and plots). :class:`ArrayOps`
makes one over any array library that follows the Python array API standard (``jax.numpy``,
torch through ``array_api_compat``, ...): :func:`for_array` builds it from a step array, and
``Policy.__call__`` uses it, so ``policy(step)`` returns an array of the step's own library, on
its device, traceable under ``jax.jit`` and ``torch.compile``. ``cyclr_tf`` builds its namespace
(``cyclr_tf.ops.KERAS_OPS``) as the same :class:`ArrayOps` over ``keras.ops``. A new namespace is
any object with the attributes of :class:`Ops`.
"""

from __future__ import annotations

import bisect
import builtins
import math
import sys
from types import SimpleNamespace
from typing import Any, Protocol, runtime_checkable

import numpy as np

from cyclr import validate as check


@runtime_checkable
class Ops(Protocol):
    """The operations a policy formula uses, besides Python's integer operators on the step.

    ``k`` is the step (or a quantity computed from it with ``//``, ``%``, ``-``, ``min``) in the
    namespace's integer type; ``x``, ``a`` and ``b`` are its floats (or Python numbers mixed in).
    """

    def float(self, k: Any) -> Any:
        """Integer step(s) -> floating point (float64 in PY and NP, float32 in Keras, the
        library's default float dtype in :class:`ArrayOps`)."""

    def cos(self, x: Any) -> Any:
        """Elementwise cosine."""

    def power(self, base: builtins.float, x: Any) -> Any:
        """``base ** x`` for a constant Python float ``base`` in (0, 2]: underflows to 0, exact
        for ``base == 2`` and whole ``x``."""

    def where(self, c: Any, a: Any, b: Any) -> Any:
        """Elementwise ``a if c else b``."""

    def minimum(self, a: Any, b: Any) -> Any:
        """Elementwise minimum (integers or floats)."""

    def maximum(self, a: Any, b: Any) -> Any:
        """Elementwise maximum (integers or floats)."""

    def count_le(self, table: tuple[int, ...], k: Any) -> Any:
        """How many entries of the sorted constant integer ``table`` are ``<= k``."""

    def take(self, table: tuple[Any, ...], i: Any) -> Any:
        """``table[i]`` for a constant ``table`` (a tuple of numbers) and integer index ``i``."""


#: The attribute names of :class:`Ops`: exactly what a namespace provides.
OPERATIONS = ("float", "cos", "power", "where", "minimum", "maximum", "count_le", "take")


PY: Ops = SimpleNamespace(
    float=float,
    cos=math.cos,
    power=lambda base, x: base**x,
    where=lambda c, a, b: a if c else b,
    minimum=min,
    maximum=max,
    count_le=bisect.bisect_right,
    take=lambda table, i: table[i],
)
"""Plain Python numbers: ``step`` is an ``int``, results are ``float``."""

NP: Ops = SimpleNamespace(
    float=lambda k: np.asarray(k, dtype=np.float64),
    cos=np.cos,
    # numpy's pow is ~10x slower than exp2, which is exact for the whole exponents used with 2
    power=lambda base, x: np.exp2(x) if base == 2.0 else np.power(base, x),
    where=np.where,
    minimum=np.minimum,
    maximum=np.maximum,
    count_le=lambda table, k: np.searchsorted(np.asarray(table), k, side="right"),
    take=lambda table, i: np.asarray(table)[i],
)
"""numpy: ``step`` is an int64 array, results are float64 arrays."""


class ArrayOps:
    """:class:`Ops` over an array library that follows the Python array API standard.

    ``xp`` is the library's array API namespace (``jax.numpy``, ``array_api_compat.torch``, ...;
    ``cyclr_tf.ops`` hands it a small ``keras.ops`` shim). ``step`` is a non-negative array of
    ``int_dtype``, floats are ``float_dtype``, every array made here lives on ``device``.

    Everything is branch-free and stays on the device: integer tables become arrays of
    ``int_dtype`` (entries beyond its largest value, which no step reaches, dropped), ``count_le``
    is a sum of comparisons, a Python integer given to ``minimum`` / ``maximum`` is clipped to
    ``int_dtype``'s range first (exact on integer arrays, whose values are all in that range; so
    ``minimum(step, 2**40)`` works on int32 steps). ``power`` takes the log of its constant base
    in float64 (Python), so ``gamma ** k`` is not ``float32(gamma) ** k``.

    With ``cache_tables``, a table is made once and kept (for eager libraries, where making an
    array from Python values costs a host-to-device copy per call); without it a table is made
    at each call, which a tracer (``jax.jit``, a Keras graph) turns into a constant. With
    ``take_nd``, ``xp.take`` accepts indices of any shape (``keras.ops``, ``jax.numpy``); without
    it, indices are flattened first, as the standard's ``take`` wants them 1-D.
    """

    def __init__(self, xp: Any, int_dtype: Any, float_dtype: Any, device: Any = None, *,
                 cache_tables: bool = False, take_nd: bool = False) -> None:
        self.xp, self.int_dtype, self.float_dtype, self.device = (xp, int_dtype, float_dtype,
                                                                  device)
        self.take_nd = take_nd
        info = xp.iinfo(int_dtype)
        self.int_min, self.int_max = int(info.min), int(info.max)
        self._tables: dict[tuple[bool, tuple], Any] | None = {} if cache_tables else None

    def __repr__(self) -> str:
        return (f"ArrayOps({getattr(self.xp, '__name__', self.xp)!s}, int={self.int_dtype}, "
                f"float={self.float_dtype}, device={self.device})")

    def as_namespace(self) -> Ops:
        """The operations alone, as a namespace like :data:`PY` and :data:`NP`: exactly the
        attributes :data:`OPERATIONS` names."""
        return SimpleNamespace(**{name: getattr(self, name) for name in OPERATIONS})

    def table(self, values: tuple) -> Any:
        """A constant tuple as an array: ``int_dtype`` for integers (entries beyond its largest
        value dropped), ``float_dtype`` otherwise."""
        integers = all(type(v) is int for v in values)
        key = (integers, values)  # (1, 2) == (1.0, 2.0): one an int table, the other a float one
        if self._tables is not None:
            found = self._tables.get(key)
            if found is not None:
                return found
        if integers:
            made = self.xp.asarray([v for v in values if v <= self.int_max],
                                   dtype=self.int_dtype, device=self.device)
        else:
            made = self.xp.asarray(values, dtype=self.float_dtype, device=self.device)
        if self._tables is not None:
            self._tables[key] = made
        return made

    def _bound(self, value: Any) -> Any:
        """A Python int clipped to ``int_dtype``'s range; anything else as it is."""
        if type(value) is int:
            return min(max(value, self.int_min), self.int_max)
        return value

    def float(self, k: Any) -> Any:
        return self.xp.astype(k, self.float_dtype)

    def cos(self, x: Any) -> Any:
        return self.xp.cos(x)

    def power(self, base: builtins.float, x: Any) -> Any:
        if base == 2.0:
            exp2 = getattr(self.xp, "exp2", None)  # not in the standard; exact for whole x
            return exp2(x) if exp2 is not None else 2.0**x
        return self.xp.exp(x * math.log(base))

    def where(self, c: Any, a: Any, b: Any) -> Any:
        return self.xp.where(c, a, b)

    def minimum(self, a: Any, b: Any) -> Any:
        if isinstance(b, (int, builtins.float)):
            return self.xp.clip(a, max=self._bound(b))
        if isinstance(a, (int, builtins.float)):
            return self.xp.clip(b, max=self._bound(a))
        return self.xp.minimum(a, b)

    def maximum(self, a: Any, b: Any) -> Any:
        if isinstance(b, (int, builtins.float)):
            return self.xp.clip(a, min=self._bound(b))
        if isinstance(a, (int, builtins.float)):
            return self.xp.clip(b, min=self._bound(a))
        return self.xp.maximum(a, b)

    def count_le(self, table: tuple[int, ...], k: Any) -> Any:
        hits = self.xp.expand_dims(k, axis=-1) >= self.table(table)
        return self.xp.sum(self.xp.astype(hits, self.int_dtype), axis=-1)

    def take(self, table: tuple[Any, ...], i: Any) -> Any:
        values = self.table(table)
        if self.take_nd or len(i.shape) == 1:
            return self.xp.take(values, i)
        flat = self.xp.take(values, self.xp.reshape(i, (-1,)))  # the standard takes 1-D indices
        return self.xp.reshape(flat, tuple(i.shape))


def is_array(step: Any) -> bool:
    """Whether ``step`` is an array of a library other than numpy that follows the Python array
    API standard (``jax.Array``, ``torch.Tensor``, ... : anything with ``__array_namespace__``,
    or that ``array_api_compat`` recognises). numpy arrays and scalars are not: they take the
    float64 path (:data:`NP`)."""
    if isinstance(step, (np.ndarray, np.generic, int, builtins.float, list, tuple)):
        return False
    if type(step) in _NAMESPACES or hasattr(type(step), "__array_namespace__"):
        return True
    torch = sys.modules.get("torch")  # torch.Tensor has no __array_namespace__; never imported
    if torch is not None and isinstance(step, torch.Tensor):
        return True
    import array_api_compat

    return bool(array_api_compat.is_array_api_obj(step))


#: array type -> (a name for its array API namespace, the namespace, whether tables are worth
#: keeping, whether tables are placed on the step's device, whether its take accepts any index
#: shape): found once per type, so that a call (and a torch.compile trace) does not go through
#: array_api_compat's type tests again
_NAMESPACES: dict[type, tuple[str, Any, bool, bool, bool]] = {}
#: (namespace name, step dtype, default int and float dtypes, device) -> its ArrayOps
_ARRAY_OPS: dict[tuple, ArrayOps] = {}


def _torch_compiling() -> bool:
    """Whether torch.compile is tracing the call (then nothing is stored in the caches above:
    a trace that changes them fails its own guards and compiles a second time)."""
    torch = sys.modules.get("torch")
    compiler = getattr(torch, "compiler", None)
    return bool(getattr(compiler, "is_compiling", lambda: False)())


def _namespace(step: Any, store: bool) -> tuple[str, Any, bool, bool, bool]:
    found = _NAMESPACES.get(type(step))
    if found is None:
        import array_api_compat as compat

        # keep tables for eager libraries, where an array made from Python values is a
        # host-to-device copy (and, on torch, a wait for the device); a JAX tracer must not be
        # kept
        torch = sys.modules.get("torch")
        if torch is not None and isinstance(step, torch.Tensor):
            # directly, without array_api_compat's type tests, which torch.compile warns about
            import array_api_compat.torch as xp

            keep, place, take_nd = True, True, False
        else:
            xp = compat.array_namespace(step)
            keep = compat.is_cupy_namespace(xp)
            # JAX: an array made with device= is committed to it, and a jitted function that
            # receives a value computed from it (optax's state) compiles once more; uncommitted
            # tables follow the step's device
            jax = compat.is_jax_namespace(xp)
            place, take_nd = not jax, jax
        found = (getattr(xp, "__name__", repr(xp)), xp, keep, place, take_nd)
        if store:
            _NAMESPACES[type(step)] = found
    return found


def for_array(step: Any) -> tuple[ArrayOps, Any]:
    """The namespace for an array-API ``step`` (:func:`is_array`) and the step as the integers
    the formula computes with.

    The step is cast to the library's default integer dtype where that is wider (int64 on torch,
    and on JAX with ``jax_enable_x64``; int32 on JAX without it) and negative values are clamped
    to 0: a traced value cannot be checked without a branch. Floats are the library's default
    float dtype (float32 on torch and on JAX without ``jax_enable_x64``). The dtype is checked
    eagerly: only signed integer arrays are steps.

    Raises:
        TypeError: ``step``'s dtype is not a signed integer (a bool, unsigned, float array).
    """
    store = not _torch_compiling()
    name, xp, keep_tables, place, take_nd = _namespace(step, store)
    check.array_step(step, xp)
    device = None
    if place:
        try:
            device = step.device
        except Exception:  # a sharded array has several: let the library place tables
            device = None
    defaults = xp.__array_namespace_info__().default_dtypes(device=device)
    key = (name, step.dtype, defaults["integral"], defaults["real floating"], device)
    ops = _ARRAY_OPS.get(key)
    if ops is None:
        int_dtype = xp.result_type(step.dtype, defaults["integral"])
        ops = ArrayOps(xp, int_dtype, defaults["real floating"], device,
                       cache_tables=keep_tables and store, take_nd=take_nd)
        if store:
            _ARRAY_OPS[key] = ops
    k = step if step.dtype == ops.int_dtype else xp.astype(step, ops.int_dtype)
    return ops, xp.clip(k, min=0)
