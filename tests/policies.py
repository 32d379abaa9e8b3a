"""One short policy per type (all visibly changing within ~100 updates), by test id: the
catalogue every array library and every Keras backend is tested with (no framework imported)."""

from cyclr import policy

EVERY_TYPE = {
    "constant": policy.Constant(0.05),
    "linear": policy.Linear(0.0, 0.1, total_steps=60),
    "triangular": policy.Triangular(0.001, 0.1, step_size=10, step_size_down=15),
    "triangular2": policy.Triangular2(0.001, 0.1, step_size=8),
    "exp_range": policy.ExpRange(0.001, 0.1, step_size=10, gamma=0.98),
    "one_cycle": policy.OneCycle(0.1, total_steps=100),
    "one_cycle_3phase": policy.OneCycle(0.1, total_steps=90, pct_start=0.25, anneal="linear",
                                        three_phase=True),
    "cosine_restarts": policy.CosineRestarts(0.1, period=16, min_lr=0.001),
    "cosine_restarts_mult": policy.CosineRestarts(0.1, period=7, period_mult=2, min_lr=0.001),
    "warmup": policy.warmup(policy.OneCycle(0.1, total_steps=80), steps=20),
    "join": policy.Join((policy.Constant(0.01), policy.Triangular(0.01, 0.1, step_size=5),
                         policy.CosineRestarts(0.1, period=10, period_mult=2)), (20, 60)),
    # a cycle reduced twice on plateaus, in phase (cyclr_tf.ReduceLROnPlateau)
    "scaled": policy.Scaled(policy.Triangular(0.01, 0.1, step_size=10), (25, 60), (0.5, 0.2)),
}


def max_error(p, steps, values):
    """Largest ``|values - p(steps)|`` as a fraction of the largest LR on those steps."""
    import numpy as np

    want = p(np.asarray(steps, dtype=np.int64))
    scale = max(float(np.max(np.abs(want))), 1e-300)
    return float(np.max(np.abs(np.asarray(values, dtype=np.float64) - want))) / scale


#: "Within float32 rounding": a few float32 ulps (1.2e-7 relative) of the largest value.
FLOAT32 = 5e-7
