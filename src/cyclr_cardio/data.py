"""The cardiovascular-disease data: load, validate, clean, split, scale.

The file is the public Kaggle "Cardiovascular Disease dataset" (70,000 rows, ``;``-separated,
columns ``id;age;gender;height;weight;ap_hi;ap_lo;cholesterol;gluc;smoke;alco;active;cardio``,
age in days, ``cardio`` the 0/1 target). The project never ships it: pass its path, or call
:func:`load_dataset` without one to get :func:`synthetic`, a deterministic generated stand-in
with the same schema.

Cleaning (``clean=True``) drops physically implausible rows, each counted against the first rule
in :data:`CLEANING_RULES` it breaks, so ``rows_in - sum(rule counts) == rows_out``; then converts
age from days to years. Features are standard-scaled. ``clean=False`` is the article's raw setup:
every row kept, age in days, min-max scaling (the impossible blood pressures, up to 16,020 mmHg,
then squash the real ones into a sliver of [0, 1], which is why it tops out near 64-65%).

Splits are stratified on the target and seeded; the scaler is fitted on the training rows only.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from cyclr import validate as check

__all__ = [
    "COLUMNS",
    "FEATURES",
    "TARGET",
    "CLEANING_RULES",
    "Dataset",
    "Rule",
    "clean_frame",
    "load_dataset",
    "prepare",
    "read_csv",
    "synthetic",
]

TARGET = "cardio"
FEATURES = ("age", "gender", "height", "weight", "ap_hi", "ap_lo", "cholesterol", "gluc",
            "smoke", "alco", "active")
#: The file's columns; ``id`` is a row number, not a feature.
COLUMNS = ("id",) + FEATURES + (TARGET,)
DAYS_PER_YEAR = 365.25


@dataclass(frozen=True)
class Rule:
    """A cleaning rule: rows for which ``keep`` is False are dropped and counted under ``name``."""

    name: str
    description: str
    keep: Callable[[pd.DataFrame], pd.Series]


#: Plausibility rules, applied in this order; a row is counted against the first one it breaks.
CLEANING_RULES = (
    Rule("ap_hi_implausible", "systolic pressure ap_hi outside [60, 250] mmHg "
         "(negative values, 0, typos such as 1400 or 16020)",
         lambda d: d["ap_hi"].between(60, 250)),
    Rule("ap_lo_implausible", "diastolic pressure ap_lo outside [40, 160] mmHg "
         "(0, typos such as 1000 or 11000)",
         lambda d: d["ap_lo"].between(40, 160)),
    Rule("ap_lo_not_below_ap_hi", "diastolic pressure not below systolic (ap_lo >= ap_hi: "
         "swapped or mistyped readings)",
         lambda d: d["ap_lo"] < d["ap_hi"]),
    Rule("height_implausible", "height outside [120, 220] cm",
         lambda d: d["height"].between(120, 220)),
    Rule("weight_implausible", "weight outside [30, 200] kg",
         lambda d: d["weight"].between(30, 200)),
    Rule("age_implausible", "age outside [18, 100] years (the cohort is 29-65)",
         lambda d: d["age"].between(18 * DAYS_PER_YEAR, 100 * DAYS_PER_YEAR)),
)


@dataclass(frozen=True, eq=False)
class Dataset:
    """A split, scaled dataset: float32 features, float32 0/1 targets of shape ``(n,)``.

    ``cleaning`` holds ``rows_in``, one count per rule of :data:`CLEANING_RULES` (rows dropped by
    it; absent when ``clean=False``) and ``rows_out``. ``scaling`` is ``"standard"`` or
    ``"minmax"``, fitted on the training rows only.
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    feature_names: tuple[str, ...]
    source: str
    cleaning: dict[str, int] = field(default_factory=dict)
    clean: bool = True
    scaling: str = "standard"
    seed: int = 0

    @property
    def n_features(self) -> int:
        return self.x_train.shape[1]

    def describe(self) -> str:
        """One line: where the data came from and how it was split."""
        return (f"{self.source}: {self.cleaning.get('rows_out', '?')} rows used of "
                f"{self.cleaning.get('rows_in', '?')} ({'cleaned' if self.clean else 'raw'}, "
                f"{self.scaling} scaling), train/val/test = {len(self.y_train)}/"
                f"{len(self.y_val)}/{len(self.y_test)}, split seed {self.seed}")


# ----------------------------------------------------------------------------------- reading


#: The most bytes read from a data file (the real one has 2.9 MB): a larger source, or an
#: endless one such as ``/dev/zero``, is refused rather than read into memory.
MAX_BYTES = 256 * 2**20

#: What a value in the file can be at all, before any plausibility rule: the values each coded
#: column takes, and bounds no record can pass for the measured ones (age in days up to 150
#: years; height, weight; blood pressures wide enough for the raw file's typos such as 16020).
#: A value outside is refused with its line; implausible values inside are cleaned by
#: :data:`CLEANING_RULES`.
CODES = {"gender": (1, 2), "cholesterol": (1, 2, 3), "gluc": (1, 2, 3), "smoke": (0, 1),
         "alco": (0, 1), "active": (0, 1), "cardio": (0, 1)}
LIMITS = {"age": (0, 150 * 365.25), "height": (0, 300), "weight": (0, 1000),
          "ap_hi": (-1e5, 1e5), "ap_lo": (-1e5, 1e5), "id": (-1e15, 1e15)}


def _read_text(path: Path) -> str:
    """The whole file as text, read once (a named pipe works too), at most :data:`MAX_BYTES`;
    a UTF-8 byte-order mark is dropped."""
    if not path.exists():
        raise FileNotFoundError(f"cardio data file not found: {path}")
    if path.is_dir():
        raise IsADirectoryError(f"cardio data path is a directory, not a file: {path}")
    with open(path, "rb") as f:
        data = f.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        raise ValueError(f"{path}: larger than {MAX_BYTES // 2**20} MiB, which no cardio file "
                         "is (the real one has 2.9 MB)")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data[:err.start].count(b"\n") + 1
        raise ValueError(f"{path}, line {line}: not UTF-8 text ({err.reason} at byte "
                         f"{err.start})") from None


def read_csv(path: str | os.PathLike) -> pd.DataFrame:
    """Read and validate the ``;``-separated cardio file; every problem is a one-line error.

    The file is read once (so a named pipe works), as UTF-8 with or without a byte-order mark.

    Raises:
        FileNotFoundError: no such file. IsADirectoryError: a folder.
        ValueError: a file larger than :data:`MAX_BYTES`, not UTF-8, empty, with a wrong
            delimiter or a missing column, a cell that is not a finite number, a coded column
            outside its codes (:data:`CODES`) or a measured one outside :data:`LIMITS` (each with
            its line number in the file). Extra columns are ignored; blank lines are skipped.
    """
    import io

    path = Path(path)
    text = _read_text(path)
    header = text.split("\n", 1)[0]
    if not header.strip():
        raise ValueError(f"{path}: the file is empty (expected a header line "
                         f"{';'.join(COLUMNS)})")
    names = [name.strip() for name in header.strip().split(";")]
    if len(names) == 1:
        found = next((d for d in (",", "\t", "|", " ") if d in header.strip()), None)
        hint = f"found {found!r} instead" if found else "found a single column"
        raise ValueError(f"{path}: expected ';'-separated columns on line 1, {hint}")
    missing = [c for c in COLUMNS if c not in names]
    if missing:
        raise ValueError(f"{path}: missing column(s) {', '.join(missing)} on line 1 "
                         f"(expected {';'.join(COLUMNS)})")
    try:
        raw = pd.read_csv(io.StringIO(text), sep=";", dtype=str, keep_default_na=False,
                          skip_blank_lines=False, skipinitialspace=True)
    except pd.errors.ParserError as err:  # ragged rows
        raise ValueError(f"{path}: {' '.join(str(err).split())}") from None
    raw.columns = [c.strip() for c in raw.columns]
    raw.index = raw.index + 2  # the line number in the file: line 1 is the header
    raw = raw[~(raw == "").all(axis=1)]  # blank lines
    if raw.empty:
        raise ValueError(f"{path}: no data rows after the header")
    frame = pd.DataFrame(index=raw.index)
    for column in COLUMNS:
        values = pd.to_numeric(raw[column].str.strip(), errors="coerce")
        bad = values.isna() | ~np.isfinite(values)
        if bad.any():
            line = int(bad.idxmax())
            raise ValueError(f"{path}, line {line}: column `{column}` is not a number: "
                             f"{raw.at[line, column]!r}")
        if column in CODES:
            bad, allowed = ~values.isin(CODES[column]), f"one of {CODES[column]}"
        else:
            low, high = LIMITS[column]
            bad, allowed = ~values.between(low, high), f"within [{low:g}, {high:g}]"
        if bad.any():
            line = int(bad.idxmax())
            raise ValueError(f"{path}, line {line}: column `{column}` must be {allowed}, got "
                             f"{raw.at[line, column]!r}")
        frame[column] = values
    return frame.reset_index(drop=True)


# ---------------------------------------------------------------------------------- cleaning


def clean_frame(frame: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, int]]:
    """Drop implausible rows (:data:`CLEANING_RULES`) and convert age to years.

    Returns the cleaned frame and the counts: ``rows_in``, one entry per rule (rows dropped by
    that rule and no earlier one), ``rows_out``.
    """
    counts = {"rows_in": len(frame)}
    for rule in CLEANING_RULES:
        keep = rule.keep(frame).to_numpy(dtype=bool)
        counts[rule.name] = int((~keep).sum())
        frame = frame[keep]
    frame = frame.assign(age=frame["age"] / DAYS_PER_YEAR)
    counts["rows_out"] = len(frame)
    return frame, counts


# ---------------------------------------------------------------------------- split + scale


def prepare(frame: pd.DataFrame, *, source: str, clean: bool = True, seed: int = 0,
            val_fraction: float = 0.2, test_fraction: float = 0.2) -> Dataset:
    """Clean (or not), split stratified on the target with ``seed``, scale on train only."""
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import MinMaxScaler, StandardScaler

    for name, value in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
        if not 0 < check.real(name, value, "a number in (0, 1)") < 1:
            check.fail(name, "a number in (0, 1)", value)
    if val_fraction + test_fraction >= 1:
        raise ValueError("Arguments `val_fraction` + `test_fraction` must be below 1. Received: "
                         f"val_fraction={val_fraction!r}, test_fraction={test_fraction!r}")
    if clean:
        frame, counts = clean_frame(frame)
    else:
        counts = {"rows_in": len(frame), "rows_out": len(frame)}
    x = frame[list(FEATURES)].to_numpy(dtype=np.float64)
    y = frame[TARGET].to_numpy(dtype=np.float64)
    smallest = int(min((y == 0).sum(), (y == 1).sum()))
    needed = math.ceil(3 / min(val_fraction, test_fraction, 1 - val_fraction - test_fraction))
    if smallest < needed:
        raise ValueError(f"{source}: too few rows for a stratified train/val/test split: the "
                         f"smaller class has {smallest} rows, need at least {needed}")
    x_rest, x_test, y_rest, y_test = train_test_split(
        x, y, test_size=test_fraction, stratify=y, random_state=seed)
    x_train, x_val, y_train, y_val = train_test_split(
        x_rest, y_rest, test_size=val_fraction / (1 - test_fraction), stratify=y_rest,
        random_state=seed)
    scaler = StandardScaler() if clean else MinMaxScaler()
    scaler.fit(x_train)

    def f32(a):
        return np.ascontiguousarray(a, dtype=np.float32)

    return Dataset(
        x_train=f32(scaler.transform(x_train)), y_train=f32(y_train),
        x_val=f32(scaler.transform(x_val)), y_val=f32(y_val),
        x_test=f32(scaler.transform(x_test)), y_test=f32(y_test),
        feature_names=FEATURES, source=source, cleaning=counts, clean=clean,
        scaling="standard" if clean else "minmax", seed=seed,
    )


def load_dataset(path: str | os.PathLike | None = None, *, clean: bool = True, seed: int = 0,
                 val_fraction: float = 0.2, test_fraction: float = 0.2) -> Dataset:
    """The cardio data from ``path`` (or :func:`synthetic` when None), cleaned, split, scaled.

    >>> data = load_dataset()            # synthetic: runs anywhere, no download
    >>> data.source, data.x_train.dtype
    ('synthetic', dtype('float32'))
    """
    if path is None:
        return prepare(synthetic(), source="synthetic", clean=clean, seed=seed,
                       val_fraction=val_fraction, test_fraction=test_fraction)
    return prepare(read_csv(path), source=str(path), clean=clean, seed=seed,
                   val_fraction=val_fraction, test_fraction=test_fraction)


# --------------------------------------------------------------------------------- synthetic


def synthetic(n: int = 70_000, seed: int = 0) -> pd.DataFrame:
    """A deterministic stand-in for the cardio file: same columns, units and rough marginals.

    Generated from scratch (not a copy or resample of the real file): age 39-65 years (in days),
    65% women, height and weight by sex, blood pressure rising with age and BMI and rounded to
    5-10 mmHg like clinic readings, cholesterol / glucose / lifestyle flags at the real
    frequencies. The target is a noisy logistic function of age, blood pressure, cholesterol,
    glucose, BMI and activity: gradient boosting reaches about 73% test accuracy on it. About 3%
    of rows carry the real file's kinds of errors (swapped or mistyped pressures, impossible
    heights and weights) so that the cleaning rules have something to do.
    """
    n = check.positive_int("n", n)
    rng = np.random.default_rng(seed)
    years = np.clip(rng.normal(53.3, 6.8, n), 39.0, 65.0)
    male = rng.random(n) < 0.35
    height = np.where(male, rng.normal(170.0, 7.0, n), rng.normal(161.5, 6.5, n))
    bmi = np.clip(rng.lognormal(np.log(27.0), 0.17, n), 15.0, 60.0)
    weight = bmi * (height / 100.0) ** 2
    chol = _levels(rng, 0.115 + 0.005 * (years - 53), 0.136)
    gluc = _levels(rng, 0.076 + 0.004 * (bmi - 27), 0.074)
    smoke = rng.random(n) < np.where(male, 0.22, 0.018)
    alco = rng.random(n) < np.where(male, 0.11, 0.025)
    active = rng.random(n) < 0.80
    sys_true = 124.0 + 0.6 * (years - 53) + 1.2 * (bmi - 27) + rng.normal(0.0, 15.0, n)
    dia_true = 0.5 * sys_true + 18.0 + rng.normal(0.0, 7.0, n)
    logit = (0.066 * (sys_true - 128) + 0.084 * (years - 53) + 0.66 * (chol - 1)
             + 0.18 * (gluc - 1) + 0.036 * (bmi - 27) - 0.3 * active - 0.12 * smoke
             - 0.18 * alco + 0.2)
    cardio = rng.random(n) < 1.0 / (1.0 + np.exp(-logit))
    # clinic readings: mostly rounded to 10 mmHg, some to 5
    step = np.where(rng.random(n) < 0.7, 10.0, 5.0)
    ap_hi = (np.round(sys_true / step) * step).astype(np.int64)
    ap_lo = (np.round(dia_true / step) * step).astype(np.int64)
    # the real file's kinds of errors, ~3% of rows in all
    kind = rng.choice(6, size=n, p=[0.97, 0.012, 0.008, 0.006, 0.002, 0.002])
    ap_hi, ap_lo = np.where(kind == 1, ap_lo, ap_hi), np.where(kind == 1, ap_hi, ap_lo)  # swapped
    ap_lo = np.where(kind == 2, ap_lo * 10 + rng.choice([0, 100], n), ap_lo)  # 80 -> 800 / 900
    ap_hi = np.where(kind == 3, rng.choice([-120, -150, 1, 11, 14, 1400, 16020], n), ap_hi)
    height = np.where(kind == 4, rng.integers(55, 110, n), height)
    weight = np.where(kind == 5, rng.integers(10, 29, n), weight)
    return pd.DataFrame({
        "id": np.arange(n, dtype=np.int64),
        "age": np.round(years * DAYS_PER_YEAR).astype(np.int64),
        "gender": np.where(male, 2, 1),
        "height": np.round(height).astype(np.int64),
        "weight": np.round(weight, 1),
        "ap_hi": ap_hi,
        "ap_lo": ap_lo,
        "cholesterol": chol,
        "gluc": gluc,
        "smoke": smoke.astype(np.int64),
        "alco": alco.astype(np.int64),
        "active": active.astype(np.int64),
        "cardio": cardio.astype(np.int64),
    })


def _levels(rng: np.random.Generator, p3: np.ndarray, p2: float) -> np.ndarray:
    """1 / 2 / 3 (normal, above normal, well above normal) with P(3) = p3, P(2) = p2."""
    u = rng.random(len(p3))
    return 1 + (u < p3 + p2).astype(np.int64) + (u < p3).astype(np.int64)
