"""The placebo's per-row test: a leak with a mean bias near zero is seen in its heterogeneity.

Known truth: a *leaky* estimator whose final stage is a model fitted in advance (frozen, so every
refit keeps it) that predicts a centred, strongly heterogeneous bias ``0.4 * (x0 - mean(x0))``:
its mean bias over the rows is exactly 0, so DoWhy's placebo (a test of the mean) cannot see it,
while under permuted gold flags it reproduces the per-row bias in full (slope 1). An *honest*
estimator refitted on permuted flags keeps no trace of its per-row bias (slope about 0).
"""

import numpy as np
import pytest
from econml.dml import NonParamDML
from lightgbm import LGBMRegressor
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LinearRegression, LogisticRegression

from metarouter_econml import MetaRouter
from metarouter_econml.datasets import make_routing_data
from metarouter_econml.diagnostics import _refute, diagnose, refute_bias

N_SIMULATIONS = 4


def _light_lgbm():
    return LGBMRegressor(
        n_estimators=30, num_leaves=7, min_child_samples=20, n_jobs=1, random_state=0, verbose=-1
    )


def _nuisances():
    return {"model_y": _light_lgbm(), "model_t": LogisticRegression(C=0.1, max_iter=1000)}


@pytest.fixture(scope="module")
def split():
    # A heterogeneous bias (the generator's default shape) on one scale: the honest estimator's
    # per-row bias varies across rows, so there is heterogeneity a leak could reproduce.
    data = make_routing_data(
        n_samples=900,
        n_features=6,
        preference_scale=1.0,
        gold_noise=0.3,
        preference_noise=0.3,
        random_state=0,
    )
    return data.split(n_test=100, n_gold=200, random_state=0)


def _frozen_final(split, slope):
    """A final stage fitted in advance: ``slope * (x0 - mean(x0))`` over the training rows."""
    X = split.X_train.to_numpy(dtype=float)
    target = slope * (X[:, 0] - X[:, 0].mean())
    return FrozenEstimator(LinearRegression().fit(X, target))


def _leaky_router(split, slope=0.4):
    learner = NonParamDML(
        **_nuisances(),
        model_final=_frozen_final(split, slope),
        discrete_treatment=True,
        cv=2,
        random_state=0,
    )
    router = MetaRouter(learner=learner, gold_scale="none", router_model=_light_lgbm())
    return router.fit(split.X_train, split.y_train, gold=split.gold_train)


def _honest_router(split):
    router = MetaRouter(
        learner="r", gold_scale="none", router_model=_light_lgbm(), random_state=0, **_nuisances()
    )
    return router.fit(split.X_train, split.y_train, gold=split.gold_train)


def _placebo(router, split, **params):
    result = refute_bias(
        router,
        split.X_train,
        split.y_train,
        split.gold_train,
        refuters="placebo",
        n_simulations=N_SIMULATIONS,
        random_state=0,
        **params,
    )
    return result, result.summary().loc["placebo"]


def _mean_test_alone(result, row):
    """The placebo's verdict without the per-row test (the rule before it)."""
    sims = result.simulations["placebo"]
    verdict, _ = _refute._verdict(
        "placebo", result.estimate, sims, row["p_value"], 0.8, tolerance=result.placebo_tolerance
    )
    return verdict


# -- known truth ---------------------------------------------------------------------------------
def test_leak_with_zero_mean_bias_fails_the_per_row_test(split):
    router = _leaky_router(split)
    bias = router.estimate_bias(split.X_train)
    assert abs(bias.mean()) < 1e-9 and bias.std() > 0.3  # no mean bias, strong heterogeneity
    result, row = _placebo(router, split)
    # the mean test alone passes the leak: the placebo's mean bias is 0, as for an honest fit
    assert abs(row["shift"]) <= result.placebo_tolerance
    assert _mean_test_alone(result, row) == "pass"
    # ... the per-row test sees that permuted flags reproduce the whole per-row bias
    np.testing.assert_allclose(result.row_slopes, 1.0, rtol=1e-6)
    assert row["row_slope"] == pytest.approx(1.0, rel=1e-6)
    assert row["verdict"] == "fail", row["note"]
    assert not result.ok
    assert "reproduces the original per-row bias even when the gold flags are random" in row["note"]
    assert f"{N_SIMULATIONS} refits" in row["note"]


def test_honest_estimator_passes_the_per_row_test(split):
    router = _honest_router(split)
    result, row = _placebo(router, split)
    assert result.estimate > 0  # the generator's bias is positive on average
    assert router.estimate_bias(split.X_train).std() > 0.01  # heterogeneity to reproduce
    assert result.row_slopes.shape == (N_SIMULATIONS,)
    assert abs(row["row_slope"]) < _refute.PLACEBO_SLOPE_TOLERANCE / 2
    assert row["row_slope_se"] > 0 and 0 <= row["row_slope_p"] <= 1
    assert row["verdict"] == "pass", row["note"]
    assert "Per row: the placebo refits reproduce a share" in row["note"]
    # the per-row refits use the placebo refuter's permutations: their means are DoWhy's
    assert "differ from DoWhy's placebo refits" not in row["note"]


def test_the_report_fails_the_leak_and_says_why(split):
    report = diagnose(
        _leaky_router(split),
        split.X_train,
        split.y_train,
        gold=split.gold_train,
        refuters=("placebo",),
        n_simulations=N_SIMULATIONS,
        overrule=False,
        figures=False,
        random_state=0,
    )
    assert not report.ok
    assert report.failed_checks == ["placebo refuter"]
    html = report.to_html()
    markdown = report.to_markdown()
    for text in (html, markdown, str(report.refutations)):
        assert "Per row:" in text
        assert f"exceeds {_refute.PLACEBO_SLOPE_TOLERANCE:g}" in text  # the rule, stated once
    assert "per-row bias" in " ".join(report.what_to_do())


def test_a_constant_original_is_not_tested_row_by_row(split):
    router = _leaky_router(split, slope=0.0)
    result, row = _placebo(router, split)
    assert result.row_slopes is None and np.isnan(row["row_slope"])
    assert "Per row: not tested, the original per-row bias is constant" in row["note"]
    assert row["verdict"] == "pass"


def test_heterogeneity_far_below_the_standard_error_does_not_count(split):
    """A frozen leak of per-row size 1e-4 (the standard error is about 0.04): the floor of the
    slope's denominator keeps it from counting as a reproduced heterogeneity."""
    router = _leaky_router(split, slope=1e-4)
    result, row = _placebo(router, split)
    assert result.standard_error > 0.01
    assert 0 < row["row_slope"] < 1e-3
    assert row["verdict"] == "pass", row["note"]


def test_other_refuters_have_no_per_row_test(split):
    result = refute_bias(
        _honest_router(split),
        split.X_train,
        split.y_train,
        split.gold_train,
        refuters=("random_common_cause",),
        n_simulations=2,
        random_state=0,
    )
    assert result.row_slopes is None
    assert result.table[["row_slope", "row_slope_se", "row_slope_p"]].isna().all().all()


# -- the rule ------------------------------------------------------------------------------------
def test_slope_rule():
    tol = _refute.PLACEBO_SLOPE_TOLERANCE
    # clearly above zero and above the tolerance: fails
    slope, failed, p_value, se, _ = _refute._slope_test(np.array([0.5, 0.55, 0.6, 0.45]))
    assert failed and slope == pytest.approx(0.525) and p_value < 0.05 and se > 0
    # clearly above zero but a small share: passes
    slope, failed, p_value, _, _ = _refute._slope_test(tol / 2 + np.array([0.0, 0.01, -0.01, 0.0]))
    assert not failed and p_value < 0.05
    # above the tolerance on average but not distinguishable from zero: passes
    slope, failed, p_value, _, _ = _refute._slope_test(np.array([2.0, -1.5, 1.8, -1.0]))
    assert not failed and slope > tol and p_value > 0.05
    # a negative slope is no reproduction (one-sided)
    assert not _refute._slope_test(-np.array([0.5, 0.55, 0.6, 0.45]))[1]
    # equal slopes: the t-test is undefined; they reject zero when they are not zero
    slope, failed, p_value, se, evidence = _refute._slope_test(np.ones(3))
    assert failed and np.isnan(p_value) and se == 0 and "differ from 0" in evidence
    assert not _refute._slope_test(np.zeros(3))[1]


def test_rule_text_states_the_constants():
    text = _refute.verdict_rule(0.031, 0.016, 0.031)
    assert f"mean slope over the refits exceeds {_refute.PLACEBO_SLOPE_TOLERANCE:g}" in text
    assert f"one-sided t-test of zero slope over the refits rejects (p <= {_refute.ALPHA})" in text
    assert "max(variance of the original, standard error squared)" in text
    doc = _refute.refute_bias.__doc__
    assert "``PLACEBO_SLOPE_TOLERANCE`` (0.2:" in doc
    assert _refute.PLACEBO_SLOPE_TOLERANCE == 0.2
