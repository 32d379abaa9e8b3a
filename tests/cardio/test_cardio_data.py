"""cyclr_cardio.data: reading and validating the cardio file, cleaning, splitting, scaling,
synthetic data."""

import numpy as np
import pandas as pd
import pytest

from cyclr_cardio import data as D

HEADER = "id;age;gender;height;weight;ap_hi;ap_lo;cholesterol;gluc;smoke;alco;active;cardio"
GOOD = [
    "0;18393;2;168;62.0;110;80;1;1;0;0;1;0",
    "1;20228;1;156;85.0;140;90;3;1;0;0;1;1",
    "2;18857;1;165;64.0;130;70;3;1;0;0;0;1",
]


def write(tmp_path, text, name="cardio.csv"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def one_line_error(exc_info) -> str:
    message = str(exc_info.value)
    assert "\n" not in message
    return message


# ------------------------------------------------------------------------------ validation


def test_reads_a_valid_file(tmp_path):
    frame = D.read_csv(write(tmp_path, "\n".join([HEADER, *GOOD]) + "\n"))
    assert list(frame.columns) == list(D.COLUMNS)
    assert len(frame) == 3
    assert frame["weight"].tolist() == [62.0, 85.0, 64.0]
    assert frame["cardio"].tolist() == [0, 1, 1]


def test_missing_file_names_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="not found") as info:
        D.read_csv(tmp_path / "nope.csv")
    assert "nope.csv" in one_line_error(info)


def test_empty_file(tmp_path):
    with pytest.raises(ValueError, match="empty") as info:
        D.read_csv(write(tmp_path, ""))
    one_line_error(info)


def test_header_only(tmp_path):
    with pytest.raises(ValueError, match="no data rows") as info:
        D.read_csv(write(tmp_path, HEADER + "\n"))
    one_line_error(info)


def test_wrong_delimiter(tmp_path):
    text = "\n".join(line.replace(";", ",") for line in [HEADER, *GOOD])
    with pytest.raises(ValueError, match="expected ';'-separated columns on line 1, found ','"):
        D.read_csv(write(tmp_path, text))


def test_missing_column(tmp_path):
    header = HEADER.replace(";ap_lo", "")
    rows = [";".join(r.split(";")[:6] + r.split(";")[7:]) for r in GOOD]
    with pytest.raises(ValueError, match=r"missing column\(s\) ap_lo on line 1") as info:
        D.read_csv(write(tmp_path, "\n".join([header, *rows])))
    one_line_error(info)


def test_non_numeric_cell_gives_its_line_number(tmp_path):
    rows = list(GOOD)
    rows[1] = rows[1].replace("85.0", "eighty")
    with pytest.raises(ValueError, match=r"line 3: column `weight` is not a number: 'eighty'"):
        D.read_csv(write(tmp_path, "\n".join([HEADER, *rows])))


def test_line_numbers_count_blank_lines(tmp_path):
    rows = [GOOD[0], "", GOOD[1], GOOD[2].replace(";130;", ";;")]
    with pytest.raises(ValueError, match=r"line 5: column `ap_hi` is not a number: ''"):
        D.read_csv(write(tmp_path, "\n".join([HEADER, *rows])))


def test_target_must_be_binary(tmp_path):
    rows = [*GOOD, "3;18000;1;160;60.0;120;80;1;1;0;0;1;2"]
    with pytest.raises(ValueError, match=r"line 5: column `cardio` must be one of \(0, 1\)"):
        D.read_csv(write(tmp_path, "\n".join([HEADER, *rows])))


def test_ragged_row_is_one_line(tmp_path):
    rows = [*GOOD, GOOD[0] + ";7;8"]
    with pytest.raises(ValueError, match="cardio.csv") as info:
        D.read_csv(write(tmp_path, "\n".join([HEADER, *rows])))
    one_line_error(info)


def test_extra_columns_are_ignored(tmp_path):
    text = "\n".join([HEADER + ";note", *(r + ";x" for r in GOOD)])
    assert list(D.read_csv(write(tmp_path, text)).columns) == list(D.COLUMNS)


# -------------------------------------------------------------------------------- cleaning


@pytest.mark.parametrize("column, value, message", [
    ("age", "1e308", "column `age` must be within [0, 54787.5], got '1e308'"),
    ("age", "1e23", "column `age` must be within"),
    ("age", "-5", "column `age` must be within"),
    ("cholesterol", "1e300", "column `cholesterol` must be one of (1, 2, 3), got '1e300'"),
    ("gluc", "4", "column `gluc` must be one of (1, 2, 3)"),
    ("gender", "0", "column `gender` must be one of (1, 2)"),
    ("smoke", "2", "column `smoke` must be one of (0, 1)"),
    ("height", "5000", "column `height` must be within [0, 300]"),
    ("weight", "1e9", "column `weight` must be within [0, 1000]"),
    ("ap_hi", "1e300", "column `ap_hi` must be within"),
    ("cardio", "2", "column `cardio` must be one of (0, 1)"),
])
def test_values_no_record_can_have_are_refused_with_line_and_column(tmp_path, column, value,
                                                                     message):
    """Finite but absurd values in any column: refused before they turn a feature into NaN or
    a constant (plausible-looking ones are for the cleaning rules)."""
    fields = GOOD[1].split(";")
    fields[D.COLUMNS.index(column)] = value
    with pytest.raises(ValueError) as err:
        D.read_csv(write(tmp_path, "\n".join([HEADER, GOOD[0], ";".join(fields)])))
    assert "line 3" in one_line_error(err) and message in str(err.value)


def test_a_typo_age_inside_the_limits_is_cleaned_and_counted():
    rows = [[float(v) for v in r.split(";")] for r in ["0;3000;2;168;62.0;110;80;1;1;0;0;1;0",
                                                         *GOOD]]  # the first is 8 years old
    frame = frame_of(rows)
    cleaned, counts = D.clean_frame(frame)
    assert counts["age_implausible"] == 1 and counts["rows_out"] == 3 == len(cleaned)


def test_byte_order_mark_is_accepted(tmp_path):
    path = tmp_path / "bom.csv"
    path.write_bytes(b"\xef\xbb\xbf" + "\n".join([HEADER, *GOOD]).encode())
    assert len(D.read_csv(path)) == 3


def test_non_utf8_file_names_the_file_and_line(tmp_path):
    path = tmp_path / "latin1.csv"
    path.write_bytes("\n".join([HEADER, GOOD[0], GOOD[1] + ";caf\xe9"]).encode("latin-1"))
    with pytest.raises(ValueError) as err:
        D.read_csv(path)
    assert one_line_error(err).startswith(f"{path}, line 3: not UTF-8")


def test_a_named_pipe_is_read_once(tmp_path):
    import os
    import threading

    fifo = tmp_path / "cardio.fifo"
    os.mkfifo(fifo)
    text = "\n".join([HEADER, *GOOD]) + "\n"
    writer = threading.Thread(target=lambda: fifo.write_text(text), daemon=True)
    writer.start()
    assert len(D.read_csv(fifo)) == 3
    writer.join(timeout=10)
    assert not writer.is_alive()


def test_an_endless_source_is_refused_not_read_into_memory():
    with pytest.raises(ValueError) as err:
        D.read_csv("/dev/zero")
    assert "larger than 256 MiB" in one_line_error(err)


def frame_of(rows):
    return pd.DataFrame(rows, columns=list(D.COLUMNS))


def test_each_rule_counts_the_rows_it_drops():
    good = [0, 20000, 1, 165, 70.0, 120, 80, 1, 1, 0, 0, 1, 1]
    rows = [list(good) for _ in range(10)]
    rows[0][5] = 16020  # ap_hi
    rows[1][5] = -150  # ap_hi
    rows[2][6] = 1100  # ap_lo
    rows[3][5], rows[3][6] = 80, 120  # ap_lo above ap_hi (both plausible alone)
    rows[4][3] = 55  # height
    rows[5][4] = 10.0  # weight
    rows[6][5], rows[6][3] = 0, 55  # breaks two rules: counted once, under the first
    rows[7][1] = 3000  # age: 8 years
    cleaned, counts = D.clean_frame(frame_of(rows))
    assert counts == {"rows_in": 10, "ap_hi_implausible": 3, "ap_lo_implausible": 1,
                      "ap_lo_not_below_ap_hi": 1, "height_implausible": 1,
                      "weight_implausible": 1, "age_implausible": 1, "rows_out": 2}
    assert len(cleaned) == 2
    assert list(counts) == ["rows_in", *(r.name for r in D.CLEANING_RULES), "rows_out"]


def test_cleaning_converts_age_to_years():
    frame = frame_of([[0, 18262, 1, 165, 70.0, 120, 80, 1, 1, 0, 0, 1, 1]])
    cleaned, _ = D.clean_frame(frame)
    assert cleaned["age"].iloc[0] == pytest.approx(18262 / 365.25)
    assert frame["age"].iloc[0] == 18262  # the input frame is not modified


# ------------------------------------------------------------------------- split and scale


@pytest.fixture(scope="module")
def small():
    return D.synthetic(4000, seed=1)


def test_split_is_stratified_and_complete(small):
    data = D.prepare(small, source="s", seed=0, val_fraction=0.2, test_fraction=0.25)
    n = data.cleaning["rows_out"]
    assert len(data.y_train) + len(data.y_val) + len(data.y_test) == n
    assert len(data.y_test) == pytest.approx(0.25 * n, abs=1)
    assert len(data.y_val) == pytest.approx(0.2 * n, abs=1)
    overall = np.concatenate([data.y_train, data.y_val, data.y_test]).mean()
    for y in (data.y_train, data.y_val, data.y_test):
        assert set(np.unique(y)) == {0.0, 1.0}
        assert abs(y.mean() - overall) < 0.005
    for a in (data.x_train, data.y_train, data.x_val, data.y_val, data.x_test, data.y_test):
        assert a.dtype == np.float32
    assert data.x_train.shape[1] == len(data.feature_names) == 11


def test_split_seed_decides_the_split(small):
    a, b = D.prepare(small, source="s", seed=0), D.prepare(small, source="s", seed=0)
    c = D.prepare(small, source="s", seed=1)
    np.testing.assert_array_equal(a.x_train, b.x_train)
    np.testing.assert_array_equal(a.y_test, b.y_test)
    assert not np.array_equal(a.y_test, c.y_test)


def test_standard_scaler_is_fitted_on_train_only(small):
    data = D.prepare(small, source="s")
    assert data.scaling == "standard"
    np.testing.assert_allclose(data.x_train.mean(0), 0, atol=1e-5)
    np.testing.assert_allclose(data.x_train.std(0), 1, atol=1e-4)
    # fitted on all rows, train's means would be off zero by ~1/sqrt(n); here val's are
    assert np.abs(data.x_val.mean(0)).max() > 1e-3
    assert np.abs(data.x_test.mean(0)).max() > 1e-3


def test_no_clean_keeps_every_row_and_min_max_scales_on_train(small):
    data = D.prepare(small, source="s", clean=False)
    assert data.cleaning == {"rows_in": 4000, "rows_out": 4000}
    assert data.scaling == "minmax" and not data.clean
    np.testing.assert_allclose(data.x_train.min(0), 0, atol=1e-6)
    np.testing.assert_allclose(data.x_train.max(0), 1, atol=1e-6)
    # the synthetic file's impossible pressures squash the real ones, as in the article
    ap_hi = data.feature_names.index("ap_hi")
    assert np.median(data.x_train[:, ap_hi]) < 0.05


def test_bad_fractions_and_too_few_rows(small):
    with pytest.raises(ValueError, match="`val_fraction` must be a number in"):
        D.prepare(small, source="s", val_fraction=0)
    with pytest.raises(ValueError, match="must be below 1"):
        D.prepare(small, source="s", val_fraction=0.5, test_fraction=0.5)
    with pytest.raises(ValueError, match="too few rows for a stratified"):
        D.prepare(small.head(12), source="s")


# ------------------------------------------------------------------------------- synthetic


def test_synthetic_is_deterministic_and_seeded():
    a, b = D.synthetic(2000, seed=3), D.synthetic(2000, seed=3)
    pd.testing.assert_frame_equal(a, b)
    assert not a.equals(D.synthetic(2000, seed=4))
    assert list(a.columns) == list(D.COLUMNS)


def test_synthetic_round_trips_through_the_file_reader(tmp_path):
    frame = D.synthetic(300, seed=0)
    path = tmp_path / "synthetic.csv"
    frame.to_csv(path, sep=";", index=False)
    back = D.read_csv(path)
    np.testing.assert_allclose(back.to_numpy(float), frame.to_numpy(float))


def test_synthetic_has_the_committed_structure():
    """Marginals, code frequencies, rank correlations and error rates as committed (derived
    from the real file)."""
    from scipy.stats import spearmanr

    frame = D.synthetic(70_000, seed=0)
    cleaned, counts = D.clean_frame(frame)
    for column, levels in D.QUANTILES.items():
        median = float(np.median(cleaned[column]))
        assert abs(median - levels[D.QUANTILE_LEVELS.index(.5)]) <= 2, column
        low, high = np.quantile(cleaned[column], [0.1, 0.9])
        assert abs(low - levels[4]) <= 3 and abs(high - levels[12]) <= 3, column
    for column, shares in D.FREQUENCIES.items():
        first = 1 if column in ("gender", "cholesterol", "gluc") else 0
        for code, share in enumerate(shares, start=first):
            assert abs((frame[column] == code).mean() - share) < 0.01, (column, code)
    measured = list(D.QUANTILES)  # (coded columns' rank correlations are attenuated by ties)
    rho = spearmanr(cleaned[measured]).statistic
    committed = np.array(D.RANK_CORRELATION)[:len(measured), :len(measured)]
    assert np.abs(rho - committed).max() < 0.1
    for rule, rate in D.ERROR_RATES.items():
        assert abs(counts[rule] / len(frame) - rate) < 0.5 * rate + 2e-4, rule
    assert 0.97 < counts["rows_out"] / counts["rows_in"] < 0.99
    assert 0.45 < frame["cardio"].mean() < 0.55


def test_synthetic_is_like_the_real_file(cardio_csv):
    real = D.clean_frame(D.read_csv(cardio_csv))[0]
    fake = D.clean_frame(D.synthetic(70_000, seed=0))[0]
    for column in ("age", "height", "weight", "ap_hi", "ap_lo"):
        assert abs(real[column].mean() - fake[column].mean()) < 0.03 * real[column].mean()
        assert abs(real[column].std() - fake[column].std()) < 0.15 * real[column].std()
    for column in ("cholesterol", "gluc", "smoke", "alco", "active", "gender", "cardio"):
        assert abs(real[column].mean() - fake[column].mean()) < 0.03


def test_synthetic_target_is_learnable_but_noisy():
    from sklearn.linear_model import LogisticRegression

    data = D.prepare(D.synthetic(20_000, seed=0), source="synthetic")
    accuracy = LogisticRegression().fit(data.x_train, data.y_train).score(data.x_test,
                                                                         data.y_test)
    assert 0.68 < accuracy < 0.78


def test_load_dataset_without_a_path_is_synthetic():
    data = D.load_dataset()
    assert data.source == "synthetic"
    assert data.cleaning["rows_in"] == 70_000
    assert "synthetic" in data.describe()


def test_synthetic_rejects_bad_n():
    with pytest.raises(ValueError, match="`n` must be a positive integer"):
        D.synthetic(0)


# ------------------------------------------------------------------------------- real data


def test_real_file_rows_per_rule_add_up(cardio_csv):
    data = D.load_dataset(cardio_csv)
    c = data.cleaning
    assert c["rows_in"] == 70_000
    dropped = [c[r.name] for r in D.CLEANING_RULES]
    # the real file breaks every rule but the age rule, which guards against typos
    assert all(c[r.name] > 0 for r in D.CLEANING_RULES if r.name != "age_implausible")
    assert c["age_implausible"] == 0
    assert c["rows_in"] - sum(dropped) == c["rows_out"]
    assert len(data.y_train) + len(data.y_val) + len(data.y_test) == c["rows_out"]
    assert c["rows_out"] > 0.97 * c["rows_in"]
    assert data.source == str(cardio_csv)


def test_real_file_raw_keeps_all_70000_rows(cardio_csv):
    data = D.load_dataset(cardio_csv, clean=False)
    assert len(data.y_train) + len(data.y_val) + len(data.y_test) == 70_000
    assert abs(data.y_train.mean() - 0.4997) < 0.002
