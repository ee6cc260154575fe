"""Routers: the scikit-learn contract, routing rules, bias recovery and bad input."""

import re
import warnings

import numpy as np
import pandas as pd
import pytest
from conftest import ROUTERS, make_noise_judge
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LinearRegression, LogisticRegression

import metarouter_econml
from metarouter_econml import (
    GoldOnlyRouter,
    MeanShiftRouter,
    MetaRouter,
    PooledRouter,
)
from metarouter_econml.datasets import make_routing_data
from metarouter_econml.evaluation import efficiency_gain_curve


@pytest.fixture(scope="module")
def small_split():
    data = make_routing_data(n_samples=1600, n_features=8, random_state=3)
    return data, data.split(n_test=400, n_gold=120, random_state=0)


@pytest.fixture(scope="module")
def fitted_r(small_split):
    _, split = small_split
    return MetaRouter(learner="r", random_state=0).fit(
        split.X_train, split.y_train, gold=split.gold_train
    )


def test_public_api_is_pinned():
    assert sorted(metarouter_econml.__all__) == sorted(
        [
            "GoldOnlyRouter",
            "MeanShiftRouter",
            "MetaRouter",
            "MultiMetaRouter",
            "PooledRouter",
            "PreferenceOnlyRouter",
            "__version__",
            "load",
        ]
    )


@pytest.mark.parametrize("cls", ROUTERS)
def test_clone_and_get_params_round_trip(cls):
    router = cls(random_state=7, cost_primary=3.0, cost_alternative=1.0)
    params = router.get_params()
    twin = clone(router)
    assert twin is not router
    assert twin.get_params() == params
    assert cls(**params).get_params() == params


@pytest.mark.parametrize("cls", ROUTERS)
def test_fit_returns_self_and_unfitted_use_raises(cls, small_split):
    _, split = small_split
    router = cls(random_state=0)
    with pytest.raises(NotFittedError):
        router.predict(split.X_test)
    with pytest.raises(NotFittedError):
        router.route(split.X_test, cost_weight=0.1)
    assert router.fit(split.X_train, split.y_train, gold=split.gold_train) is router
    assert router.predict(split.X_test).shape == (len(split.X_test),)
    assert router.n_features_in_ == 8
    assert list(router.feature_names_in_) == list(split.X_train.columns)


def test_meta_router_fitted_attributes(fitted_r, small_split):
    _, split = small_split
    from econml.dml import NonParamDML

    assert isinstance(fitted_r.cate_estimator_, NonParamDML)
    assert fitted_r.learner_ == "r"
    assert fitted_r.scale_ > 0
    assert fitted_r.propensity_.shape == (len(split.X_train),)
    assert np.all((fitted_r.propensity_ > 0) & (fitted_r.propensity_ < 1))
    # out-of-fold propensities hover around the gold base rate on randomly drawn gold rows
    assert abs(fitted_r.propensity_.mean() - split.gold_train.mean()) < 0.02
    assert fitted_r.propensity_summary_["base_rate"] == pytest.approx(split.gold_train.mean())


def test_bias_estimate_is_what_debiases_the_labels(fitted_r, small_split):
    _, split = small_split
    X = split.X_train.to_numpy()
    # the built-in learners see standardised features (rounded to float32 precision)
    Z = (X - fitted_r.cate_feature_mean_) / fitted_r.cate_feature_scale_
    Z = Z.astype(np.float32).astype(np.float64)
    np.testing.assert_allclose(
        fitted_r.estimate_bias(split.X_train), np.ravel(fitted_r.cate_estimator_.effect(Z))
    )


@pytest.mark.parametrize("ratio", [0.0, 0.1, 0.25, 0.4, 0.5, 0.77, 1.0])
def test_threshold_for_ratio_sends_exactly_the_requested_share(fitted_r, small_split, ratio):
    _, split = small_split
    weight = fitted_r.threshold_for_ratio(split.X_test, ratio)
    sent = fitted_r.route(split.X_test, cost_weight=weight)
    assert sent.dtype == bool
    assert sent.sum() == int(np.floor(ratio * len(split.X_test) + 1e-9))


def test_route_applies_the_cost_rule(small_split):
    _, split = small_split
    router = PooledRouter(cost_primary=5.0, cost_alternative=1.0, random_state=0)
    router.fit(split.X_train, split.y_train, gold=split.gold_train)
    psi = router.predict(split.X_test)
    np.testing.assert_array_equal(router.route(split.X_test, cost_weight=0.03), psi > 0.03 * 4.0)
    weight = router.threshold_for_ratio(split.X_test, 0.3)
    assert router.route(split.X_test, weight).sum() == 120


def test_threshold_for_ratio_warns_on_ties():
    X = np.zeros((40, 3))
    X[:20, 0] = 1.0
    y = np.where(np.arange(40) < 20, 1.0, 0.0) + np.tile([0.0, 0.01], 20)
    gold = np.tile([True, False], 20)
    router = PooledRouter(router_model=LinearRegression(), gold_scale="none").fit(X, y, gold=gold)
    with pytest.warns(
        UserWarning, match=r"tie at the cut-off for ratio=0.25: the returned weight sends 0 of 40"
    ):
        weight = router.threshold_for_ratio(X, 0.25)
    assert router.route(X, weight).sum() == 0


def test_predictions_are_on_the_gold_scale(small_split):
    _, split = small_split
    kw = {"router_model": LinearRegression()}
    unit = GoldOnlyRouter(gold_scale="none", **kw).fit(
        split.X_train, split.y_train, gold=split.gold_train
    )
    scaled = GoldOnlyRouter(gold_scale=7.0, **kw).fit(
        split.X_train, split.y_train, gold=split.gold_train
    )
    np.testing.assert_allclose(
        scaled.predict(split.X_test), unit.predict(split.X_test), rtol=1e-9, atol=1e-12
    )


def test_mean_shift_is_the_global_mean_difference(small_split):
    _, split = small_split
    router = MeanShiftRouter(random_state=0).fit(
        split.X_train, split.y_train, gold=split.gold_train
    )
    gold_mean = split.y_train[split.gold_train].mean() * router.scale_
    assert router.shift_ == pytest.approx(gold_mean - split.y_train[~split.gold_train].mean())


@pytest.mark.parametrize("learner", ["r", "dr"])
def test_same_seed_same_router(small_split, learner):
    _, split = small_split
    fits = [
        MetaRouter(learner=learner, random_state=11).fit(
            split.X_train, split.y_train, gold=split.gold_train
        )
        for _ in range(2)
    ]
    np.testing.assert_array_equal(fits[0].predict(split.X_test), fits[1].predict(split.X_test))
    np.testing.assert_array_equal(
        fits[0].estimate_bias(split.X_test), fits[1].estimate_bias(split.X_test)
    )
    other = MetaRouter(learner=learner, random_state=12).fit(
        split.X_train, split.y_train, gold=split.gold_train
    )
    assert not np.array_equal(other.predict(split.X_test), fits[0].predict(split.X_test))


def _true_bias_on_pb_scale(data, router, index):
    """E[c r | x] - E[y | x] for the generator: c psi - 2 (psi - delta) (preference_scale 2)."""
    psi, delta = data.psi[index], data.delta[index]
    return router.scale_ * psi - 2.0 * (psi - delta)


@pytest.mark.parametrize("learner", ["r", "dr"])
def test_estimated_bias_tracks_the_true_bias(learner):
    data = make_routing_data(n_samples=3000, n_features=20, random_state=0)
    split = data.split(n_test=500, n_gold=150, random_state=1)
    router = MetaRouter(learner=learner, random_state=0).fit(
        split.X_train, split.y_train, gold=split.gold_train
    )
    truth = _true_bias_on_pb_scale(data, router, split.test_index)
    estimate = router.estimate_bias(split.X_test)
    assert np.corrcoef(estimate, truth)[0, 1] > 0.7
    assert abs(estimate.mean() - truth.mean()) < 0.25 * truth.std()


@pytest.mark.parametrize("learner", ["causal_forest", "forest_dr"])
def test_forest_learners_recover_the_bias_direction(learner):
    data = make_routing_data(n_samples=2000, n_features=10, random_state=0)
    split = data.split(n_test=400, n_gold=150, random_state=1)
    router = MetaRouter(learner=learner, random_state=0).fit(
        split.X_train, split.y_train, gold=split.gold_train
    )
    truth = _true_bias_on_pb_scale(data, router, split.test_index)
    assert np.corrcoef(router.estimate_bias(split.X_test), truth)[0, 1] > 0.4


def test_econml_estimator_instance_is_used_as_given(small_split):
    from econml.dr import DRLearner

    _, split = small_split
    template = DRLearner(
        model_propensity=LogisticRegression(),
        model_regression=LinearRegression(),
        model_final=LinearRegression(),
        cv=3,
    )
    router = MetaRouter(learner=template, random_state=0).fit(
        split.X_train, split.y_train, gold=split.gold_train
    )
    assert isinstance(router.cate_estimator_, DRLearner)
    assert router.cate_estimator_ is not template
    assert router.learner_ == "DRLearner"
    assert not hasattr(template, "ortho_learner_model_final_")  # the user's instance was not fitted


@pytest.mark.slow
def test_meta_router_beats_pooling_on_heterogeneous_bias():
    """At the paper's sizes (4,500 training rows, 50 features, 100 GS), over several splits."""
    data = make_routing_data(n_samples=5000, n_features=50, random_state=0)
    diffs = []
    for seed in range(5):
        split = data.split(n_test=500, n_gold=100, random_state=seed)
        aucs = {}
        for name, router in (
            ("meta", MetaRouter(random_state=seed)),
            ("pooled", PooledRouter(random_state=seed)),
        ):
            router.fit(split.X_train, split.y_train, gold=split.gold_train)
            aucs[name] = efficiency_gain_curve(split.gain_test, router.predict(split.X_test)).auc
        diffs.append(aucs["meta"] - aucs["pooled"])
    diffs = np.array(diffs)
    assert diffs.mean() > 0.1, diffs
    assert (diffs > 0).sum() >= 4, diffs


@pytest.mark.slow
def test_auto_keeps_a_cate_learner_when_the_bias_is_heterogeneous():
    data = make_routing_data(n_samples=2500, n_features=10, random_state=0)
    split = data.split(n_test=300, n_gold=200, random_state=0)
    router = MetaRouter(learner="auto", cv=3, random_state=0).fit(
        split.X_train, split.y_train, gold=split.gold_train
    )
    scores = router.auto_scores_
    assert set(scores.index) == {"r", "dr", "gold_only", "mean_shift", "pooled"}
    assert router.learner_ in {"r", "dr"}, router.auto_reason_
    assert router.cate_estimator_ is not None
    # the bias changes the ranking: pooling and one shift rank the held-out GS rows worse
    assert (scores.loc[["mean_shift", "pooled"], "diff_vs_default"] < 0).all()


def test_auto_falls_back_to_a_baseline_with_its_shift_as_the_bias():
    # a judge whose labels carry no information about the gain: gold-only validates best (with
    # 300 GS rows the default is only 1.7 SE behind, short of auto's 2.24 SE margin)
    X, y, gold = make_noise_judge(n_gold=600)
    router = MetaRouter(learner="auto", cv=3, random_state=0).fit(X, y, gold=gold)
    assert router.learner_ == "gold_only", router.auto_reason_
    assert "raised the held-out GS efficiency gain" in router.auto_reason_
    assert router.cate_estimator_ is None
    bias = router.estimate_bias(X[:10])
    assert np.all(bias == router.shift_)
    mean_difference = y[gold].mean() * router.scale_ - y[~gold].mean()
    assert router.shift_ == pytest.approx(mean_difference)


def test_extreme_propensities_warn_with_numbers():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(3000, 4))
    gold = (X[:, 0] > 1.2) & (rng.random(3000) < 0.5)  # gold rows only where x0 > 1.2
    y = X[:, 1] + rng.normal(size=3000)
    with pytest.warns(
        UserWarning, match=r"rows \(\d+\.\d%\) have extreme cross-fitted propensities"
    ):
        MetaRouter(learner="r", random_state=0).fit(X, y, gold=gold)


def test_inputs_are_not_mutated(small_split):
    _, split = small_split
    X, y, gold = split.X_train.copy(), split.y_train.copy(), split.gold_train.copy()
    MetaRouter(learner="dr", random_state=0).fit(X, y, gold=gold)
    pd.testing.assert_frame_equal(X, split.X_train)
    np.testing.assert_array_equal(y, split.y_train)
    np.testing.assert_array_equal(gold, split.gold_train)


# -- bad input -----------------------------------------------------------------------------------
def _xy(n=60, d=3, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)), rng.normal(size=n), np.arange(n) % 5 == 0


@pytest.mark.parametrize(
    ("mutate", "error", "match"),
    [
        (
            lambda X, y, g: (np.where(np.arange(X.size).reshape(X.shape) == 4, np.nan, X), y, g),
            ValueError,
            r"`X` must be finite; got 1 NaN or infinite values",
        ),
        (
            lambda X, y, g: (X, np.r_[y[:-1], np.inf], g),
            ValueError,
            r"`y` must be finite; got 1 NaN or infinite",
        ),
        (
            lambda X, y, g: (X, y[:-1], g),
            ValueError,
            r"`X` and `y` must have the same number of rows; got 60 and 59",
        ),
        (
            lambda X, y, g: (X, y, g[:-1]),
            ValueError,
            r"`X` and `gold` must have the same number of rows; got 60 and 59",
        ),
        (
            lambda X, y, g: (X, y, g.astype(int)),
            TypeError,
            r"`gold` must be a boolean mask .*got dtype int64",
        ),
        (
            lambda X, y, g: (X, y, np.arange(60) == 0),
            ValueError,
            r"at least 2 gold-standard rows; got 1",
        ),
        (
            lambda X, y, g: (X, y, np.arange(60) != 0),
            ValueError,
            r"at least 2 preference-based rows \(False\); got 1",
        ),
        (
            lambda X, y, g: (pd.DataFrame({"a": ["x"] * 60, "b": 1.0}), y, g),
            TypeError,
            r"`X` must contain only numeric features; columns \['a'\] are not numeric",
        ),
    ],
)
@pytest.mark.parametrize("cls", [PooledRouter, MetaRouter])
def test_bad_fit_input_names_the_argument(cls, mutate, error, match):
    X, y, gold = mutate(*_xy())
    with pytest.raises(error, match=match):
        cls(random_state=0).fit(X, y, gold=gold)


def test_gold_is_required():
    X, y, _ = _xy()
    with pytest.raises(TypeError, match=r"gold"):
        PooledRouter().fit(X, y)


def test_wrong_features_at_predict(fitted_r, small_split):
    _, split = small_split
    with pytest.raises(
        ValueError, match=r"X has 7 features, but MetaRouter is expecting 8 features"
    ):
        with pytest.warns(UserWarning, match="X does not have valid feature names"):
            fitted_r.predict(split.X_test.iloc[:, :7].to_numpy())
    swapped = split.X_test[list(reversed(split.X_test.columns))]
    with pytest.raises(ValueError, match=r"feature names"):
        fitted_r.route(swapped, cost_weight=0.1)
    with pytest.raises(ValueError, match=r"`X` must be finite"):
        fitted_r.estimate_bias(split.X_test.assign(pc1=np.nan))


@pytest.mark.parametrize(
    ("params", "error", "match"),
    [
        (
            {"learner": "x"},
            ValueError,
            r"`learner` must be one of \['r', 'dr', 'causal_forest', 'forest_dr', 'auto'\]; "
            r"got 'x'",
        ),
        # the baselines "auto" falls back to are not learners: use their routers
        ({"learner": "pooled"}, ValueError, r"`learner` must be one of .*; got 'pooled'"),
        ({"learner": "mean_shift"}, ValueError, r"`learner` must be one of .*; got 'mean_shift'"),
        (
            {"learner": 3},
            TypeError,
            r"`learner` must be one of .* or an EconML estimator .*; got int",
        ),
        (
            {"learner": "dr", "model_y": LinearRegression()},
            ValueError,
            r"\['model_y'\] cannot be used with learner='dr'",
        ),
        (
            {"learner": "causal_forest", "model_final": LinearRegression()},
            ValueError,
            r"\['model_final'\] cannot be used with learner='causal_forest'",
        ),
        (
            {"cv": 1},
            ValueError,
            r"`cv` must be an int >= 2 \(number of cross-fitting folds\); got 1\.",
        ),
        (
            {"min_propensity": 0.7},
            ValueError,
            r"`min_propensity` must be a number in \(0, 0.5\); got 0.7",
        ),
        ({"cost_primary": float("nan")}, ValueError, r"`cost_primary` must be a finite number"),
    ],
)
def test_bad_parameters_are_caught_at_fit(params, error, match):
    X, y, gold = _xy(n=150)  # 30 gold rows: no few-gold warning
    with pytest.raises(error, match=match):
        MetaRouter(random_state=0, **params).fit(X, y, gold=gold)


def test_bad_routing_arguments(fitted_r, small_split):
    _, split = small_split
    with pytest.raises(ValueError, match=r"`ratio` must be a number in \[0, 1\]; got 1.5"):
        fitted_r.threshold_for_ratio(split.X_test, 1.5)
    with pytest.raises(TypeError, match=r"`cost_weight` must be a real number; got str"):
        fitted_r.route(split.X_test, cost_weight="0.1")
    equal_costs = clone(fitted_r).set_params(cost_primary=1.0, cost_alternative=1.0)
    equal_costs.router_model_, equal_costs.scale_ = fitted_r.router_model_, fitted_r.scale_
    equal_costs.n_features_in_, equal_costs.feature_names_in_ = 8, fitted_r.feature_names_in_
    with pytest.raises(ValueError, match=r"needs `cost_primary` > `cost_alternative`"):
        equal_costs.threshold_for_ratio(split.X_test, 0.5)


def test_few_gold_rows_reduce_the_folds_with_a_warning():
    X, y, _ = _xy(n=80)
    gold = np.arange(80) < 3
    with pytest.warns(UserWarning) as record:
        router = MetaRouter(learner="r", cv=5, random_state=0).fit(X, y, gold=gold)
    messages = [str(w.message) for w in record]
    assert any(
        re.search(r"Only 3 gold-standard rows for cv=5 folds .* using 3 folds", m) for m in messages
    )
    assert any(
        re.search(r"Only 3 gold-standard rows in `gold` \(fewer than 20\)", m) for m in messages
    )
    assert router.predict(X).shape == (80,)


def test_few_preference_rows_reduce_the_folds_with_a_warning():
    X, y, _ = _xy(n=80)
    gold = np.arange(80) >= 2  # 78 gold rows, 2 preference rows
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        router = MetaRouter(learner="r", cv=3, random_state=0).fit(X, y, gold=gold)
    messages = [str(w.message) for w in record]
    assert any(
        re.search(r"Only 2 preference-based rows for cv=3 folds .* using 2 folds", m)
        for m in messages
    ), messages
    # nothing from scikit-learn's fold machinery leaks through
    assert not any("least populated class" in m or "Scoring failed" in m for m in messages), (
        messages
    )
    assert router.cate_estimator_.cv.get_n_splits() == 2
    assert np.all(np.isfinite(router.predict(X)))


def test_no_warnings_on_clean_data(small_split):
    _, split = small_split
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        MetaRouter(learner="dr", random_state=0).fit(
            split.X_train, split.y_train, gold=split.gold_train
        )


def test_dataframe_queries_route_like_the_same_array(fitted_r, small_split):
    """DataFrames with the fit's columns take a fast validation path; it must agree exactly."""
    _, split = small_split
    X = split.X_test
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # array without feature names
        as_array = fitted_r.predict(X.to_numpy())
        as_float32_array = fitted_r.predict(X.to_numpy(dtype=np.float32))
    np.testing.assert_array_equal(fitted_r.predict(X), as_array)
    np.testing.assert_array_equal(fitted_r.predict(X.astype(np.float32)), as_float32_array)
    mixed = X.astype({X.columns[0]: np.float32})
    np.testing.assert_array_equal(
        fitted_r.predict(mixed),
        fitted_r.predict(pd.DataFrame(mixed.to_numpy(np.float64), columns=X.columns)),
    )
    nullable = X.astype("Float64")  # extension dtypes take scikit-learn's path
    np.testing.assert_array_equal(fitted_r.predict(nullable), as_array)
    with pytest.raises(
        ValueError, match=r"`X` must be finite; got 1 NaN .* columns \['" + X.columns[2]
    ):
        fitted_r.predict(X.assign(**{X.columns[2]: np.r_[np.nan, X.iloc[1:, 2]]}))


@pytest.mark.parametrize(
    ("value", "error", "match"),
    [
        (float("nan"), ValueError, r"^`cost_primary` must be a finite number; got nan"),
        (float("inf"), ValueError, r"^`cost_primary` must be a finite number; got inf"),
        ("1.0", TypeError, r"^`cost_primary` must be a real number; got str '1.0'"),
    ],
)
def test_costs_are_checked_where_they_are_used(
    fitted_r, small_split, tmp_path, value, error, match
):
    _, split = small_split
    router = clone(fitted_r)
    router.__dict__.update({k: v for k, v in fitted_r.__dict__.items() if k.endswith("_")})
    router.set_params(cost_primary=value)
    with pytest.raises(error, match=match):
        router.route(split.X_test, cost_weight=0.1)
    with pytest.raises(error, match=match):
        router.threshold_for_ratio(split.X_test, 0.5)
    with pytest.raises(error, match=match):
        router.save(tmp_path / "router.mr")
    assert not (tmp_path / "router.mr").exists()
