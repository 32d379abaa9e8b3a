"""Cost of ``cyclr_tf.Schedule`` inside ``model.fit``, as a ratio against the same fit with a
constant learning rate, measured alternately in one run (DESIGN.md: no absolute claims).

Cardio-sized problem: 56,000 x 11 random features, binary labels, batch 128 (438 updates per
epoch), MLP 64-32-1 (ReLU, sigmoid), SGD with momentum 0.9. Each round times one fit of
``--epochs`` epochs per variant on an already compiled model, alternating which goes first; the
reported ratio is the median over rounds of (schedule time / constant time). The issue's target
is a ratio <= 1.03. On a busy machine single fits vary by 10-20 %, so the script also measures
the schedule alone inside a compiled loop (microseconds per update, graph and XLA) and relates it
to the time of one update of the constant-LR fit: a noise-free bound on what the schedule costs.
A third variant, ``logged``, is the schedule with ``cyclr_tf.LRLogger()`` in the callbacks (the
LR computed in the train step and returned in every batch's logs): its ratio against the schedule
alone is what the logger costs.

Run: ``python benchmarks/bench_tf_schedule.py [--rounds 41] [--epochs 1] [--jit auto|on|off]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=41)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--jit", choices=["auto", "on", "off"], default="auto",
                        help="model.compile(jit_compile=...): auto (Keras' default), on, off")
    args = parser.parse_args()

    import keras
    import numpy as np

    from cyclr import policy
    from cyclr_tf.callbacks import LRLogger
    from cyclr_tf.schedule import Schedule

    rng = np.random.default_rng(0)
    x = rng.normal(size=(56_000, 11)).astype("float32")
    y = (rng.random(56_000) < 0.5).astype("float32")
    steps = args.epochs * -(-len(x) // 128)
    jit = {"auto": "auto", "on": True, "off": False}[args.jit]
    triangular2 = policy.Triangular2(base_lr=1e-3, max_lr=0.1, step_size=steps // 4)
    variants = {"constant": 0.01, "schedule": Schedule(triangular2),
                "logged": Schedule(triangular2)}
    callbacks = {"constant": [], "schedule": [], "logged": [LRLogger()]}

    def compiled(name, learning_rate):
        keras.utils.set_random_seed(0)
        model = keras.Sequential([keras.Input((11,)), keras.layers.Dense(64, activation="relu"),
                                  keras.layers.Dense(32, activation="relu"),
                                  keras.layers.Dense(1, activation="sigmoid")])
        model.compile(optimizer=keras.optimizers.SGD(learning_rate, momentum=0.9),
                      loss="binary_crossentropy", jit_compile=jit)
        model.fit(x[:1280], y[:1280], batch_size=128, epochs=1, verbose=0,  # trace, compile
                  callbacks=callbacks[name])
        return model

    models = {name: compiled(name, lr) for name, lr in variants.items()}
    times: dict[str, list[float]] = {name: [] for name in models}
    for round_ in range(args.rounds):
        order = list(models) if round_ % 2 == 0 else list(models)[::-1]
        for name in order:
            start = time.perf_counter()
            models[name].fit(x, y, batch_size=128, epochs=args.epochs, verbose=0,
                             callbacks=callbacks[name])
            times[name].append(time.perf_counter() - start)

    import tensorflow as tf

    schedule, step = variants["schedule"], tf.Variable(0, dtype=tf.int64)

    def per_update_cost(jit_compile: bool, n: int = 20_000) -> float:
        """Seconds per evaluation of the schedule on a changing step, in a compiled loop, less
        the same loop with a constant."""
        def loop(body):
            @tf.function(jit_compile=jit_compile)
            def run(count):
                total = tf.constant(0.0)
                for _ in tf.range(count):
                    total += body()
                    step.assign_add(1)
                return total
            run(tf.constant(10))
            start = time.perf_counter()
            run(tf.constant(n))
            return time.perf_counter() - start
        def scheduled():
            return schedule(step)

        def constant():
            return tf.constant(0.01)

        return max(0.0, min((loop(scheduled) - loop(constant)) / n for _ in range(3)))

    update_time = statistics.median(times["constant"]) / steps
    ratios = [s / c for s, c in zip(times["schedule"], times["constant"])]
    print(f"| jit_compile={args.jit} | {args.rounds} rounds x {args.epochs} epochs "
          f"({steps} updates per fit) |")
    print("|---|---|")
    for name, values in times.items():
        print(f"| {name} fit, median | {statistics.median(values):.3f} s |")
    print(f"| ratio schedule / constant, median of rounds | {statistics.median(ratios):.3f} |")
    print(f"| ratio, min / min | {min(times['schedule']) / min(times['constant']):.3f} |")
    logged = [g / s for g, s in zip(times["logged"], times["schedule"])]
    print(f"| ratio logged (LRLogger) / schedule, median of rounds | "
          f"{statistics.median(logged):.3f} |")
    for mode, jit_compile in (("graph", False), ("XLA", True)):
        cost = per_update_cost(jit_compile)
        print(f"| schedule alone, {mode}: per update / one constant-LR fit update | "
              f"{cost * 1e6:.1f} us / {update_time * 1e6:.0f} us = {cost / update_time:.2%} |")


if __name__ == "__main__":
    main()
