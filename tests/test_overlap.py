"""Overlap assessment: checks on data where the overlap is known, OverRule, displays."""

import time
import warnings

import matplotlib
import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from metarouter_econml import MetaRouter
from metarouter_econml._estimation import check_extreme_propensity, propensity_bounds
from metarouter_econml.datasets import make_routing_data
from metarouter_econml.diagnostics import (
    OverlapDisplay,
    OverlapResult,
    ProjectionDisplay,
    assess_overlap,
)

matplotlib.use("Agg")

N, N_GOLD = 2000, 100


@pytest.fixture(scope="module")
def data():
    return make_routing_data(n_samples=N, n_features=6, random_state=0)


@pytest.fixture(scope="module")
def gold_random():
    """Gold rows drawn at random: the sources overlap everywhere."""
    gold = np.zeros(N, dtype=bool)
    gold[np.random.RandomState(1).choice(N, N_GOLD, replace=False)] = True
    return gold


@pytest.fixture(scope="module")
def gold_violating(data):
    """Gold rows drawn only where feature pc1 < 0: no gold row covers half of the queries."""
    negative = np.flatnonzero(data.X["pc1"].to_numpy() < 0)
    gold = np.zeros(N, dtype=bool)
    gold[np.random.RandomState(2).choice(negative, N_GOLD, replace=False)] = True
    return gold


@pytest.fixture(scope="module")
def result_random(data, gold_random):
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # a passing check must not warn
        return assess_overlap(data.X, gold_random, overrule=False, random_state=0)


@pytest.fixture(scope="module")
def result_violating(data, gold_violating):
    with pytest.warns(UserWarning, match="Positivity fails"):
        return assess_overlap(data.X, gold_violating, overrule=False, random_state=0)


@pytest.fixture(scope="module")
def router(data, gold_random):
    y = np.where(gold_random, data.gold_gain, data.preference_label)
    return MetaRouter(learner="r", random_state=0).fit(data.X, y, gold=gold_random)


# -- the checks on known truth ----------------------------------------------------------------
def test_well_overlapping_data_pass(result_random):
    result = result_random
    assert isinstance(result, OverlapResult)
    assert result.ok and result.positivity_ok and result.ess_ok
    assert result.extreme_share < 0.01
    assert result.ess_ratio > 0.3
    assert result.n_gold == N_GOLD and result.n_preference == N - N_GOLD
    assert result.base_rate == pytest.approx(N_GOLD / N)
    assert result.bounds == pytest.approx(propensity_bounds(N_GOLD / N, 10.0))
    assert result.smd["smd"].abs().max() < 0.3
    assert list(result.summary()["verdict"]) == ["pass", "pass", "info", "skipped"]
    assert not any(w.startswith("Positivity") for w in result.warnings)
    assert result.advice == ()
    assert result.propensity_source == "LGBMClassifier cross-fitted on 3 folds"


def test_positivity_violation_fails_with_numbers(result_violating, data, gold_violating):
    result = result_violating
    assert result.ok is False and result.positivity_ok is False
    assert result.extreme_ratio > 5
    # the uncovered preference rows are the extreme ones, not the gold rows
    uncovered = (data.X["pc1"].to_numpy() > 0) & ~gold_violating
    extreme = (result.propensity < result.bounds[0]) | (result.propensity > result.bounds[1])
    assert extreme[uncovered].mean() > 0.8
    assert result.extreme_share_preference > 0.4
    assert result.extreme_share_gold < 0.05
    assert result.n_extreme == result.n_extreme_gold + result.n_extreme_preference
    assert result.smd.index[0] == "pc1"
    assert result.smd.loc["pc1", "smd"] < -0.8
    assert result.summary().loc[0, "verdict"] == "fail"
    assert "FAIL" in str(result)
    # advice is kept apart from the notes on what failed
    assert any('MetaRouter(overlap="trim")' in a for a in result.advice)
    assert not any('overlap="trim"' in w for w in result.warnings)
    assert any(w.startswith("Positivity fails") for w in result.warnings)
    assert "What to do:" in str(result)


def test_default_region_is_the_truncated_routers(data, gold_violating, result_violating):
    """One propensity model, one overlap region: the checks and overlap="trim" agree row by row."""
    y = np.where(gold_violating, data.gold_gain, data.preference_label)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the router warns about the few gold rows
        router = MetaRouter(overlap="trim", random_state=0).fit(data.X, y, gold=gold_violating)
    np.testing.assert_array_equal(result_violating.propensity, router.overlap_propensity_)
    low = result_violating.bounds[0]
    assert router.overlap_threshold_ == pytest.approx(low)
    too_rare = (result_violating.propensity < low) & ~gold_violating
    np.testing.assert_array_equal(~router.overlap_mask_, too_rare)
    assert too_rare.sum() == result_violating.n_extreme_preference


def test_warning_names_numbers_and_remedies(data, gold_violating):
    with pytest.warns(UserWarning) as record:
        assess_overlap(data.X, gold_violating, overrule=False, random_state=0)
    message = str(record[0].message)
    assert "Positivity fails: " in message
    assert f"of {N} rows" in message and f"of {N_GOLD} gold-standard" in message
    assert "tolerated 5.0%" in message
    # the advice names the feature and the region where gold rows are missing
    assert "What to do: Gold rows are missing where pc1 > " in message
    assert "Collect gold-standard labels there" in message and 'overlap="trim"' in message


def test_uncovered_region_names_the_feature_and_range(result_violating, data, gold_violating):
    region = result_violating.uncovered
    assert region.feature == "pc1" and region.column == 0
    uncovered = ~gold_violating & (result_violating.propensity < result_violating.bounds[0])
    assert region.n_rows == int(uncovered.sum()) == result_violating.n_extreme_preference
    pc1 = data.X["pc1"].to_numpy()
    assert region.gold_range == pytest.approx(
        (pc1[gold_violating].min(), pc1[gold_violating].max())
    )
    assert region.gold_range[1] < 0  # gold rows only where pc1 < 0
    assert region.n_above > 0.9 * region.n_rows
    assert region.condition == f"pc1 > {region.gold_range[1]:.3g}"
    assert region.condition in region.describe() and "'pc1'" in region.describe()
    assert region.smd > 1


def test_uncovered_region_is_small_when_overlap_is_good(result_random):
    # a few preference rows get a low propensity by chance; positivity still passes
    region = result_random.uncovered
    assert region is None or region.n_rows < 0.01 * N
    assert result_random.positivity_ok and result_random.advice == ()


def test_logistic_propensity_misses_the_half_space_violation(data, gold_violating):
    """Why the default model is not linear: a logistic fit flags few rows of the same violation."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        linear = assess_overlap(
            data.X,
            gold_violating,
            model_propensity=LogisticRegression(max_iter=1000),
            overrule=False,
            random_state=0,
        )
    assert linear.extreme_share < 0.1
    assert linear.propensity_source.startswith("LogisticRegression")


def test_ess_and_smd_formulas():
    rng = np.random.RandomState(0)
    X = rng.randn(400, 3)
    gold = np.zeros(400, dtype=bool)
    gold[:40] = True
    X[gold, 0] += 1.0
    constant = np.full(400, 0.1)  # e = base rate: equal weights
    result = assess_overlap(X, gold, propensity=constant, overrule=False)
    assert result.ess == pytest.approx(40)
    assert result.ess_ratio == pytest.approx(1.0)
    expected = (X[gold, 0].mean() - X[~gold, 0].mean()) / np.sqrt(
        (X[gold, 0].var(ddof=1) + X[~gold, 0].var(ddof=1)) / 2
    )
    assert result.smd.loc["x0", "smd"] == pytest.approx(expected)
    assert result.smd.loc["x0", "smd_weighted"] == pytest.approx(expected)
    assert list(result.smd.index[:1]) == ["x0"]
    # one dominant weight: ESS collapses to about one row
    skewed = constant.copy()
    skewed[0] = 1e-6
    with pytest.warns(UserWarning, match="worth only"):
        collapsed = assess_overlap(X, gold, propensity=skewed, overrule=False)
    assert collapsed.ess == pytest.approx(1.0, abs=1e-3)
    assert not collapsed.ess_ok and collapsed.positivity_ok and not collapsed.ok


def test_router_propensity_is_reused_with_the_same_bounds(router, data, gold_random):
    result = assess_overlap(
        data.X, gold_random, propensity=router.propensity_, overrule=False, random_state=0
    )
    np.testing.assert_array_equal(result.propensity, router.propensity_)
    assert result.propensity_source == "given"
    # the router's own check and this one share one definition of "extreme"
    summary = router.propensity_summary_
    assert summary["base_rate"] == pytest.approx(result.base_rate)
    n_router = summary["n_below_base_rate_over_10"] + summary["n_above_symmetric_bound"]
    assert result.n_extreme == n_router
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        again = check_extreme_propensity(router.propensity_, gold_random, min_propensity=0.01)
    assert again == summary
    display = OverlapDisplay.from_estimator(router, data.X, gold_random)
    np.testing.assert_array_equal(display.propensity, router.propensity_)


def test_same_random_state_same_result(data, gold_random, result_random):
    again = assess_overlap(data.X, gold_random, overrule=False, random_state=0)
    np.testing.assert_array_equal(again.propensity, result_random.propensity)
    pd.testing.assert_frame_equal(again.smd, result_random.smd)
    pd.testing.assert_frame_equal(again.summary(), result_random.summary())
    assert str(again) == str(result_random)


def test_inputs_are_not_mutated(data, gold_violating):
    X = data.X.copy()
    gold = gold_violating.copy()
    propensity = np.linspace(0.001, 0.2, N)
    X_before, propensity_before = X.copy(), propensity.copy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        result = assess_overlap(X, gold, propensity=propensity, overrule=False)
    pd.testing.assert_frame_equal(X, X_before)
    np.testing.assert_array_equal(gold, gold_violating)
    np.testing.assert_array_equal(propensity, propensity_before)
    assert not result.propensity.flags.writeable
    assert result.propensity is not propensity


def test_summary_and_text(result_violating):
    summary = result_violating.summary()
    assert list(summary.columns) == ["check", "value", "threshold", "verdict", "note"]
    assert set(summary["verdict"]) <= {"pass", "fail", "skipped", "info"}
    assert summary["note"].str.len().min() > 10
    text = str(result_violating)
    assert "Standardised mean differences" in text and "| pc1" in text
    assert "Not requested (overrule=False)" in text
    assert result_violating.smd_top.shape[0] == 6  # all features; n_smd=10 > 6


# -- OverRule ----------------------------------------------------------------------------------
def test_overrule_describes_the_overlap_region(data, gold_violating, result_violating):
    start = time.perf_counter()
    with pytest.warns(UserWarning, match="Positivity fails"):
        result = assess_overlap(data.X, gold_violating, overrule_components=2, random_state=0)
    elapsed = time.perf_counter() - start
    rule = result.overrule
    assert rule.status == "rules", rule.message
    assert rule.finished and rule.describes_gap and len(rule.rules) >= 1
    # inputs: the leading components and the feature along which the gap lies
    assert rule.inputs == ("PC1", "PC2", "pc1") and rule.feature == "pc1"
    assert rule.components == rule.components_requested == 2
    assert all(any(name in r for name in rule.inputs) for r in rule.rules)
    # one set of bounds: OverRule describes the rows the propensity check does not flag
    assert rule.bounds == pytest.approx(result.bounds)
    flagged = (result.propensity < result.bounds[0]) | (result.propensity > result.bounds[1])
    assert rule.n_flagged == int(flagged.sum()) == result.n_extreme
    assert rule.share_flagged_inside == pytest.approx(rule.inside[flagged].mean())
    assert rule.share_flagged_inside < 0.2
    assert rule.share_inside_gold >= 0.9
    uncovered = (data.X["pc1"].to_numpy() > 0) & ~gold_violating
    assert rule.inside[uncovered].mean() < 0.5
    assert rule.share_inside == pytest.approx(rule.inside.mean())
    assert len(rule.rule_coverage) == len(rule.rules)
    assert max(rule.rule_coverage) <= rule.share_inside + 1e-12 <= sum(rule.rule_coverage) + 1e-12
    # PCA on the centred features: PC1 is the leading feature pc1
    assert abs(rule.loadings.loc["pc1", "PC1"]) > 0.9
    text = str(rule)
    assert "PC1 (" in text and "% of variance" in text and "centred features" in text
    assert f"[{result.bounds[0]:.4g}, {result.bounds[1]:.4g}]" in text
    assert "feature 'pc1'" in text and "leave out" in text
    assert result.summary().iloc[3]["verdict"] == "info"
    assert rule.seconds < elapsed < 60


def test_overrule_says_when_its_inputs_cannot_show_the_gap(data, gold_violating):
    """Rules on components that do not carry the gap: the result says to trust the check."""
    with pytest.warns(UserWarning, match="Positivity fails"):
        propensity = assess_overlap(data.X, gold_violating, overrule=False, random_state=0)
    X = data.X.drop(columns="pc1")  # the gap lies along pc1; only the other features remain
    with pytest.warns(UserWarning, match="Positivity fails"):
        result = assess_overlap(
            X,
            gold_violating,
            propensity=propensity.propensity,
            overrule_components=2,
            random_state=0,
        )
    rule = result.overrule
    assert rule.status == "rules", rule.message
    assert rule.feature is not None and rule.feature != "pc1"
    assert not rule.describes_gap and rule.share_flagged_inside > 0.5
    assert "Trust the propensity check" in rule.message
    assert "trust the propensity check" in result.summary().iloc[3]["note"]


@pytest.mark.parametrize("n_features", [1, 2])
def test_overrule_components_are_reduced_to_the_features(n_features):
    rng = np.random.RandomState(0)
    X = pd.DataFrame(rng.randn(600, n_features), columns=[f"f{j}" for j in range(n_features)])
    gold = np.zeros(600, dtype=bool)
    gold[rng.choice(np.flatnonzero(X["f0"].to_numpy() < 0), 60, replace=False)] = True
    with pytest.warns(UserWarning, match="Positivity fails"):
        result = assess_overlap(X, gold, overrule_components=3, random_state=0)
    rule = result.overrule
    assert rule.status == "rules", rule.message
    assert rule.components == n_features and rule.components_requested == 3
    assert rule.loadings.shape == (n_features, n_features)
    assert f"3 requested; the data have only {n_features} feature" in rule.describe_inputs()
    assert "3 requested" in str(rule)
    assert rule.describes_gap and rule.feature == "f0"


def test_overrule_timeout_is_recorded_not_raised(data, gold_violating, result_violating):
    start = time.perf_counter()
    with pytest.warns(UserWarning, match="Positivity fails"):
        result = assess_overlap(
            data.X,
            gold_violating,
            propensity=result_violating.propensity,
            overrule_components=2,
            overrule_timeout=0.05,
            random_state=0,
        )
    assert time.perf_counter() - start < 30
    rule = result.overrule
    assert rule.status == "timeout" and not rule.finished
    assert rule.inside is None and np.isnan(rule.share_inside)
    assert "did not finish" in rule.message and "overrule_timeout" in rule.message
    assert result.summary().iloc[3]["verdict"] == "skipped"
    assert any("did not finish" in w for w in result.warnings)
    # the other checks are complete and unaffected
    assert result.extreme_share == result_violating.extreme_share
    assert "did not finish" in str(result)


def test_overrule_needs_no_process_when_no_row_is_flagged(data, gold_random):
    result = assess_overlap(data.X, gold_random, propensity=np.full(N, 0.05), random_state=0)
    rule = result.overrule
    assert result.n_extreme == 0 and rule.n_flagged == 0
    assert rule.status == "all_overlap" and rule.finished and rule.seconds == 0
    assert rule.rules == () and rule.inside.all() and rule.describes_gap
    assert "no rule was needed" in result.summary().iloc[3]["note"]


def test_overrule_error_is_recorded_not_raised(data, gold_violating, result_violating, monkeypatch):
    from metarouter_econml.diagnostics import _overrule

    monkeypatch.setattr(_overrule, "OVERRULE_CONFIG", {"no_such_setting": 1})
    with pytest.warns(UserWarning, match="Positivity fails"):
        result = assess_overlap(
            data.X,
            gold_violating,
            propensity=result_violating.propensity,
            overrule_components=2,
            random_state=0,
        )
    assert result.overrule.status == "error"
    assert "no_such_setting" in result.overrule.message
    assert "other checks are complete" in result.overrule.message
    assert result.summary().iloc[3]["verdict"] == "skipped"


# -- displays ----------------------------------------------------------------------------------
def test_overlap_display_from_predictions(result_violating, gold_violating):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    display = OverlapDisplay.from_predictions(result_violating.propensity, gold_violating, ax=ax)
    assert isinstance(display, OverlapDisplay)
    assert display.ax_ is ax and display.figure_ is fig
    assert display.ax_.get_xlabel() == "cross-fitted P(gold | x)"
    assert "density" in display.ax_.get_ylabel()
    assert display.ax_.get_xscale() == "log"
    labels = [t.get_text() for t in display.ax_.get_legend().get_texts()]
    assert any(label.startswith("gold-standard (n=100)") for label in labels)
    assert any(label.startswith("preference-based") for label in labels)
    assert any(label.startswith("extreme") for label in labels)
    assert display.plot(log_x=False) is display
    assert display.ax_.get_xscale() == "linear"
    plt.close("all")


def test_overlap_display_recomputes_for_other_rows(router, data, gold_random):
    import matplotlib.pyplot as plt

    X, gold = data.X.iloc[:1000], gold_random[:1000]
    with pytest.warns(UserWarning, match="not its training data"):
        display = OverlapDisplay.from_estimator(router, X, gold, random_state=0)
    assert display.propensity.shape == (1000,)
    assert display.figure_ is display.ax_.figure
    plt.close("all")


def test_projection_display(data, gold_violating):
    import matplotlib.pyplot as plt

    display = ProjectionDisplay.from_data(data.X, gold_violating, random_state=0)
    ax = display.ax_
    assert display.figure_ is ax.figure
    assert ax.get_xlabel().startswith("PC1 (") and ax.get_xlabel().endswith("% of variance)")
    assert ax.get_ylabel().startswith("PC2 (")
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == [f"preference-based (n={N - N_GOLD})", f"gold-standard (n={N_GOLD})"]
    points = ax.collections[-1]  # gold rows drawn last, on top, with larger markers
    assert points.get_offsets().shape[0] == N_GOLD
    assert points.get_sizes()[0] > ax.collections[0].get_sizes()[0]
    assert display.plot() is display
    plt.close("all")


# -- validation --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"gold": np.zeros(N, dtype=int)}, TypeError, "`gold` must be a boolean mask"),
        ({"gold": np.ones(10, dtype=bool)}, ValueError, "`X` and `gold` must have the same"),
        ({"propensity": np.full(5, 0.05)}, ValueError, "`X` and `propensity`"),
        ({"propensity": np.full(N, 1.5)}, ValueError, "`propensity` must hold probabilities"),
        ({"factor": 1.0}, ValueError, r"`factor` must be a finite number > 1; got 1.0\."),
        ({"factor": "10"}, TypeError, "`factor` must be a real number; got str"),
        (
            {"max_extreme_share": 0.0},
            ValueError,
            r"`max_extreme_share` must be a number in \(0, 1\]; got 0.0",
        ),
        ({"min_ess_ratio": -0.1}, ValueError, r"`min_ess_ratio` must be a number in \[0, 1\]"),
        ({"n_smd": 0}, ValueError, "`n_smd` must be an int >= 1; got 0"),
        ({"n_smd": 2.0}, TypeError, "`n_smd` must be an int; got float"),
        ({"overrule": "yes"}, TypeError, "`overrule` must be a bool; got str 'yes'"),
        ({"overrule_standardize": "no"}, TypeError, "`overrule_standardize` must be a bool"),
        (
            {"overrule": True, "overrule_components": 0},
            ValueError,
            "`overrule_components` must be an int >= 1; got 0",
        ),
        (
            {"overrule": True, "overrule_timeout": 0},
            ValueError,
            "`overrule_timeout` must be a finite number > 0 \\(seconds\\); got 0",
        ),
        (
            {"model_propensity": "logistic"},
            TypeError,
            "`model_propensity` must be None or a classifier with `fit` and `predict_proba`",
        ),
        (
            {"propensity": np.full(N, 0.05), "model_propensity": LogisticRegression()},
            ValueError,
            "`model_propensity` has no use when `propensity` is given",
        ),
        ({"cv": 1}, ValueError, "`cv` must be an int >= 2"),
        ({"random_state": -1}, ValueError, "`random_state` must be an int between 0 and"),
    ],
)
def test_bad_input_names_the_argument(data, gold_random, kwargs, error, match):
    arguments = {"gold": gold_random, "overrule": False, **kwargs}
    with pytest.raises(error, match=match):
        assess_overlap(data.X, **arguments)


def test_bad_features_name_x(gold_random):
    X = np.ones((N, 3))
    X[0, 0] = np.nan
    with pytest.raises(ValueError, match="`X` must be finite"):
        assess_overlap(X, gold_random, overrule=False)


def test_propensity_bounds():
    assert propensity_bounds(0.02) == pytest.approx((0.002, 0.902))
    assert propensity_bounds(0.5, factor=4) == pytest.approx((0.125, 0.875))
    with pytest.raises(ValueError, match="`factor`"):
        propensity_bounds(0.02, factor=0.5)
    with pytest.raises(ValueError, match="`base_rate`"):
        propensity_bounds(0.0)


def test_public_names():
    import metarouter_econml.diagnostics as diagnostics

    names = {
        "OverRuleResult",
        "OverlapDisplay",
        "OverlapResult",
        "ProjectionDisplay",
        "UncoveredRegion",
    }
    assert names | {"assess_overlap"} <= set(diagnostics.__all__)
