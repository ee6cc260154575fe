import dataclasses

import matplotlib
import numpy as np
import pandas as pd
import pytest

from metarouter_econml.evaluation import EfficiencyGainCurve, efficiency_gain_curve
from metarouter_econml.evaluation._curves import _n_sent

matplotlib.use("Agg")


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture
def gains(rng):
    """True gains with a positive total and noisy predictions of them."""
    true = rng.normal(0.5, 1.0, size=200)
    predicted = true + rng.normal(0.0, 1.0, size=200)
    return true, predicted


def test_hand_computed_example():
    # Ranking by prediction: t = 3 (0.8), 0 (0.6), 2 (0.4), -1 (-0.2); total = 4, n = 4.
    # k=1: 3 - 1*4/4 = 2;  k=2: 3 - 2 = 1;  k=3: 5 - 3 = 2;  k=4: 4 - 4 = 0; divided by 4.
    curve = efficiency_gain_curve(
        [3.0, -1.0, 2.0, 0.0], [0.8, -0.2, 0.4, 0.6], ratios=[0.0, 0.25, 0.5, 0.75, 1.0]
    )
    np.testing.assert_allclose(curve.gains, [0.0, 0.5, 0.25, 0.5, 0.0], atol=1e-15)
    assert curve.normalizer == 4.0
    assert curve.n_queries == 4
    # Trapezoid: 0.25 * (0.25 + 0.375 + 0.375 + 0.25) = 0.3125 over a width of 1.
    assert curve.auc == pytest.approx(0.3125)
    assert curve.peak == 0.5
    assert curve.peak_ratio == 0.25  # first of the two maxima


def test_hand_computed_example_with_ties_and_non_integer_k():
    # Ranking: t = 4 (0.9), tied group {0, 1, 5} (0.5, mean 2), -2 (0.1); total = 8, n = 5.
    # ratio 0.2 -> k=1: 4 - 1*8/5 = 2.4
    # ratio 0.5 -> k=floor(2.5)=2: 4 + 1*2 - 2*8/5 = 2.8 (baseline uses k/n = 0.4, not 0.5)
    # ratio 0.6 -> k=3: 4 + 2*2 - 4.8 = 3.2
    # ratio 0.8 -> k=4: 4 + 3*2 - 6.4 = 3.6
    curve = efficiency_gain_curve(
        [4.0, 0.0, 1.0, 5.0, -2.0], [0.9, 0.5, 0.5, 0.5, 0.1], ratios=[0.2, 0.5, 0.6, 0.8]
    )
    np.testing.assert_allclose(curve.gains, np.array([2.4, 2.8, 3.2, 3.6]) / 8)


def test_default_ratios_and_normalizer(gains):
    true, predicted = gains
    curve = efficiency_gain_curve(true, predicted)
    np.testing.assert_array_equal(curve.ratios, np.linspace(0.2, 0.8, 61))
    assert curve.normalizer == pytest.approx(true.sum())
    assert curve.n_queries == 200


def test_explicit_normalizer_rescales(gains):
    true, predicted = gains
    default = efficiency_gain_curve(true, predicted)
    scaled = efficiency_gain_curve(true, predicted, normalizer=2.5)
    assert scaled.normalizer == 2.5
    np.testing.assert_allclose(scaled.gains * 2.5, default.gains * default.normalizer)


def test_oracle_positive_and_beats_noisy_router(gains):
    true, predicted = gains
    oracle = efficiency_gain_curve(true, true)
    noisy = efficiency_gain_curve(true, predicted)
    assert np.all(oracle.gains > 0)
    assert np.all(oracle.gains >= noisy.gains - 1e-12)
    assert noisy.auc > 0


def test_reversed_ranking_is_reflected_negative_of_oracle(gains):
    # Without ties, sending the k lowest = total - (n - k highest), so
    # G_rev(k) = -G_oracle(n - k): the curve is negated AND reflected at ratio 1/2
    # (plain G_rev(k) = -G_oracle(k) does not hold in general).
    true, _ = gains
    n = true.size
    ratios = np.arange(n + 1) / n
    oracle = efficiency_gain_curve(true, true, ratios=ratios)
    reverse = efficiency_gain_curve(true, -true, ratios=ratios)
    np.testing.assert_allclose(reverse.gains, -oracle.gains[::-1], atol=1e-12)


def test_random_predictions_average_near_zero(gains):
    true, _ = gains
    curves = [
        efficiency_gain_curve(true, np.random.default_rng(seed).random(true.size)).gains
        for seed in range(300)
    ]
    # One curve's sd is about 0.07 at ratio 0.5, so the mean of 300 has sd about 0.004.
    assert np.max(np.abs(np.mean(curves, axis=0))) < 0.02


def test_permutation_invariance_with_ties(rng):
    true = rng.normal(0.5, 1.0, size=101)
    predicted = rng.integers(0, 5, size=101).astype(float)  # heavy ties
    curve = efficiency_gain_curve(true, predicted)
    for _ in range(5):
        perm = rng.permutation(true.size)
        permuted = efficiency_gain_curve(true[perm], predicted[perm])
        np.testing.assert_array_equal(permuted.gains, curve.gains)


def test_all_equal_predictions_give_exactly_zero(gains):
    true, _ = gains
    curve = efficiency_gain_curve(true, np.full(true.size, 0.3), ratios=np.arange(201) / 200)
    np.testing.assert_array_equal(curve.gains, 0.0)


def test_stop_at_nonpositive_nan_where_smallest_sent_prediction_nonpositive():
    true = np.array([1.0, 2.0, -1.0, 0.5, 3.0, 1.0])
    predicted = np.array([3.0, 2.0, 1.0, 0.0, -1.0, -2.0])
    ratios = np.arange(7) / 6  # k = 0..6; smallest sent prediction = predicted[k - 1]
    full = efficiency_gain_curve(true, predicted, ratios=ratios)
    stopped = efficiency_gain_curve(true, predicted, ratios=ratios, stop_at_nonpositive=True)
    expected_nan = np.array([False, False, False, False, True, True, True])
    np.testing.assert_array_equal(np.isnan(stopped.gains), expected_nan)
    assert stopped.gains[0] == 0.0
    np.testing.assert_array_equal(stopped.gains[:4], full.gains[:4])
    assert not np.isnan(full.gains).any()
    # AUC over the finite prefix, divided by its width 0.5.
    assert stopped.auc == pytest.approx(np.trapezoid(full.gains[:4], ratios[:4]) / 0.5)
    assert stopped.peak == np.max(full.gains[:4])


def test_stop_at_nonpositive_with_tie_at_zero():
    # k=1 sends prediction 1 > 0; k=2 and k=3 reach the tied group at 0.
    stopped = efficiency_gain_curve(
        [2.0, 1.0, 1.0, -1.0],
        [1.0, 0.0, 0.0, -1.0],
        ratios=[0.25, 0.5, 0.75],
        stop_at_nonpositive=True,
    )
    np.testing.assert_array_equal(np.isnan(stopped.gains), [False, True, True])
    assert np.isnan(stopped.auc)  # only one finite point in the prefix


def test_floor_is_robust_to_float_error():
    # 0.29 * 100 = 28.999999999999996: a plain floor would send 28 queries, not 29.
    assert 0.29 * 100 < 29
    n = 100
    predicted = np.arange(n, 0, -1, dtype=float)
    true = np.zeros(n)
    true[28] = 1.0  # the 29th best query; total = 1
    curve = efficiency_gain_curve(true, predicted, ratios=[0.29])
    assert curve.gains[0] == pytest.approx(1.0 - 0.29)  # with k = 28 it would be -0.28
    for n in (7, 100, 333, 500, 1000):
        ratios = np.concatenate([np.linspace(0.2, 0.8, 61), np.arange(0, 1.0001, 0.01)])
        ratios = np.unique(np.clip(ratios, 0, 1))
        np.testing.assert_array_equal(_n_sent(ratios, n), np.floor(np.round(ratios * n, 6)))
    np.testing.assert_array_equal(_n_sent(np.array([0.22]), 500), [110])


def test_auc_equals_mean_of_linear_curve():
    ratios = np.array([0.1, 0.15, 0.4, 0.45, 0.9])  # uneven grid
    curve = EfficiencyGainCurve(
        ratios=ratios, gains=1.0 + 2.0 * ratios, normalizer=1.0, n_queries=10
    )
    assert curve.auc == pytest.approx(1.0 + 2.0 * (0.1 + 0.9) / 2)


def test_auc_single_ratio_and_all_nan():
    assert efficiency_gain_curve([1.0, 2.0], [1.0, 2.0], ratios=[0.5]).auc == pytest.approx(0.5 / 3)
    curve = EfficiencyGainCurve(
        ratios=[0.2, 0.4], gains=[np.nan, np.nan], normalizer=1.0, n_queries=5
    )
    assert np.isnan(curve.auc) and np.isnan(curve.peak) and np.isnan(curve.peak_ratio)


def test_frozen_and_read_only(gains):
    true, predicted = gains
    ratios = np.linspace(0.1, 0.9, 9)
    curve = efficiency_gain_curve(true, predicted, ratios=ratios)
    with pytest.raises(dataclasses.FrozenInstanceError):
        curve.gains = np.zeros(9)
    with pytest.raises(AttributeError):
        curve.auc = 1.0
    with pytest.raises(ValueError, match="read-only"):
        curve.gains[0] = 1.0
    assert not curve.ratios.flags.writeable
    ratios[0] = 0.0  # the curve holds its own copy
    assert curve.ratios[0] == 0.1


def test_summary_to_frame_and_str(gains):
    true, predicted = gains
    curve = efficiency_gain_curve(true, predicted)
    summary = curve.summary()
    assert list(summary.columns) == [
        "auc",
        "peak",
        "peak_ratio",
        "n_queries",
        "normalizer",
        "ratio_min",
        "ratio_max",
    ]
    assert len(summary) == 1
    row = summary.iloc[0]
    assert row["auc"] == curve.auc and row["peak"] == curve.peak
    assert row["n_queries"] == 200 and row["ratio_min"] == 0.2 and row["ratio_max"] == 0.8
    frame = curve.to_frame()
    assert list(frame.columns) == ["ratio", "gain"]
    np.testing.assert_array_equal(frame["gain"], curve.gains)
    frame.loc[0, "gain"] = 99.0  # the frame is a copy
    assert curve.gains[0] != 99.0
    text = str(curve)
    assert text.startswith("EfficiencyGainCurve: n_queries=200")
    assert f"auc={curve.auc:.4g}" in text


def test_plot_returns_axes_with_labels(gains):
    import matplotlib.pyplot as plt

    true, predicted = gains
    curve = efficiency_gain_curve(true, predicted)
    try:
        ax = curve.plot(label="noisy", color="C1")
        assert isinstance(ax, matplotlib.axes.Axes)
        assert ax.get_xlabel() == "share of queries sent to the primary"
        assert ax.get_ylabel() == "efficiency gain (normalised)"
        line, zero = ax.get_lines()
        np.testing.assert_array_equal(line.get_xdata(), curve.ratios)
        assert line.get_label() == "noisy"
        assert zero.get_linestyle() == "--" and set(zero.get_ydata()) == {0.0}
        assert ax.get_legend() is not None
        _, other = plt.subplots()
        assert curve.plot(ax=other) is other
    finally:
        plt.close("all")


def test_accepts_list_array_series_and_does_not_mutate(gains):
    true, predicted = gains
    true_copy, pred_copy = true.copy(), predicted.copy()
    series = pd.Series(predicted, index=np.arange(200) * 3)
    ratios = [0.3, 0.5]
    a = efficiency_gain_curve(true, predicted, ratios=ratios)
    b = efficiency_gain_curve(list(true), series, ratios=np.array(ratios))
    c = efficiency_gain_curve(pd.Series(true), list(predicted), ratios=pd.Series(ratios))
    np.testing.assert_array_equal(a.gains, b.gains)
    np.testing.assert_array_equal(a.gains, c.gains)
    np.testing.assert_array_equal(true, true_copy)
    np.testing.assert_array_equal(predicted, pred_copy)
    np.testing.assert_array_equal(series.to_numpy(), pred_copy)
    assert true.flags.writeable and ratios == [0.3, 0.5]


def test_deterministic(gains):
    true, predicted = gains
    first = efficiency_gain_curve(true, predicted)
    second = efficiency_gain_curve(true, predicted)
    np.testing.assert_array_equal(first.gains, second.gains)


GOOD = [1.0, 2.0, 3.0]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (
            {"predicted_gain": [1.0, np.nan, np.inf]},
            r"`predicted_gain` must be finite; got 2 NaN or infinite values\.",
        ),
        ({"true_gain": [1.0, -np.inf, 3.0]}, r"`true_gain` must be finite; got 1 NaN"),
        (
            {"predicted_gain": [1.0, 2.0]},
            r"`true_gain` and `predicted_gain` must have the same length; got 3 and 2\.",
        ),
        (
            {"true_gain": [1.0], "predicted_gain": [1.0]},
            r"`true_gain` must contain at least 2 values; got 1\.",
        ),
        ({"true_gain": np.ones((3, 2))}, r"`true_gain` must be 1-D; got .*\(3, 2\)"),
        ({"predicted_gain": np.ones((3, 1))}, r"`predicted_gain` must be 1-D"),
        ({"true_gain": ["a", "b", "c"]}, r"`true_gain` must be a 1-D array of finite numbers"),
        ({"predicted_gain": 3.0}, r"`predicted_gain` must be 1-D; got .*shape \(\)"),
        ({"ratios": [0.2, 1.2]}, r"`ratios` must lie in \[0, 1\]; got 1\.2\."),
        ({"ratios": [-0.1, 0.5]}, r"`ratios` must lie in \[0, 1\]; got -0\.1\."),
        (
            {"ratios": [0.2, 0.5, 0.4]},
            r"`ratios` must be strictly increasing; got 0\.5 followed by 0\.4\.",
        ),
        ({"ratios": [0.2, 0.2]}, r"`ratios` must be strictly increasing"),
        ({"ratios": []}, r"`ratios` must contain at least 1 values; got 0\."),
        ({"ratios": [0.2, np.nan]}, r"`ratios` must be finite"),
        ({"ratios": [[0.2, 0.4]]}, r"`ratios` must be 1-D"),
        ({"normalizer": 0.0}, r"`normalizer` must be None or a finite number > 0; got 0\.0\."),
        ({"normalizer": -1.0}, r"`normalizer` must be None or a finite number > 0"),
        ({"normalizer": np.nan}, r"`normalizer` must be None or a finite number > 0; got nan"),
        ({"normalizer": np.inf}, r"`normalizer` must be None or a finite number > 0; got inf"),
    ],
)
def test_bad_inputs_raise_value_error_naming_argument(kwargs, match):
    args = {"true_gain": GOOD, "predicted_gain": GOOD, **kwargs}
    with pytest.raises(ValueError, match=match):
        efficiency_gain_curve(**args)


@pytest.mark.parametrize("normalizer", ["1.0", True, [1.0]])
def test_normalizer_type_error(normalizer):
    with pytest.raises(TypeError, match="`normalizer` must be None or a finite number > 0; got"):
        efficiency_gain_curve(GOOD, GOOD, normalizer=normalizer)


def test_stop_at_nonpositive_type_error():
    with pytest.raises(TypeError, match="`stop_at_nonpositive` must be a bool; got str"):
        efficiency_gain_curve(GOOD, GOOD, stop_at_nonpositive="yes")


def test_nonpositive_total_requires_explicit_normalizer():
    true, predicted = [1.0, -2.0, -2.0], [3.0, 2.0, 1.0]
    with pytest.raises(
        ValueError, match=r"total true gain .* must be > 0; got -3\.0\. Pass `normalizer=`"
    ):
        efficiency_gain_curve(true, predicted)
    with pytest.raises(ValueError, match=r"got 0\.0"):
        efficiency_gain_curve([1.0, -1.0], [1.0, 0.0])
    curve = efficiency_gain_curve(true, predicted, normalizer=1.0, ratios=[1 / 3])
    # k=1: 1 - (1/3) * (-3) = 2.
    assert curve.gains[0] == pytest.approx(2.0)


def test_curve_constructor_checks_shapes():
    with pytest.raises(ValueError, match="`ratios` and `gains` must be 1-D with the same length"):
        EfficiencyGainCurve(ratios=[0.1, 0.2], gains=[0.0], normalizer=1.0, n_queries=3)


# -- layout of the package -------------------------------------------------------------------------

#: Modules of ``metarouter_econml.evaluation`` -> the sibling modules each may import.
ALLOWED_SIBLINGS = {
    "_plotting": set(),
    "_curves": {"_plotting"},
    "_scoring": {"_curves"},
    "_protocol": {"_curves", "_plotting"},
    "_frontier": {"_plotting"},
    "_multi_protocol": {"_frontier"},
}


@pytest.mark.parametrize("module", sorted(ALLOWED_SIBLINGS))
def test_modules_import_only_lower_siblings(module):
    import ast
    from pathlib import Path

    import metarouter_econml.evaluation as evaluation

    folder = Path(evaluation.__file__).parent
    assert {p.stem for p in folder.glob("*.py")} == {"__init__", *ALLOWED_SIBLINGS}
    tree = ast.parse((folder / f"{module}.py").read_text(encoding="utf-8"))
    siblings = set()
    for node in ast.walk(tree):  # lazy imports inside functions count too
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            siblings.add(node.module or "")
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
            "metarouter_econml.evaluation"
        ):
            siblings.add(node.module.rsplit(".", 1)[-1])
    assert siblings <= ALLOWED_SIBLINGS[module], siblings - ALLOWED_SIBLINGS[module]
    assert "" not in siblings  # never `from . import ...`, which would load the facade


def test_no_matplotlib_state_is_changed_at_import():
    import subprocess
    import sys

    code = "import sys, metarouter_econml.evaluation; print('matplotlib.pyplot' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
