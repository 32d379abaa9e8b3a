"""The LR range test for a compiled Keras 3 model: one ``train_on_batch`` per LR, everything else
in :class:`cyclr.rangetest.Sweep`; the model and optimizer are restored bit for bit afterwards.

Under a ``tf.distribute`` strategy with several replicas in this process (``MirroredStrategy``)
each global batch is split over the replicas, as ``fit`` does, and every replica's copy of every
variable is restored.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import keras
import numpy as np

from cyclr import validate as check
from cyclr.rangetest import RangeTestResult, Sweep, cycled

__all__ = ["range_test"]


def range_test(model: keras.Model, x: Any, y: Any = None, sweep: Sweep | None = None, *,
               batch_size: int | None = None, seed: int = 0) -> RangeTestResult:
    """Smith's LR range test on a compiled Keras model: ``sweep.num_steps`` calls of
    ``model.train_on_batch`` while the optimizer's LR rises from ``sweep.start_lr`` to
    ``sweep.end_lr``.

    Args:
        model: a compiled ``keras.Model`` whose optimizer's learning rate is a number.
        x: what ``model.fit`` takes as ``x``: arrays (NumPy arrays or tensors with one row per
            sample) in the structure of the model's inputs (one array, a list or tuple, a dict
            by input name, nested), or a source of batches: a ``tf.data.Dataset``, a
            ``keras.utils.PyDataset``, a generator or any other iterable of batches
            (``x``, ``(x, y)`` or ``(x, y, sample_weight)``, as ``fit`` reads them).
        y: with arrays, the targets in the structure of the model's outputs (a list or dict
            for several outputs), with as many rows as ``x``; ``None`` for a model whose loss
            needs none. With a source of batches: ``None`` (the targets are in the batches).
        sweep: the sweep, its smoothing, stopping rule and suggestion method
            (:class:`cyclr.rangetest.Sweep`; default ``Sweep()``: 100 updates from 1e-7 to 10).
        batch_size: rows per update with arrays (default 128); ``None`` with a source of
            batches, whose batches are used as they are.
        seed: the batch order with arrays.

    Returns:
        A :class:`cyclr.rangetest.RangeTestResult`: LRs, raw and smoothed losses, suggestion.

    Raises:
        TypeError / ValueError: an argument of the wrong type or value, named, before anything
            changes: ``x`` of a kind ``fit`` does not take or an empty source, arrays with
            different numbers of rows, ``y`` or ``batch_size`` given with a source of batches,
            a ``tf.distribute`` dataset (``experimental_distribute_dataset``).

    With arrays, batches of ``batch_size`` rows (all of them if fewer) are taken in a fixed
    random order (``seed``), the same rows of every array, wrapping around at the end. A source
    of batches is read in its own order, one batch per update, and read again from the start
    when it runs out: a dataset or another iterable is iterated anew (a ``tf.data.Dataset``
    reshuffles as it would for a new epoch), a ``PyDataset`` is indexed from 0 again after its
    ``on_epoch_end()``, a generator or iterator is replayed from the batches it yielded (kept in
    memory). A ``PyDataset``'s ``workers`` are not used: its batches are read in this process.
    The recorded loss is the one ``train_on_batch`` reports: the batch's loss before the update,
    regularization included. The model must be compiled with an optimizer whose learning rate
    is a number (a ``LearningRateSchedule`` cannot be overridden: compile with a float for the
    test, then with the schedule built from its bounds).

    Afterwards, also when the test diverges or the loss raises, everything is as it was, bit
    for bit: the model's variables (weights, non-trainable state, dropout seeds), the metric
    variables, and the optimizer's variables (slots such as momentum or Adam moments,
    ``iterations``, ``learning_rate``). An optimizer that was not built yet is built first (its
    fresh slots are zeros, as on the first update of ``fit``); an unbuilt model is built by a
    call on the first batch.

    A model built and compiled in ``strategy.scope()`` of a ``tf.distribute.MirroredStrategy``
    (or any strategy whose replicas all run in this process) is tested on its replicas: each
    batch (the global batch: ``batch_size`` rows, or a source's batch) is split into one shard
    per replica, every array alike, in order (``np.array_split``), placed on the replica's
    device, and ``train_on_batch`` runs one
    synchronous update, with gradients summed over the replicas from losses Keras scales by
    ``1 / replicas``. The loss recorded is the mean of the replicas' losses: with equal shards,
    the loss of the global batch, so the curve equals a single-device run on the same batches
    within float32 summation noise (layers that compute batch statistics, such as
    ``BatchNormalization``, see one shard each, as in ``fit``). Every batch must have at least
    as many rows as there are replicas. Every replica's copy of every variable is restored,
    metric variables included. Strategies with replicas in other processes
    (``MultiWorkerMirroredStrategy`` with several workers, ``ParameterServerStrategy``) are
    refused before anything changes: each worker would run its own Python loop, and nothing
    here makes them stop together or raise together. The LRs swept are LRs for the global
    batch: scale them yourself if you train with another global batch size.
    """
    sweep = Sweep() if sweep is None else sweep
    if not isinstance(sweep, Sweep):
        check.fail("sweep", "a cyclr.rangetest.Sweep", sweep, TypeError)
    if not isinstance(model, keras.Model):
        check.fail("model", "a compiled keras.Model", model, TypeError)
    if not model.compiled or model.optimizer is None:
        check.fail("model", "a compiled keras.Model (call model.compile first)", model)
    optimizer = model.optimizer
    if not isinstance(optimizer.learning_rate, keras.Variable):
        check.fail("model", "compiled with an optimizer whose learning_rate is a number, not a "
                   "schedule or a callable (the range test sets the LR itself)",
                   optimizer.learning_rate)
    strategy = _strategy(model)
    replicas = 1 if strategy is None else strategy.num_replicas_in_sync
    if _is_source(x):
        data: _Arrays | _Batches = _Batches(x, y, batch_size)
    else:
        size = 128 if batch_size is None else check.positive_int("batch_size", batch_size)
        data = _Arrays(x, y, size, check.integer("seed", seed, 0, "a non-negative integer"))
        if data.size < replicas:
            check.fail("batch_size", f"at least the number of replicas ({replicas}), with as "
                       "many samples, so that every replica gets a shard", batch_size)

    def train_step(lr: float) -> float:
        xb, yb, wb = next(data)
        optimizer.learning_rate = lr
        if replicas > 1:
            xb, yb, wb = _shards(strategy, (xb, yb, wb))
        return float(model.train_on_batch(xb, yb, sample_weight=wb, return_dict=True)["loss"])

    with _scope(strategy):
        first = data.first()
        if not model.built:
            model(first[0])
        if not optimizer.built:
            optimizer.build(model.trainable_variables)
        if replicas > 1:
            # Keras builds compiled metrics and losses from the first batch it is given, which
            # cannot be a distributed one: build them from a plain batch first (only shapes).
            model._maybe_symbolic_build(data_batch=first)
        state = _parts(strategy, model.variables + optimizer.variables)
        saved = [v.numpy().copy() for v in state]
        metric_state = _parts(strategy, model.metrics_variables)
        saved_metrics = [v.numpy().copy() for v in metric_state]
        try:
            return sweep.run(train_step)
        finally:
            for variable, value in zip(state, saved):
                variable.assign(value)
            model.reset_metrics()  # metrics built during the test start from zero
            for variable, value in zip(metric_state, saved_metrics):
                variable.assign(value)


_ARRAYS = ("arrays with one row per sample (a NumPy array or tensor, or a list, tuple or dict "
           "of them, nested, as model.fit takes), a tf.data.Dataset, a keras.utils.PyDataset, "
           "or a generator or other iterable of batches")


def _is_array(value: Any) -> bool:
    return hasattr(value, "__array__") or (hasattr(value, "shape") and hasattr(value, "dtype"))


def _is_source(x: Any) -> bool:
    """Whether ``x`` is a source of batches rather than arrays (in a structure)."""
    if isinstance(x, keras.utils.PyDataset):
        return True
    if x is None or _is_array(x) or isinstance(x, (str, bytes, list, tuple, Mapping)):
        return False
    return isinstance(x, Iterable)


def _name(name: str, path: tuple) -> str:
    return name + "".join(f"[{p!r}]" for p in path)


def _arrays(name: str, value: Any) -> Any:
    """``value``'s structure with every leaf a NumPy array of one row per sample (``None``
    leaves kept, as ``fit`` allows)."""
    if value is None or isinstance(value, (str, bytes)) or not (
            _is_array(value) or keras.tree.is_nested(value)):
        check.fail(name, _ARRAYS, value, TypeError)
    leaves = []
    for path, leaf in keras.tree.flatten_with_path(value):
        if leaf is None:
            leaves.append(None)
            continue
        where = _name(name, path)
        if not _is_array(leaf):
            raise TypeError(f"Argument `{name}` must be {_ARRAYS}. Received: {where}="
                            f"{check.describe(leaf)}")
        try:
            array = np.asarray(leaf)
        except (TypeError, ValueError):
            array = np.asarray(None)
        if array.ndim == 0 or array.dtype == object:
            raise TypeError(f"Argument `{name}` must be {_ARRAYS}. Received: {where} of "
                            f"shape {getattr(leaf, 'shape', ())} and dtype "
                            f"{getattr(leaf, 'dtype', type(leaf).__name__)}")
        leaves.append(array)
    if all(leaf is None for leaf in leaves):
        check.fail(name, _ARRAYS + " with at least one array", value, TypeError)
    return keras.tree.pack_sequence_as(value, leaves) if keras.tree.is_nested(value) \
        else leaves[0]


def _rows(name: str, structure: Any) -> list[tuple[str, int, tuple]]:
    return [(_name(name, path), len(leaf), leaf.shape)
            for path, leaf in keras.tree.flatten_with_path(structure) if leaf is not None]


class _Arrays:
    """Batches of ``size`` rows of array structures, in a fixed random order, wrapping."""

    def __init__(self, x: Any, y: Any, size: int, seed: int) -> None:
        self.x = _arrays("x", x)
        self.y = None if y is None else _arrays("y", y)
        rows = _rows("x", self.x)
        where, n, shape = rows[0]
        if n == 0:
            check.fail("x", "a non-empty array of samples", x)
        for other, m, other_shape in rows[1:]:
            if m != n:
                raise ValueError(f"Argument `x` must be arrays with the same number of rows "
                                 f"(one per sample). Received: {where} of shape {shape} and "
                                 f"{other} of shape {other_shape}")
        for other, m, other_shape in [] if self.y is None else _rows("y", self.y):
            if m != n:
                raise ValueError(f"Argument `y` must be arrays with as many rows as x ({n}). "
                                 f"Received: {other} of shape {other_shape}")
        self.n, self.size = n, min(size, n)
        self.order = np.random.default_rng(seed).permutation(n)
        self.taken = 0

    def _take(self, rows: Any) -> tuple[Any, Any, None]:
        def take(a: Any) -> Any:
            return None if a is None else a[rows]

        return (keras.tree.map_structure(take, self.x),
                None if self.y is None else keras.tree.map_structure(take, self.y), None)

    def first(self) -> tuple[Any, Any, None]:
        """The first ``size`` rows, to build the model from (the order is not advanced)."""
        return self._take(slice(0, self.size))

    def __next__(self) -> tuple[Any, Any, None]:
        rows = self.order[(self.taken + np.arange(self.size)) % self.n]
        self.taken += self.size
        return self._take(rows)


class _Batches:
    """A source's batches as ``(x, y, sample_weight)``, read again from the start when it
    runs out; the first is read on construction (an empty source raises there)."""

    def __init__(self, source: Any, y: Any, batch_size: Any) -> None:
        kind = _source_kind(source)
        if y is not None:
            check.fail("y", f"None when x is {_a(kind)} (the targets come from its batches, as "
                       "in model.fit)", y)
        if batch_size is not None:
            check.fail("batch_size", f"None when x is {_a(kind)} (its batches are used as they "
                       "are)", batch_size)
        self.source, self.kind = source, kind
        self.stream = self._stream()
        self.ahead = [self._unpack(next(self.stream))]
        for path, leaf in keras.tree.flatten_with_path(self.ahead[0][0]):
            if leaf is not None and not _is_array(leaf):
                raise TypeError(f"Argument `x` must be {_a(kind)} whose batches are arrays or "
                                "tensors (x, (x, y) or (x, y, sample_weight), as model.fit "
                                f"reads them). Received: a first batch with "
                                f"{_name('x', path)}={check.describe(leaf)}")

    def _stream(self) -> Iterator:
        source = self.source
        if isinstance(source, keras.utils.PyDataset):
            n = source.num_batches
            for i in itertools.count():
                if n is not None and i and i % n == 0:
                    source.on_epoch_end()
                if n == 0:
                    break
                yield source[i % n if n else i]
        else:
            yield from cycled(source)
        check.fail("x", f"{_a(self.kind)} that yields at least one batch", source)

    def _unpack(self, batch: Any) -> tuple[Any, Any, Any]:
        return keras.utils.unpack_x_y_sample_weight(batch)

    def first(self) -> tuple[Any, Any, Any]:
        return self.ahead[0]

    def __next__(self) -> tuple[Any, Any, Any]:
        if self.ahead:
            return self.ahead.pop()
        return self._unpack(next(self.stream))


def _a(kind: str) -> str:
    return ("an " if kind[0] in "aeiou" else "a ") + kind


def _source_kind(x: Any) -> str:
    """What ``x`` is, for messages; refuses sources the test cannot read batch by batch."""
    names = {c.__name__ for c in type(x).__mro__}
    if names & {"DistributedDataset", "DistributedDatasetsFromFunction", "DistributedDatasetV1"}:
        check.fail("x", "a tf.data.Dataset that is not distributed yet (the range test splits "
                   "each batch over the replicas itself): pass the dataset you gave to "
                   "experimental_distribute_dataset", x, TypeError)
    if "DatasetV2" in names:
        return "tf.data.Dataset"
    if isinstance(x, keras.utils.PyDataset):
        return "keras.utils.PyDataset"
    if isinstance(x, Iterator):
        return "generator" if hasattr(x, "gi_frame") else "iterator"
    return "iterable of batches"


def _strategy(model: keras.Model) -> Any:
    """The model's ``tf.distribute`` strategy, if it has replicas (``None`` otherwise, and on
    the other Keras backends); refuses strategies with replicas in other processes."""
    if keras.backend.backend() != "tensorflow":
        return None
    import tensorflow as tf

    strategy = model.distribute_strategy
    if isinstance(strategy, tf.distribute.experimental.ParameterServerStrategy) or (
            strategy.num_replicas_in_sync > 1
            and strategy.num_replicas_in_sync > len(strategy.extended.worker_devices)):
        check.fail("model", "built under a strategy whose replicas all run in this process "
                   "(MirroredStrategy, OneDeviceStrategy, TPUStrategy, none): the range test does "
                   "not run across workers. Run it on one worker under a MirroredStrategy of "
                   "its devices", f"{type(strategy).__name__} with "
                   f"{strategy.num_replicas_in_sync} replicas")
    return strategy if strategy.num_replicas_in_sync > 1 else None


def _scope(strategy: Any) -> Any:
    return contextlib.nullcontext() if strategy is None else strategy.scope()


def _shards(strategy: Any, batch: tuple) -> tuple:
    """``(x, y, sample_weight)`` split into one shard per replica, every array alike, in order,
    each on its replica's device (``None`` entries stay ``None``)."""
    import tensorflow as tf

    leaves = keras.tree.flatten(batch)
    arrays = [None if a is None else np.asarray(a) for a in leaves]
    rows = len(next(a for a in arrays if a is not None))
    replicas = strategy.num_replicas_in_sync
    if rows < replicas:
        check.fail("x", f"batches of at least as many rows as replicas ({replicas}), so that "
                   "every replica gets a shard", f"a batch of {rows} rows")
    devices = strategy.extended.worker_devices
    parts = np.array_split(np.arange(rows), replicas)
    present = [i for i, a in enumerate(arrays) if a is not None]

    def shard(context: Any) -> tuple:
        i = context.replica_id_in_sync_group
        with tf.device(devices[i]):
            return tuple(tf.constant(arrays[j][parts[i]]) for j in present)

    distributed = strategy.experimental_distribute_values_from_function(shard)
    out = list(leaves)
    for j, value in zip(present, distributed):
        out[j] = value
    return keras.tree.pack_sequence_as(batch, out)


def _parts(strategy: Any, variables: list) -> list:
    """What to save and assign: the variables, or under a strategy with replicas every
    replica's copy of each (assigning a mirrored variable writes one value to every copy, and
    a metric's on-read copies would get equal shares of their sum)."""
    if strategy is None:
        return list(variables)
    return [part for v in variables for part in strategy.experimental_local_results(v.value)]
