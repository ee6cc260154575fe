"""The validated defaults: final CATE stage, router model, scale equivariance and ``auto``.

Each choice is checked against data whose truth is known: a bias that is linear in the features
must keep the linear final stage, a step-shaped one must take the boosted stage; a judge whose
labels carry no signal must send ``auto`` to gold-only.
"""

from __future__ import annotations

import warnings
from functools import partial

import numpy as np
import pandas as pd
import pytest
from conftest import BASELINES, make_split
from lightgbm import LGBMRegressor
from sklearn.linear_model import LassoCV, RidgeCV

from metarouter_econml import GoldOnlyRouter, MetaRouter, PooledRouter
from metarouter_econml._estimation import keep_reference_unless_beaten, validated_router_model
from metarouter_econml._estimation._models import (
    ROUTER_AVERAGE_LEAVES,
    ROUTER_AVERAGE_TREES,
    ROUTER_MAX_TREES,
)
from metarouter_econml._routers._auto import AUTO_MARGIN
from metarouter_econml.datasets import RoutingDataset


def _dataset(bias, *, n=3000, p=6, gold_noise=0.3, judge_signal=1.0, seed=0):
    """Standard-normal features, psi = tanh(x0) + 0.5 x1, labels with known bias ``bias(X)``."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p))
    psi = np.tanh(X[:, 0]) + 0.5 * X[:, 1]
    delta = bias(X)
    eta = judge_signal * psi - delta
    frame = pd.DataFrame(X, columns=[f"pc{j + 1}" for j in range(p)])
    return RoutingDataset(
        X=frame,
        gold_gain=psi + gold_noise * rng.standard_normal(n),
        preference_label=eta + 0.3 * rng.standard_normal(n),
        psi=psi,
        delta=delta,
        name="test",
    )


def _fit(router, split):
    """Fit on the split's training rows; few-gold and positivity warnings are not tested here."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return router.fit(split.X_train, split.y_train, gold=split.gold_train)


# -- the final CATE stage ------------------------------------------------------------------------
def _final_model(router):
    estimator = router.cate_estimator_
    return estimator.model_final_ if router.learner_ == "r" else estimator.fitted_models_final[0]


@pytest.mark.parametrize("learner", ["r", "dr"])
def test_a_linear_bias_takes_a_linear_final_stage(learner):
    data = _dataset(lambda X: 0.6 * X[:, 2] - 0.4 * X[:, 3])
    split = data.split(n_test=300, n_gold=400, random_state=0)
    router = _fit(MetaRouter(learner=learner, random_state=0), split)
    scores = router.final_stage_scores_
    assert list(scores.index) == ["linear", "sparse", "boosted"]
    assert scores["chosen"].sum() == 1
    assert router.final_stage_ == scores["loss"].idxmin()
    assert router.final_stage_ in {"linear", "sparse"}, scores
    assert (scores["diff"] >= 0).all() and scores.loc[router.final_stage_, "diff"] == 0
    assert isinstance(_final_model(router), (RidgeCV, LassoCV))


@pytest.mark.parametrize("learner", ["r", "dr"])
def test_a_step_shaped_bias_takes_the_boosted_final_stage(learner):
    data = _dataset(lambda X: 1.5 * ((X[:, 2] > 0) & (X[:, 3] > 0)) - 0.5)
    split = data.split(n_test=300, n_gold=600, random_state=0)
    router = _fit(MetaRouter(learner=learner, random_state=0), split)
    scores = router.final_stage_scores_
    assert router.final_stage_ == "boosted", scores
    # clearly, not by a hair: both linear stages lose by more than a standard error
    assert (
        scores.loc[["linear", "sparse"], "diff"] > scores.loc[["linear", "sparse"], "diff_se"]
    ).all()
    assert isinstance(_final_model(router), LGBMRegressor)
    # the refitted final stage is what estimate_bias reads: it recovers the step (1.5 on the
    # gold scale; the preference labels are on the same scale here, up to the variance match)
    bias = router.estimate_bias(split.X_test)
    X_test = split.X_test.to_numpy()
    inside = (X_test[:, 2] > 0) & (X_test[:, 3] > 0)
    assert bias[inside].mean() - bias[~inside].mean() > 0.75


def test_a_given_final_model_is_used_as_given_and_nothing_is_chosen():
    split = make_split(800, 6, n_test=100, n_gold=100)
    router = _fit(MetaRouter(model_final=RidgeCV(), random_state=0), split)
    assert router.final_stage_ is None and router.final_stage_scores_ is None
    assert isinstance(router.cate_estimator_.model_final_, RidgeCV)


def test_forest_learners_choose_no_final_stage():
    split = make_split(600, 6, n_test=100, n_gold=80)
    router = _fit(MetaRouter(learner="causal_forest", random_state=0), split)
    assert router.final_stage_ is None and router.final_stage_scores_ is None


def test_the_choice_is_reproduced_by_refits_of_the_fitted_configuration():
    data = _dataset(lambda X: 1.5 * ((X[:, 2] > 0) & (X[:, 3] > 0)) - 0.5)
    split = data.split(n_test=300, n_gold=600, random_state=0)
    router = _fit(MetaRouter(random_state=0), split)
    assert router.final_stage_ == "boosted"
    n_gold = int(split.gold_train.sum())
    estimator, _ = router._unfitted_cate("r", n_gold, split.gold_train.size - n_gold, 0)
    assert isinstance(estimator.model_final, LGBMRegressor)


# -- the router model ----------------------------------------------------------------------------
@pytest.mark.parametrize("higher_is_better", [False, True])
def test_the_reference_is_left_only_past_the_margin_then_for_the_best(higher_is_better):
    # The one rule behind the router-model choice (lower MSE wins) and auto (higher gain wins).
    sign = 1.0 if higher_is_better else -1.0
    score = {"ref": 1.0, "close": 1.0 + sign * 0.15, "far": 1.0 + sign * 0.3, "big": 1.0}
    table = pd.DataFrame({"score": score, "diff_se": 0.1})
    table["diff"] = table["score"] - 1.0
    choose = partial(keep_reference_unless_beaten, score="score", higher_is_better=higher_is_better)
    assert choose(table, "ref", margin=4.0) == "ref"  # nobody is 4 SE better
    assert choose(table, "ref", margin=2.0) == "far"  # only "far" is 3 SE better
    assert choose(table, "ref", margin=1.0) == "far"  # both clear 1 SE: the best one wins
    table.loc["big", "diff"] = sign * 10.0  # the paired difference decides, not the mean score
    assert choose(table, "ref", margin=4.0) == "big"
    worse = table.assign(diff=-table["diff"])
    assert choose(worse, "ref", margin=0.0) == "ref"  # a worse challenger never replaces it


def test_the_router_model_is_chosen_on_held_out_rows_and_recorded():
    split = make_split(700, 6, n_test=200, n_gold=60)
    router = _fit(PooledRouter(random_state=0), split)
    scores = router.router_model_scores_
    assert list(scores.index) == ["boosted", "forest"]
    assert scores["chosen"].sum() == 1
    forest = scores.loc["forest"]
    # the forest replaces the boosted reference only when it is better by one standard error
    assert forest["chosen"] == (forest["diff"] + forest["diff_se"] < 0)
    assert forest["diff"] == pytest.approx(forest["mse"] - scores.loc["boosted", "mse"])
    if forest["chosen"]:
        assert router.router_model_.get_params()["boosting_type"] == "rf"
    else:  # the boosted trees kept: averaged with the small forest
        assert _boosting_types(router.router_model_) == {"boosted": "gbdt", "forest": "rf"}


def _boosting_types(model) -> dict:
    """``{part name: LightGBM boosting type}`` of an averaged router model."""
    return {name: part.boosting_type for name, part in model.named_estimators_.items()}


def _trees(model) -> dict:
    """``{part name: number of trees fitted}`` of an averaged router model."""
    return {name: part.booster_.num_trees() for name, part in model.named_estimators_.items()}


def test_a_forest_router_model_replaces_boosting_when_it_validates_better():
    # 300 rows of a linear gain under heavy label noise: 300 boosted trees chase the noise,
    # an average of bagged trees does not (held-out error lower by more than 2 SE here)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((340, 4))
    y = X[:, 0] + 2.0 * rng.standard_normal(340)
    gold = np.arange(340) < 300  # gold-only trains on these; the 40 others are never read
    router = _fit(GoldOnlyRouter(gold_scale=1.0, random_state=0), _Scaled.of(X, y, gold))
    assert router.router_model_scores_.loc["forest", "chosen"], router.router_model_scores_


def _large_choice(signal, *, seed=0):
    """The default router model on 2,400 rows (above ``ROUTER_CV_ROWS``): ``signal(X)`` + noise."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((2400, 4))
    y = signal(X) + 0.3 * rng.standard_normal(2400)
    return validated_router_model(X, y, random_state=seed)


def test_on_large_data_boosting_sizes_itself_and_is_kept_when_it_learns():
    # a smooth, strong signal: the hold-out error keeps falling for over a hundred trees
    model, scores = _large_choice(lambda X: 2.0 * np.sin(2 * X[:, 0]) + X[:, 1] ** 2)
    assert list(scores.index) == ["boosted", "mean", "forest"]
    assert list(scores.columns) == ["mse", "diff", "diff_se", "trees", "chosen"]
    boosted = scores.loc["boosted"]
    assert boosted["chosen"] and boosted["diff"] < -boosted["diff_se"]  # beats the mean
    assert 100 < boosted["trees"] < ROUTER_MAX_TREES  # stopped early, not at the cap
    # the refit on all rows has exactly the chosen number of trees, averaged with the forest
    assert _boosting_types(model) == {"boosted": "gbdt", "forest": "rf"}
    assert _trees(model) == {"boosted": boosted["trees"], "forest": ROUTER_AVERAGE_TREES}
    assert model.named_estimators_["forest"].num_leaves == ROUTER_AVERAGE_LEAVES
    assert np.isnan(scores.loc["forest", "mse"])  # the fallback is not fitted on the hold-out
    # the average is the mean of its parts, each refitted on all rows
    X = np.random.default_rng(1).standard_normal((50, 4))
    parts = [part.predict(X) for part in model.estimators_]
    np.testing.assert_allclose(model.predict(X), np.mean(parts, axis=0), rtol=1e-12)


def test_averaging_with_the_forest_ranks_a_signal_the_forest_alone_sees_better():
    # The average is kept because it needs no evidence: on the battery's nonlinear scenarios it
    # ranks better than boosting alone. Here, a threshold interaction in one of 20 features:
    # the average ranks closer to the truth than its boosted part (rank correlation 0.937
    # against 0.928 with this seed; the average is ahead on seeds 0 to 3).
    from scipy.stats import spearmanr

    rng = np.random.default_rng(3)
    X = rng.standard_normal((2400, 20))
    signal = np.where((X[:, 0] > 0) & (X[:, 1] > 0), 1.0, 0.0) + 0.5 * np.tanh(X[:, 2])
    model, scores = validated_router_model(
        X, signal + 1.0 * rng.standard_normal(2400), random_state=0
    )
    assert scores.loc["boosted", "chosen"]
    X_new = rng.standard_normal((2000, 20))
    truth = np.where((X_new[:, 0] > 0) & (X_new[:, 1] > 0), 1.0, 0.0) + 0.5 * np.tanh(X_new[:, 2])
    average = spearmanr(model.predict(X_new), truth).statistic
    boosted = spearmanr(model.named_estimators_["boosted"].predict(X_new), truth).statistic
    assert average > boosted, (average, boosted)


def test_on_large_data_labels_without_signal_fall_back_to_the_forest():
    # pure noise: boosting stops after a few trees and does not beat the mean of the labels
    model, scores = _large_choice(lambda X: 0.0 * X[:, 0])
    boosted = scores.loc["boosted"]
    assert boosted["trees"] < 20, scores
    assert not boosted["diff"] < -boosted["diff_se"]
    assert scores["chosen"].to_dict() == {"boosted": False, "mean": False, "forest": True}
    assert model.get_params()["boosting_type"] == "rf"
    assert model.booster_.num_trees() == scores.loc["forest", "trees"] == 200


def test_the_router_model_choice_is_the_same_for_the_same_seed():
    signal = lambda X: np.tanh(X[:, 0]) + 0.2 * X[:, 2]  # noqa: E731
    (first, first_scores), (second, second_scores) = _large_choice(signal), _large_choice(signal)
    pd.testing.assert_frame_equal(first_scores, second_scores)
    X = np.random.default_rng(1).standard_normal((50, 4))
    np.testing.assert_array_equal(first.predict(X), second.predict(X))


@pytest.mark.parametrize("n_rows", [300, 2400])
def test_constant_labels_are_predicted_exactly_whatever_the_design(n_rows):
    # Nothing to learn: on large data boosting cannot beat the mean, which would call the forest;
    # but LightGBM's forest gives a tree that cannot split the output 0, not the labels' mean.
    X = np.random.default_rng(0).standard_normal((n_rows, 4))
    model, scores = validated_router_model(X, np.full(n_rows, 0.25), random_state=0)
    np.testing.assert_allclose(model.predict(X[:20]), 0.25, atol=1e-12)
    assert scores["chosen"].to_dict()["boosted"], scores
    assert model.get_params()["boosting_type"] == "gbdt"


def test_a_forest_partner_that_cannot_split_is_left_out():
    # 20 rows: 63% subsamples of 12 rows and leaves of 5 leave some of the forest's trees unsplit
    rng = np.random.default_rng(0)
    X = rng.standard_normal((20, 6))
    y = 5.0 + rng.standard_normal(20)
    model, scores = validated_router_model(X, y, random_state=0)
    assert scores.loc["boosted", "chosen"]
    assert model.get_params()["boosting_type"] == "gbdt"  # the boosted trees alone
    assert abs(model.predict(X).mean() - y.mean()) < 0.1


def test_on_small_data_the_router_candidates_keep_their_sizes():
    split = make_split(700, 6, n_test=200, n_gold=60)
    router = _fit(PooledRouter(random_state=0), split)
    scores = router.router_model_scores_
    assert scores["trees"].to_dict() == {"boosted": 300.0, "forest": 200.0}
    if scores.loc["boosted", "chosen"]:
        assert _trees(router.router_model_) == {"boosted": 300, "forest": ROUTER_AVERAGE_TREES}
    else:
        assert router.router_model_.booster_.num_trees() == 200


def test_a_given_router_model_is_not_validated():
    split = make_split(700, 6, n_test=200, n_gold=60)
    router = _fit(PooledRouter(router_model=RidgeCV(), random_state=0), split)
    assert router.router_model_scores_ is None
    assert isinstance(router.router_model_, RidgeCV)


# -- scale equivariance --------------------------------------------------------------------------
_ROUTERS = {
    **{cls.__name__: cls for cls in BASELINES},
    **{
        learner: (lambda learner=learner, **kw: MetaRouter(learner=learner, **kw))
        for learner in ("r", "dr", "causal_forest", "forest_dr")
    },
}


@pytest.mark.parametrize("name", list(_ROUTERS))
def test_rescaling_the_features_leaves_the_predictions_unchanged(name):
    split = make_split(600, 6, n_test=150, n_gold=80)
    X_train, X_test = split.X_train.to_numpy(), split.X_test.to_numpy()
    original = _fit(_ROUTERS[name](random_state=0), split).predict(X_test)
    for factor in (1e-3, np.array([1e-3, 0.05, 1.0, 30.0, 1e3, 7.0])):  # all, or per column
        rescaled = _fit(_ROUTERS[name](random_state=0), _Scaled(split, X_train * factor)).predict(
            X_test * factor
        )
        np.testing.assert_allclose(rescaled, original, rtol=1e-6, atol=1e-9)
        ranking = np.argsort(original, kind="stable")
        assert np.array_equal(np.argsort(rescaled, kind="stable"), ranking)


def test_rescaling_leaves_auto_choice_and_ranking_unchanged():
    split = make_split(400, 6, n_test=100, n_gold=60)
    X_train, X_test = split.X_train.to_numpy(), split.X_test.to_numpy()
    original = _fit(MetaRouter(learner="auto", random_state=0), split)
    rescaled = _fit(MetaRouter(learner="auto", random_state=0), _Scaled(split, X_train * 1e-3))
    assert rescaled.learner_ == original.learner_
    np.testing.assert_allclose(
        rescaled.predict(X_test * 1e-3), original.predict(X_test), rtol=1e-6, atol=1e-9
    )


class _Scaled:
    """A split whose training features are replaced (labels and flags unchanged)."""

    def __init__(self, split, X_train):
        self.X_train, self.y_train, self.gold_train = X_train, split.y_train, split.gold_train

    @classmethod
    def of(cls, X, y, gold):
        split = cls.__new__(cls)
        split.X_train, split.y_train, split.gold_train = X, y, gold
        return split


# -- learner="auto" ------------------------------------------------------------------------------
def test_auto_validates_gold_only_and_ranks_it_first_when_the_judge_is_noise():
    data = _dataset(lambda X: np.zeros(len(X)), n=1200, judge_signal=0.0, gold_noise=0.2)
    split = data.split(n_test=300, n_gold=400, random_state=0)
    router = _fit(MetaRouter(learner="auto", random_state=0), split)
    scores = router.auto_scores_
    assert set(scores.index) == {"r", "dr", "gold_only", "mean_shift", "pooled"}
    # gold-only ranks the held-out GS rows best; it replaces the default only past the margin
    assert scores["gain"].idxmax() == "gold_only"
    gold_only = scores.loc["gold_only"]
    departs = gold_only["diff_vs_default"] > AUTO_MARGIN * gold_only["diff_se"]
    assert router.learner_ == ("gold_only" if departs else "r"), router.auto_reason_
    # pooling and one shift learn from noise: they rank worse than gold-only
    assert (scores.loc[["pooled", "mean_shift"], "gain"] < gold_only["gain"]).all()
    if departs:  # trained on the gold rows alone: the same router as GoldOnlyRouter
        reference = _fit(GoldOnlyRouter(random_state=0), split)
        np.testing.assert_array_equal(router.predict(split.X_test), reference.predict(split.X_test))


def test_auto_keeps_the_default_without_evidence_against_it():
    split = make_split(600, 6, n_test=100, n_gold=60, bias="heterogeneous")
    router = _fit(MetaRouter(learner="auto", random_state=0), split)
    scores = router.auto_scores_
    if router.learner_ != "r":
        chosen = scores.loc[router.learner_]
        assert chosen["diff_vs_default"] > AUTO_MARGIN * chosen["diff_se"]
    else:
        assert "is kept" in router.auto_reason_
        assert (scores["diff_vs_default"] <= AUTO_MARGIN * scores["diff_se"]).all()


def test_diagnose_shows_what_was_validated_and_what_won():
    from metarouter_econml.diagnostics import diagnose

    split = make_split(800, 6, n_test=100, n_gold=100)
    router = _fit(MetaRouter(random_state=0), split)
    report = diagnose(
        router,
        split.X_train,
        split.y_train,
        gold=split.gold_train,
        refuters=(),
        overrule=False,
        figures=False,
        random_state=0,
    )
    stage = report.router_config["final_stage"]
    assert f"{router.final_stage_} (chosen)" in stage
    assert all(name in stage for name in ("linear", "sparse", "boosted"))
    assert "(chosen)" in report.router_config["router_model_choice"]
    model = report.router_config["router_model"]
    if router.router_model_scores_.loc["boosted", "chosen"]:
        assert (
            model
            == "average of boosted: LGBMRegressor (300 trees), forest: LGBMRegressor (50 trees)"
        )
    else:
        assert model == "LGBMRegressor (200 trees)"
    assert "final_stage" in report.to_markdown()
