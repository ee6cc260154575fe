"""Refutation of the bias estimate through DoWhy: the bridge, the refuters and their verdicts."""

import numpy as np
import pandas as pd
import pytest
from conftest import make_noise_judge
from lightgbm import LGBMRegressor
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression

from metarouter_econml import MetaRouter, PooledRouter
from metarouter_econml import diagnostics as diagnostics_pkg
from metarouter_econml._routers import _auto
from metarouter_econml.datasets import make_routing_data
from metarouter_econml.diagnostics import RefutationResult, _dowhy_bridge, _refute, refute_bias

# Labels on one scale (preference_scale=1, gold_scale="none") make the bias on the preference scale
# equal to the generator's constant delta: E[r | x] - E[y | x] = psi - (psi - 0.1) = 0.1.
TRUE_BIAS = 0.1


def _light_lgbm():
    return LGBMRegressor(
        n_estimators=40, num_leaves=7, min_child_samples=20, n_jobs=1, random_state=0, verbose=-1
    )


def _light_models(learner="r"):
    """Small nuisance models so that each refit takes a fraction of a second."""
    if learner == "dr":
        return {
            "model_propensity": LogisticRegression(C=0.1, max_iter=1000),
            "model_regression": _light_lgbm(),
        }
    return {"model_y": _light_lgbm(), "model_t": LogisticRegression(C=0.1, max_iter=1000)}


def _light_router(learner="r", **params):
    params = {
        "learner": learner,
        "gold_scale": "none",
        "router_model": _light_lgbm(),
        "random_state": 0,
        **params,
    }
    if isinstance(learner, str):
        params = {**_light_models(learner), **params}
    return MetaRouter(**params)


@pytest.fixture(scope="module")
def split():
    data = make_routing_data(
        n_samples=1300,
        n_features=8,
        bias="constant",
        preference_scale=1.0,
        gold_noise=0.3,
        preference_noise=0.3,
        random_state=0,
    )
    return data.split(n_test=100, n_gold=200, random_state=0)


@pytest.fixture(scope="module")
def router(split):
    return _light_router().fit(split.X_train, split.y_train, gold=split.gold_train)


@pytest.fixture(scope="module")
def result(router, split):
    return refute_bias(
        router, split.X_train, split.y_train, split.gold_train, n_simulations=5, random_state=0
    )


# -- the DoWhy bridge reproduces the router's estimator -------------------------------------------
@pytest.mark.parametrize(
    "make_router",
    [
        pytest.param(
            lambda: MetaRouter(gold_scale="none", router_model=_light_lgbm(), random_state=0),
            id="r-default-models",
        ),
        pytest.param(lambda: _light_router("dr"), id="dr"),
        pytest.param(
            lambda: _light_router(random_state=np.random.RandomState(5)), id="r-randomstate-seed"
        ),
        pytest.param(lambda: _light_router(_econml_nonparamdml()), id="user-econml-instance"),
    ],
)
def test_dowhy_fit_gives_the_routers_cates(make_router, split):
    router = make_router().fit(split.X_train, split.y_train, gold=split.gold_train)
    X = split.X_train.to_numpy()
    gold = split.gold_train
    y_pb = np.where(gold, split.y_train * router.scale_, split.y_train)
    estimator, seed_known = _refute._unfitted_cate_estimator(
        router, int(gold.sum()), int((~gold).sum())
    )
    assert seed_known and estimator is not router.cate_estimator_
    Z = router._cate_features(X)  # the features the router's estimator saw (standardised)
    fit = _dowhy_bridge.fit_dowhy(Z, y_pb, gold, estimator)
    own = router.estimate_bias(split.X_train)
    # same learner, models, folds and seed, columns in the same order: identical, not just close
    np.testing.assert_allclose(fit.cate, own, rtol=0, atol=1e-12)
    np.testing.assert_allclose(fit.effect(Z), own, rtol=0, atol=1e-12)
    assert fit.value == pytest.approx(own.mean(), abs=1e-12)
    assert fit.effect_modifiers == [f"x{j}" for j in range(X.shape[1])]


def _econml_nonparamdml():
    from econml.dml import NonParamDML
    from sklearn.linear_model import RidgeCV
    from sklearn.model_selection import StratifiedKFold

    return NonParamDML(
        model_y=_light_lgbm(),
        model_t=LogisticRegression(C=0.1, max_iter=1000),
        model_final=RidgeCV(),
        discrete_treatment=True,
        cv=StratifiedKFold(3, shuffle=True, random_state=1),
        random_state=1,
    )


# -- refutation on data with a known, sizable bias ----------------------------------------------
def test_result_table_shape(result, split):
    assert isinstance(result, RefutationResult)
    assert result.table["refuter"].tolist() == list(_refute.REFUTERS)
    assert list(result.table.columns) == _refute._TABLE_COLUMNS
    assert (result.table["n_simulations"] == 5).all()
    assert set(result.table["verdict"]) <= {"pass", "fail"}
    assert result.reproduces_router
    placebo = result.table["refuter"] == "placebo"
    assert (result.table.loc[~placebo, "tolerance"] == result.tolerance).all()
    assert (result.table.loc[placebo, "tolerance"] == result.placebo_tolerance).all()
    assert result.tolerance == max(0.1 * abs(result.estimate), result.standard_error)
    assert result.placebo_tolerance == max(0.1 * abs(result.estimate), 0.5 * result.standard_error)
    assert result.n_samples == len(split.X_train)
    assert result.n_gold == 200
    assert result.n_outside_overlap == 0
    assert result.learner == "r"
    for name in _refute.REFUTERS:
        sims = result.simulations[name]
        assert sims.shape == (5,)
        row = result.summary().loc[name]
        assert row["refuted"] == pytest.approx(sims.mean())
        tested = 0.0 if name == "placebo" else result.estimate
        assert row["shift"] == pytest.approx(sims.mean() - tested)
        assert row["note"].startswith("5 refits: ")
        assert row["p_value"] == pytest.approx(result.dowhy_results[name]["p_value"])
        assert row["seconds"] > 0
    assert result.ok == (result.table["verdict"] == "pass").all()


def test_original_estimate_matches_router_and_truth(result, router, split):
    own = router.estimate_bias(split.X_train)
    assert result.estimate == pytest.approx(own.mean(), abs=1e-12)
    assert result.router_estimate == pytest.approx(own.mean(), abs=1e-12)
    assert result.estimate_preference == pytest.approx(own[~split.gold_train].mean(), abs=1e-12)
    assert (result.table["original"] == result.estimate).all()
    # 200 gold rows, standard error about 0.03: the estimate is sizable and of the right sign
    assert 0.3 * TRUE_BIAS < result.estimate < 2 * TRUE_BIAS


def test_placebo_collapses_the_bias(result):
    row = result.summary().loc["placebo"]
    assert row["verdict"] == "pass"
    assert row["p_value"] > 0.05
    assert abs(row["refuted"]) < 0.3 * abs(row["original"])
    assert "outside the placebo spread" in row["note"]


def test_random_common_cause_passes(result):
    row = result.summary().loc["random_common_cause"]
    assert row["verdict"] == "pass", row["note"]
    assert row["p_value"] > 0.05


def test_resampling_refuters_draw_new_samples(result):
    # an integer seed would make DoWhy draw the same subset/resample in every simulation
    for name in ("data_subset", "bootstrap", "placebo", "random_common_cause"):
        assert np.unique(result.simulations[name]).size == 5, name


def test_result_is_frozen_and_readable(result):
    with pytest.raises(AttributeError):
        result.estimate = 0.0
    with pytest.raises(TypeError):
        result.simulations["placebo"] = np.zeros(5)
    with pytest.raises(ValueError, match="read-only"):
        result.simulations["placebo"][0] = 1.0
    text = str(result)
    for name in _refute.REFUTERS:
        assert name in text
    assert "mean bias" in text
    assert ("passed" in text) or ("failed" in text)
    assert "A refuter fails when" in text  # the verdict rule, with this result's tolerance
    assert dict(result.feature_names) == {f"x{j}": f"pc{j + 1}" for j in range(8)}
    assert result.summary() is not result.table


def test_same_random_state_gives_the_same_table(router, split):
    def run(refuters, seed):
        return refute_bias(
            router,
            split.X_train,
            split.y_train,
            split.gold_train,
            refuters=refuters,
            n_simulations=2,
            random_state=seed,
        )

    first = run(("data_subset", "bootstrap"), 3)
    second = run(("data_subset", "bootstrap"), 3)
    pd.testing.assert_frame_equal(
        first.table.drop(columns="seconds"), second.table.drop(columns="seconds")
    )
    # a refuter's draws do not depend on which other refuters run
    alone = run("bootstrap", 3)
    np.testing.assert_array_equal(alone.simulations["bootstrap"], first.simulations["bootstrap"])
    other = run("data_subset", 4)
    assert not np.array_equal(other.simulations["data_subset"], first.simulations["data_subset"])


def test_column_names_with_spaces_and_dots_and_no_mutation(split):
    names = [f"pc {j}" if j % 2 else f"emb.{j}" for j in range(8)]
    X = split.X_train.set_axis(names, axis=1)
    y = split.y_train.copy()
    gold = split.gold_train.copy()
    X_before, y_before, gold_before = X.copy(), y.copy(), gold.copy()
    router = _light_router().fit(X, y, gold=gold)
    res = refute_bias(router, X, y, gold, refuters=("placebo",), n_simulations=2, random_state=0)
    assert dict(res.feature_names) == {f"x{j}": name for j, name in enumerate(names)}
    assert res.estimate == pytest.approx(router.estimate_bias(X).mean(), abs=1e-12)
    pd.testing.assert_frame_equal(X, X_before)
    np.testing.assert_array_equal(y, y_before)
    np.testing.assert_array_equal(gold, gold_before)


def test_warns_when_rows_are_not_the_training_rows(router, split):
    keep = np.arange(len(split.X_train)) % 4 != 0
    with pytest.warns(UserWarning, match="router was fitted on 200 gold"):
        res = refute_bias(
            router,
            split.X_train[keep],
            split.y_train[keep],
            split.gold_train[keep],
            refuters="placebo",
            n_simulations=2,
            random_state=0,
        )
    assert res.n_samples == int(keep.sum())


def test_trimmed_router_is_refuted_on_its_overlap_region(split):
    router = _light_router(overlap="trim", overlap_threshold=0.5)
    router.fit(split.X_train, split.y_train, gold=split.gold_train)
    inside = router.overlap_mask_
    assert 0 < int((~inside).sum()) < len(inside)  # the test needs rows outside the region
    res = refute_bias(
        router,
        split.X_train,
        split.y_train,
        split.gold_train,
        refuters="placebo",
        n_simulations=2,
        random_state=0,
    )
    own = router.estimate_bias(split.X_train)
    assert res.n_samples == int(inside.sum())
    assert res.n_outside_overlap == int((~inside).sum())
    assert res.estimate == pytest.approx(own[inside].mean(), abs=1e-12)
    assert res.router_estimate == pytest.approx(res.estimate, abs=1e-12)
    assert "outside the overlap region" in str(res)


# -- errors -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"refuters": ("placebo", "dummy_outcome")}, ValueError, r"unknown \['dummy_outcome'\]"),
        ({"refuters": ("placebo", "dummy_outcome")}, ValueError, "random_common_cause"),
        ({"refuters": ()}, ValueError, "at least one"),
        ({"refuters": ("placebo", "placebo")}, ValueError, "must not repeat"),
        ({"refuters": 3}, TypeError, "sequence of names"),
        ({"n_simulations": 1}, ValueError, "`n_simulations` must be an int >= 2 .*; got 1"),
        ({"n_simulations": True}, TypeError, "`n_simulations` must be an int .*; got bool"),
        ({"n_simulations": 2.5}, TypeError, "`n_simulations` must be an int .*; got float"),
        (
            {"subset_fraction": 1.0},
            ValueError,
            r"`subset_fraction` must be a number in \(0, 1\); got 1.0",
        ),
        ({"subset_fraction": 0}, ValueError, "`subset_fraction`"),
        ({"subset_fraction": "0.5"}, TypeError, "`subset_fraction` must be a real number"),
        ({"random_state": "seed"}, TypeError, "`random_state` must be None, an int or"),
    ],
)
def test_bad_arguments(kwargs, error, match, router, split):
    with pytest.raises(error, match=match):
        refute_bias(router, split.X_train, split.y_train, split.gold_train, **kwargs)


def test_router_must_be_a_fitted_meta_router(split):
    with pytest.raises(NotFittedError):
        refute_bias(MetaRouter(), split.X_train, split.y_train, split.gold_train)
    pooled = PooledRouter(router_model=_light_lgbm(), random_state=0).fit(
        split.X_train, split.y_train, gold=split.gold_train
    )
    with pytest.raises(TypeError, match="must be a fitted MetaRouter"):
        refute_bias(pooled, split.X_train, split.y_train, split.gold_train)


def test_router_without_cate_estimator(split):
    router = _light_router().fit(split.X_train, split.y_train, gold=split.gold_train)
    # what learner="auto" leaves when it falls back to a baseline
    router.learner_, router.cate_estimator_ = "pooled", None
    with pytest.raises(ValueError, match="refutation needs a bias estimated by an EconML learner"):
        refute_bias(router, split.X_train, split.y_train, split.gold_train)


@pytest.mark.slow
def test_auto_fallback_is_explained(monkeypatch):
    # the fallback's plumbing, not its statistics (test_router): a lower margin makes the
    # light router fall back to gold-only on this draw
    monkeypatch.setattr(_auto, "AUTO_MARGIN", 0.5)
    X, y, gold = make_noise_judge()
    # "auto" tries the R- and DR-learners, so it takes no learner-specific models here
    router = MetaRouter(learner="auto", router_model=_light_lgbm(), random_state=0)
    router.fit(X, y, gold=gold)
    assert router.cate_estimator_ is None, router.auto_reason_
    with pytest.raises(ValueError, match='learner="auto" fell back to the baseline') as info:
        refute_bias(router, X, y, gold)
    assert router.auto_reason_ in str(info.value)


# -- verdict rules ----------------------------------------------------------------------------
def test_verdict_rules():
    sims = np.array([0.01, -0.02, 0.0, 0.015])
    tol = 0.05
    verdict, note = _refute._verdict("placebo", 0.2, sims, 0.3, 0.8, tolerance=tol)
    assert verdict == "pass" and "outside the placebo spread" in note
    verdict, note = _refute._verdict("placebo", 0.01, sims, 0.3, 0.8, tolerance=tol)
    assert verdict == "pass" and "not distinguishable" in note
    verdict, note = _refute._verdict("placebo", 0.2, sims + 0.2, 0.001, 0.8, tolerance=tol)
    assert verdict == "fail" and "even when the gold flags are random" in note
    verdict, note = _refute._verdict("data_subset", 0.2, sims + 0.1, 0.04, 0.8, tolerance=tol)
    assert verdict == "fail" and "80%" in note and "beyond the tolerance" in note
    assert _refute._verdict("bootstrap", 0.2, sims + 0.1, 0.06, 0.8, tolerance=tol)[0] == "pass"
    # zero spread: DoWhy's p-value is NaN; the refits reject the tested value when they differ
    same = np.full(3, 0.2)
    nan = float("nan")
    assert _refute._verdict("random_common_cause", 0.2, same, nan, 0.8, tolerance=tol)[0] == "pass"
    assert _refute._verdict("random_common_cause", 0.3, same, nan, 0.8, tolerance=tol)[0] == "fail"
    assert _refute._verdict("placebo", 0.3, np.zeros(3), nan, 0.8, tolerance=tol)[0] == "pass"
    # ... unless the difference is within the tolerance
    assert _refute._verdict("random_common_cause", 0.21, same, nan, 0.8, tolerance=tol)[0] == "pass"


def test_a_significant_but_tiny_move_passes():
    """The reported false alarm: a 2 % move, significant only because the refits barely vary."""
    original, se = -0.0822, 0.03
    sims = -0.0803 + 0.0007 * np.array([-1.5, -1, -0.5, 0, 0, 0.3, 0.5, 0.7, 1, 1.5])
    tolerance = max(_refute.RELATIVE_TOLERANCE * abs(original), _refute.SE_MULTIPLIER * se)
    p_value = 0.0036  # DoWhy's, as reported
    verdict, note = _refute._verdict(
        "random_common_cause", original, sims, p_value, 0.8, tolerance=tolerance
    )
    assert verdict == "pass", note
    assert "significant but too small to matter" in note and note.startswith("10 refits: ")
    # the same p-value with a move larger than the tolerance fails
    moved = sims - 0.05
    assert (
        _refute._verdict("random_common_cause", original, moved, p_value, 0.8, tolerance=tolerance)[
            0
        ]
        == "fail"
    )


def test_placebo_must_collapse_relative_to_the_estimates_scale():
    se = 0.03
    # a placebo mean of 0.004 with a tiny spread: "significant" against 0, but ~0 on this scale
    sims = 0.004 + 0.0005 * np.arange(-5, 5)
    verdict, _ = _refute._verdict("placebo", 0.2, sims, 0.0, 0.8, tolerance=max(0.02, se))
    assert verdict == "pass"
    # a placebo that keeps most of the original estimate fails
    verdict, _ = _refute._verdict("placebo", 0.2, sims + 0.15, 0.0, 0.8, tolerance=max(0.02, se))
    assert verdict == "fail"


def test_few_refits_are_marked_indicative():
    sims = np.array([0.19, 0.21, 0.2])
    _, note = _refute._verdict("bootstrap", 0.2, sims, 0.5, 0.8, tolerance=0.05)
    assert note.startswith("3 refits: ") and "indicative" in note
    assert f"n_simulations >= {_refute.MIN_SIMULATIONS}" in note
    _, note = _refute._verdict("bootstrap", 0.2, np.full(10, 0.2) + 0.001, 0.5, 0.8, tolerance=0.05)
    assert "indicative" not in note


def test_standard_error_is_the_two_sample_one():
    rng = np.random.RandomState(0)
    y = rng.randn(500)
    gold = np.zeros(500, dtype=bool)
    gold[:50] = True
    expected = np.sqrt(y[gold].var(ddof=1) / 50 + y[~gold].var(ddof=1) / 450)
    assert _refute._standard_error(y, gold) == pytest.approx(expected)


def test_verdict_rule_is_stated_once_with_the_constants():
    text = _refute.verdict_rule(0.031, 0.016, 0.031)
    assert "max(10% of |estimate|, 1 standard error of the estimate) (here 0.031)" in text
    assert "max(10% of |estimate|, 0.5 standard error) (here 0.016)" in text
    assert "The standard error is 0.031." in text and "p <= 0.05" in text


def test_diagnostics_exports():
    assert {"RefutationResult", "refute_bias", "REFUTERS"} <= set(diagnostics_pkg.__all__)
    assert (
        diagnostics_pkg.REFUTERS
        == _refute.REFUTERS
        == (
            "placebo",
            "random_common_cause",
            "data_subset",
            "bootstrap",
        )
    )


# -- slow: the default router ------------------------------------------------------------------
@pytest.mark.slow
def test_default_router_passes_placebo_on_constant_bias():
    data = make_routing_data(
        n_samples=2100,
        n_features=10,
        bias="constant",
        preference_scale=1.0,
        gold_noise=0.3,
        preference_noise=0.3,
        random_state=2,
    )
    split = data.split(n_test=100, n_gold=200, random_state=0)
    router = MetaRouter(gold_scale="none", random_state=0)
    router.fit(split.X_train, split.y_train, gold=split.gold_train)
    res = refute_bias(
        router,
        split.X_train,
        split.y_train,
        split.gold_train,
        refuters=("placebo", "random_common_cause"),
        n_simulations=6,
        random_state=0,
    )
    assert res.estimate == pytest.approx(router.estimate_bias(split.X_train).mean(), abs=1e-12)
    placebo = res.summary().loc["placebo"]
    assert placebo["verdict"] == "pass"
    assert abs(placebo["refuted"]) < 0.3 * abs(placebo["original"])
    assert res.summary().loc["random_common_cause", "verdict"] == "pass"


# -- refuters that cannot run on the data ----------------------------------------------------
@pytest.fixture(scope="module")
def three_gold():
    data = make_routing_data(n_samples=700, n_features=6, random_state=0)
    split = data.split(n_test=100, n_gold=3, random_state=0)
    with pytest.warns(UserWarning, match="Only 3 gold-standard rows"):
        router = _light_router().fit(split.X_train, split.y_train, gold=split.gold_train)
    return router, split


@pytest.mark.filterwarnings("ignore:The least populated class in y:UserWarning")
def test_refuters_that_cannot_run_are_skipped_with_the_reason(three_gold):
    router, split = three_gold
    res = refute_bias(
        router,
        split.X_train,
        split.y_train,
        split.gold_train,
        refuters=("placebo", "data_subset", "bootstrap"),
        n_simulations=2,
        random_state=0,
    )
    table = res.summary()
    for name in ("data_subset", "bootstrap"):
        row = table.loc[name]
        assert row["verdict"] == "skipped", row["note"]
        assert row["note"].startswith("Skipped: ")
        assert "don't contain all treatments" in row["note"]  # EconML's AttributeError, quoted
        assert "with 3 gold rows" in row["note"] and "More gold rows" in row["note"]
        assert np.isnan(row["refuted"]) and np.isnan(row["p_value"])
        assert res.simulations[name].size < 2
    assert table.loc["placebo", "verdict"] in ("pass", "fail")
    # a skipped refuter does not make the result fail
    assert res.ok == (table.loc["placebo", "verdict"] == "pass")
    assert "Skipped (could not run on these data): data_subset, bootstrap." in str(res)


def test_an_unexpected_error_is_not_skipped(router, split, monkeypatch):
    """Only data errors of a refit make a refuter "skipped"; anything else propagates."""

    def broken(*args, **kwargs):
        raise KeyError("a bug, not the data")

    causal_model = _dowhy_bridge._import_dowhy()[0]  # dowhy.CausalModel
    monkeypatch.setattr(causal_model, "refute_estimate", broken)
    with pytest.raises(KeyError, match="a bug"):
        refute_bias(
            router,
            split.X_train,
            split.y_train,
            split.gold_train,
            refuters="bootstrap",
            n_simulations=2,
            random_state=0,
        )


# -- a loaded router is refuted like the router it was saved from ----------------------------
def test_loaded_router_is_refuted_with_the_routers_seed(router, split, tmp_path):
    import metarouter_econml

    path = tmp_path / "router.skops"
    router.save(path)
    loaded = metarouter_econml.load(path)
    assert getattr(loaded.cate_estimator_, "random_state", None) is None  # only the final model

    def run(r):
        return refute_bias(
            r,
            split.X_train,
            split.y_train,
            split.gold_train,
            refuters=("placebo", "bootstrap"),
            n_simulations=2,
            random_state=0,
        )

    original, again = run(router), run(loaded)
    assert again.reproduces_router
    assert again.estimate == original.estimate == pytest.approx(again.router_estimate, abs=1e-12)
    pd.testing.assert_frame_equal(
        again.table.drop(columns="seconds"), original.table.drop(columns="seconds")
    )


def test_loaded_router_with_unknown_seed_warns(split, tmp_path):
    import metarouter_econml

    router = _light_router(random_state=None).fit(
        split.X_train, split.y_train, gold=split.gold_train
    )
    path = tmp_path / "router.skops"
    router.save(path)
    loaded = metarouter_econml.load(path)
    with pytest.warns(UserWarning, match="the router's seed is unknown"):
        res = refute_bias(
            loaded,
            split.X_train,
            split.y_train,
            split.gold_train,
            refuters="placebo",
            n_simulations=2,
            random_state=0,
        )
    assert not res.reproduces_router
    assert res.estimate != pytest.approx(res.router_estimate, abs=1e-9)
