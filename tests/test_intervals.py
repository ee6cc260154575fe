"""Per-query intervals of the Meta-Router: coverage of a known truth, shrinkage, refusals.

The generator's truth is on the gold scale (``psi``, ``delta``); its preference labels are
``2 * (psi - delta + noise)``, so with ``gold_scale=2.0`` the bias on the preference scale is
exactly ``2 * delta`` and ``psi`` is what ``predict`` estimates.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from conftest import make_split

from metarouter_econml import MetaRouter, load
from metarouter_econml.datasets import make_routing_data

PB_SCALE = 2.0  # make_routing_data's default preference_scale


def _fit(router, split, **fit_params):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return router.fit(split.X_train, split.y_train, gold=split.gold_train, **fit_params)


def _coverage(lower, upper, truth):
    return float(np.mean((lower <= truth) & (truth <= upper)))


@pytest.fixture(scope="module")
def coverage_runs():
    """Two seeds of the heterogeneous-bias generator, 1,500 training rows, 200 gold."""
    runs = []
    for seed in (0, 1):
        data = make_routing_data(n_samples=2000, n_features=10, random_state=seed)
        split = data.split(n_test=500, n_gold=200, random_state=seed)
        router = _fit(MetaRouter(n_bootstrap=30, gold_scale=PB_SCALE, random_state=seed), split)
        runs.append((router, split, PB_SCALE * data.delta[split.test_index]))
    return runs


def test_psi_and_delta_intervals_cover_the_truth_at_90_percent(coverage_runs):
    # tolerance: at least 0.80 realised coverage at 0.90 nominal (issue 15), averaged over the
    # two seeds' 1,000 test queries; RESULTS.md §15a reports it on more scenarios.
    psi_cover, delta_cover = [], []
    for router, split, delta in coverage_runs:
        psi_cover.append(
            _coverage(*router.predict_interval(split.X_test, alpha=0.1), split.psi_test)
        )
        delta_cover.append(
            _coverage(*router.estimate_bias_interval(split.X_test, alpha=0.1), delta)
        )
    assert np.mean(psi_cover) >= 0.80, psi_cover
    assert np.mean(delta_cover) >= 0.80, delta_cover
    assert max(np.mean(psi_cover), np.mean(delta_cover)) < 1.0  # not trivially wide


def test_intervals_are_centred_on_the_estimates_and_ordered_by_level(coverage_runs):
    router, split, _ = coverage_runs[0]
    lo90, hi90 = router.predict_interval(split.X_test, alpha=0.1)
    lo50, hi50 = router.predict_interval(split.X_test, alpha=0.5)
    np.testing.assert_allclose((lo90 + hi90) / 2, router.predict(split.X_test), atol=1e-12)
    assert np.all(hi50 - lo50 < hi90 - lo90)
    blo, bhi = router.estimate_bias_interval(split.X_test, alpha=0.1)
    np.testing.assert_allclose((blo + bhi) / 2, router.estimate_bias(split.X_test), atol=1e-12)
    assert np.all(bhi > blo)


def test_intervals_shrink_as_gold_rows_grow():
    data = make_routing_data(n_samples=2400, n_features=8, random_state=3)
    widths = {}
    for n_gold in (60, 480):
        split = data.split(n_test=400, n_gold=n_gold, random_state=3)
        router = _fit(MetaRouter(n_bootstrap=20, gold_scale=PB_SCALE, random_state=3), split)
        lo, hi = router.estimate_bias_interval(split.X_test)
        plo, phi = router.predict_interval(split.X_test)
        widths[n_gold] = (np.mean(hi - lo), np.mean(phi - plo))
    assert widths[480][0] < 0.7 * widths[60][0], widths
    assert widths[480][1] < widths[60][1], widths


@pytest.fixture(scope="module")
def small():
    return make_split(600, 6, n_test=150, n_gold=80, seed=4)


@pytest.fixture(scope="module")
def bootstrapped(small):
    return _fit(MetaRouter(n_bootstrap=8, random_state=0), small)


def test_same_seed_same_intervals(small, bootstrapped):
    again = _fit(MetaRouter(n_bootstrap=8, random_state=0), small)
    for method in ("predict_interval", "estimate_bias_interval"):
        first = getattr(bootstrapped, method)(small.X_test)
        second = getattr(again, method)(small.X_test)
        np.testing.assert_array_equal(first[0], second[0])
        np.testing.assert_array_equal(first[1], second[1])


def test_n_bootstrap_leaves_the_point_estimates_alone(small, bootstrapped):
    plain = _fit(MetaRouter(random_state=0), small)
    np.testing.assert_array_equal(plain.predict(small.X_test), bootstrapped.predict(small.X_test))
    np.testing.assert_array_equal(
        plain.estimate_bias(small.X_test), bootstrapped.estimate_bias(small.X_test)
    )


def test_conservative_routing_sends_only_queries_whose_lower_bound_clears_the_threshold(
    small, bootstrapped
):
    weight = float(np.median(bootstrapped.predict(small.X_test)))
    plain = bootstrapped.route(small.X_test, cost_weight=weight)
    careful = bootstrapped.route(small.X_test, cost_weight=weight, alpha=0.2)
    lower, _ = bootstrapped.predict_interval(small.X_test, alpha=0.2)
    np.testing.assert_array_equal(careful, lower > weight)
    assert careful.sum() < plain.sum() and not np.any(careful & ~plain)


def test_empty_batches_give_empty_intervals(small, bootstrapped):
    for method in (bootstrapped.predict_interval, bootstrapped.estimate_bias_interval):
        lower, upper = method(small.X_test.iloc[:0])
        assert lower.shape == upper.shape == (0,)


@pytest.mark.parametrize("alpha", [0, 1, -0.1, 1.5, float("nan")])
def test_bad_alpha_is_refused(small, bootstrapped, alpha):
    with pytest.raises(ValueError, match="`alpha`"):
        bootstrapped.predict_interval(small.X_test, alpha=alpha)


def test_alpha_must_be_a_number(small, bootstrapped):
    with pytest.raises(TypeError, match="`alpha`"):
        bootstrapped.estimate_bias_interval(small.X_test, alpha="0.1")


def test_a_router_without_n_bootstrap_says_how_to_get_intervals(small):
    router = _fit(MetaRouter(random_state=0), small)
    with pytest.raises(ValueError, match=r"needs a router fitted with n_bootstrap set"):
        router.predict_interval(small.X_test)
    with pytest.raises(ValueError, match=r"n_bootstrap=50"):
        router.route(small.X_test, cost_weight=0.1, alpha=0.1)


def test_a_loaded_router_says_its_replicates_were_not_saved(small, bootstrapped, tmp_path):
    bootstrapped.save(tmp_path / "r.mr")
    loaded = load(tmp_path / "r.mr")
    np.testing.assert_array_equal(loaded.predict(small.X_test), bootstrapped.predict(small.X_test))
    with pytest.raises(ValueError, match=r"router files do not hold"):
        loaded.predict_interval(small.X_test)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"learner": "causal_forest"}, r"needs learner 'r', 'dr' or 'auto'.*'causal_forest'"),
        ({"overlap": "trim"}, r"not supported with overlap='trim'"),
    ],
)
def test_n_bootstrap_is_refused_where_it_does_not_apply(small, params, message):
    with pytest.raises(ValueError, match=message):
        _fit(MetaRouter(n_bootstrap=5, random_state=0, **params), small)


@pytest.mark.parametrize("n_bootstrap", [1, 0, 2.5, True])
def test_bad_n_bootstrap_is_refused(small, n_bootstrap):
    with pytest.raises((ValueError, TypeError), match="`n_bootstrap`"):
        _fit(MetaRouter(n_bootstrap=n_bootstrap), small)


def test_dr_learner_has_bootstrap_intervals(small):
    router = _fit(MetaRouter(learner="dr", n_bootstrap=6, random_state=0), small)
    lower, upper = router.estimate_bias_interval(small.X_test)
    assert np.all(upper > lower)


def test_a_forest_learner_uses_econml_intervals_without_n_bootstrap(small):
    router = _fit(MetaRouter(learner="causal_forest", random_state=0), small)
    lower, upper = router.estimate_bias_interval(small.X_test, alpha=0.1)
    expected = router.cate_estimator_.effect_interval(
        router._cate_features(small.X_test.to_numpy()), alpha=0.1
    )
    np.testing.assert_allclose(lower, np.ravel(expected[0]))
    np.testing.assert_allclose(upper, np.ravel(expected[1]))
    with pytest.raises(ValueError, match="n_bootstrap"):
        router.predict_interval(small.X_test)


def test_the_baselines_shift_is_bootstrapped_with_its_textbook_standard_error():
    # the replicates "auto" uses when it falls back to mean-shift: the bootstrap standard error
    # of a difference of two means is sqrt(var_gold / n_gold + var_pref / n_pref)
    from sklearn.dummy import DummyRegressor

    from metarouter_econml._routers._intervals import fit_replicates

    rng = np.random.default_rng(0)
    gold = np.zeros(2000, dtype=bool)
    gold[:100] = True
    y = np.where(gold, rng.normal(1.0, 2.0, 2000), rng.normal(0.0, 1.0, 2000))
    X = rng.normal(size=(2000, 2))
    common = {"X": X, "Z": X, "y_pb": y, "gold": gold, "router_model": DummyRegressor()}
    shifts = fit_replicates(400, problem=None, baseline="mean_shift", seed=0, **common).shifts
    expected = np.sqrt(y[gold].var(ddof=1) / 100 + y[~gold].var(ddof=1) / 1900)
    assert abs(np.std(shifts, ddof=1) / expected - 1) < 0.15
    assert abs(shifts.mean() - (y[gold].mean() - y[~gold].mean())) < 3 * expected / 20
    pooled = fit_replicates(5, problem=None, baseline="pooled", seed=0, **common).shifts
    np.testing.assert_array_equal(pooled, 0.0)  # pooling assumes no bias
