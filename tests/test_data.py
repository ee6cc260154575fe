"""Adapters and validation (``_validation``) and gold rescaling (``_estimation``)."""

import numpy as np
import pandas as pd
import pytest

from metarouter_econml._estimation import gold_scale_factor
from metarouter_econml._validation import check_gold_mask, check_labels


def _w2_squared(c, gold, pref, grid=200_000):
    """Squared 2-Wasserstein distance of c*gold and pref, from quantiles on a fine grid."""
    u = (np.arange(grid) + 0.5) / grid
    qg = np.sort(gold)[np.minimum((u * gold.size).astype(int), gold.size - 1)]
    qp = np.sort(pref)[np.minimum((u * pref.size).astype(int), pref.size - 1)]
    return np.mean((c * qg - qp) ** 2)


def test_variance_scale_matches_definition():
    rng = np.random.default_rng(0)
    gold, pref = rng.normal(0.1, 0.7, 90), rng.normal(0.3, 2.1, 4000)
    assert gold_scale_factor(gold, pref, "variance") == pytest.approx(
        pref.std(ddof=1) / gold.std(ddof=1), rel=1e-12
    )
    scaled = gold * gold_scale_factor(gold, pref, "variance")
    assert scaled.std(ddof=1) == pytest.approx(pref.std(ddof=1), rel=1e-12)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_wasserstein_scale_minimises_w2(seed):
    rng = np.random.default_rng(seed)
    gold, pref = rng.gamma(2.0, 0.5, 73), rng.gamma(2.0, 1.3, 517) - 0.2
    c_hat = gold_scale_factor(gold, pref, "wasserstein")
    grid = np.linspace(0.5 * c_hat, 1.5 * c_hat, 401)
    losses = [_w2_squared(c, gold, pref) for c in grid]
    c_grid = grid[int(np.argmin(losses))]
    assert c_hat == pytest.approx(c_grid, abs=grid[1] - grid[0])
    # and it is a true minimum: a nudge either way is worse
    assert _w2_squared(c_hat, gold, pref) < _w2_squared(c_hat * 1.01, gold, pref)
    assert _w2_squared(c_hat, gold, pref) < _w2_squared(c_hat * 0.99, gold, pref)


def test_wasserstein_scale_is_exact_for_a_scaled_copy():
    gold = np.array([-1.0, 0.5, 2.0, 3.0])
    assert gold_scale_factor(gold, 2.5 * gold, "wasserstein") == pytest.approx(2.5)


def test_none_and_float_scales():
    gold, pref = np.array([0.0, 1.0]), np.array([0.0, 5.0])
    assert gold_scale_factor(gold, pref, "none") == 1.0
    assert gold_scale_factor(gold, pref, 3.5) == 3.5


@pytest.mark.parametrize(
    ("method", "error", "match"),
    [
        ("std", ValueError, r"`gold_scale` must be one of .*got 'std'"),
        (-1.0, ValueError, r"`gold_scale` as a number must be finite and positive; got -1.0"),
        (np.nan, ValueError, r"finite and positive"),
        (True, TypeError, r"`gold_scale` must be one of"),
        ([1.0], TypeError, r"got list"),
    ],
)
def test_bad_gold_scale(method, error, match):
    with pytest.raises(error, match=match):
        gold_scale_factor(np.array([0.0, 1.0]), np.array([0.0, 2.0]), method)


def test_constant_gold_labels_cannot_be_variance_matched():
    with pytest.raises(ValueError, match=r"all 3 gold labels equal 1.0"):
        gold_scale_factor(np.ones(3), np.array([0.0, 2.0]), "variance")


def test_gold_mask_rules():
    assert check_gold_mask(np.array([True, False, True, False]), n_rows=4).dtype == bool
    assert (
        check_gold_mask(pd.Series([True, False, True, False], dtype="boolean"), n_rows=4).sum() == 2
    )
    with pytest.raises(TypeError, match=r"`gold` must be a boolean mask .* got dtype int64"):
        check_gold_mask(np.array([1, 0, 1, 0]), n_rows=4)
    with pytest.raises(TypeError, match=r"got dtype <U"):
        check_gold_mask(np.array(["gold", "pb", "gold", "pb"]), n_rows=4)
    with pytest.raises(
        ValueError, match=r"`X` and `gold` must have the same number of rows; got 5 and 4"
    ):
        check_gold_mask(np.array([True, False, True, False]), n_rows=5)
    with pytest.raises(ValueError, match=r"at least 2 gold-standard rows; got 1"):
        check_gold_mask(np.array([True, False, False, False]), n_rows=4)
    with pytest.raises(ValueError, match=r"at least 2 preference-based rows \(False\); got 0"):
        check_gold_mask(np.ones(4, dtype=bool), n_rows=4)
    with pytest.raises(TypeError, match=r"`gold` is required"):
        check_gold_mask(None, n_rows=4)
    with pytest.raises(ValueError, match=r"missing values; got 1"):
        check_gold_mask(pd.Series([True, None, True, False], dtype="boolean"), n_rows=4)


def test_label_rules():
    np.testing.assert_array_equal(check_labels([1, 2, 3], n_rows=3), [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match=r"`y` must be finite; got 1 NaN"):
        check_labels([1.0, np.nan, 3.0], n_rows=3)
    with pytest.raises(
        ValueError, match=r"`X` and `y` must have the same number of rows; got 4 and 3"
    ):
        check_labels([1.0, 2.0, 3.0], n_rows=4)
    with pytest.raises(TypeError, match=r"`y` must be numeric labels; got dtype"):
        check_labels(["a", "b"], n_rows=2)
