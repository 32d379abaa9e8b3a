"""The two trainers behind the Trainer protocol: the same model, the same signature, the LR each
update used read from the optimizer, determinism, and the range test on the real data."""

import math

import numpy as np
import pytest

from cyclr import policy as P
from cyclr_cardio import data as D
from cyclr_cardio import trainer as T
from cyclr_cardio.experiment import RANGE_TEST

FRAMEWORK = {"tf": "keras", "torch": "torch"}


@pytest.fixture(params=sorted(T.BACKENDS))
def trainer(request):
    pytest.importorskip(FRAMEWORK[request.param])
    return T.load(request.param, device="cpu")


def test_both_backends_build_the_same_model():
    torch = pytest.importorskip("torch")
    pytest.importorskip("keras")
    from cyclr_cardio.tf_trainer import build_model as keras_model
    from cyclr_cardio.torch_trainer import build_model as torch_model

    k = [v.numpy() for v in keras_model(11, seed=0).weights]
    t = [p.detach().numpy() for p in torch_model(11, seed=0).parameters()]
    # Keras kernels are (in, out), torch weights (out, in); biases are zero on both
    assert [w.shape for w in k[0::2]] == [w.T.shape for w in t[0::2]] == [(11, 64), (64, 32),
                                                                         (32, 1)]
    for kernel, weight, kb, tb in zip(k[0::2], t[0::2], k[1::2], t[1::2]):
        limit = (6 / sum(kernel.shape)) ** 0.5  # Glorot uniform
        for w in (kernel, weight):
            assert np.abs(w).max() <= limit and np.abs(w).max() > 0.8 * limit
            assert abs(w.std() - limit / 3**0.5) < 0.25 * limit  # uniform(-l, l): std l/sqrt(3)
        assert not kb.any() and not tb.any()
    again = [p.detach().numpy() for p in torch_model(11, seed=0).parameters()]
    assert all(np.array_equal(a, b) for a, b in zip(t, again))
    assert isinstance(torch_model(11, seed=0)(torch.zeros(2, 11)), torch.Tensor)


def test_trainer_records_the_lr_each_epoch_ended_with_and_is_deterministic(trainer):
    data = D.prepare(D.synthetic(1200, seed=0), source="synthetic")
    ipe = -(-len(data.y_train) // 100)
    p = P.Triangular2(base_lr=0.01, max_lr=0.5, step_size=ipe)
    seen = []
    a = trainer.train(data, p, epochs=3, batch_size=100, seed=1, on_epoch=seen.append)
    b = trainer.train(data, p, epochs=3, batch_size=100, seed=1)
    assert [e.epoch for e in a.history] == [1, 2, 3] and seen == a.history
    # read from the optimizer (float32 on Keras): the LR of each epoch's last update
    assert [e.lr for e in a.history] == pytest.approx([p(ipe * e - 1) for e in (1, 2, 3)],
                                                      rel=1e-6)
    assert [e.val_accuracy for e in a.history] == [e.val_accuracy for e in b.history]
    assert a.test_accuracy == b.test_accuracy
    assert a.history[-1].train_loss < a.history[0].train_loss
    assert a.device.startswith("cpu") and a.device == trainer.device


def test_load_refuses_what_it_cannot_run():
    with pytest.raises(ValueError, match="Argument `backend` must be one of 'tf', 'torch'"):
        T.load("jax")
    with pytest.raises(ValueError, match="Argument `device`"):
        T.load("torch", device="tpu")
    pytest.importorskip("torch")
    import torch

    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="Argument `device`.*Received: device='cuda'"):
            T.load("torch", device="cuda")


def falling_slope(result, lo, hi):
    """Least-squares slope of the raw recorded loss against log10(lr) over [lo, hi]."""
    inside = (result.lrs >= lo) & (result.lrs <= hi) & np.isfinite(result.losses)
    return np.polyfit(np.log10(result.lrs[inside]), result.losses[inside], 1)[0]


def test_real_cardio_data_gives_bounds_where_the_loss_falls(trainer, cardio_csv):
    data = D.load_dataset(cardio_csv)
    result = trainer.range_test(data, RANGE_TEST, batch_size=350, seed=0)
    s = result.suggestion
    assert s.ok and 1e-4 <= s.base_lr < s.max_lr <= 10.0, s
    assert falling_slope(result, s.base_lr, s.max_lr) < 0
    # the loss at the top of the range is clearly below the plateau at the start
    assert np.mean(result.losses[:20]) - np.interp(
        math.log10(s.max_lr), np.log10(result.smoothed_lrs), result.smoothed) > 0.03
