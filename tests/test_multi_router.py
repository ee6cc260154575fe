"""MultiMetaRouter: agreement with two-model routers, known truth, routing, input checks."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from metarouter_econml import MetaRouter, MultiMetaRouter, PooledRouter

COLUMNS = ["query", "model", "opponent", "label", "gold"]
NAMES = ["m0", "m1", "m2", "m3"]


def _truth(X):
    """Known quality (gold scale) and judge bias (preference scale) of four models."""
    n = X.shape[0]
    quality = np.c_[np.zeros(n), X[:, 0], -X[:, 1], 0.4 + 0 * X[:, 0]]
    bias = np.c_[np.zeros(n), 0.8 * X[:, 2], 0.5 + 0 * X[:, 0], -0.8 * X[:, 0]]
    return quality, bias


def _pairwise_data(n_queries=2400, n_gold=150, seed=0):
    """Two random pairs per query; gold labels on the first ``n_gold`` queries."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_queries, 4))
    quality, bias = _truth(X)
    rows = []
    for q in range(n_queries):
        gold = q < n_gold
        for _ in range(2):
            i, j = rng.choice(4, size=2, replace=False)
            gap = quality[q, i] - quality[q, j]
            label = gap + rng.normal(scale=0.5)
            if not gold:  # the judge: another scale and a per-model bias
                label = 0.6 * gap + bias[q, i] - bias[q, j] + rng.normal(scale=0.5)
            rows.append((q, NAMES[i], NAMES[j], label, gold))
    return X, pd.DataFrame(rows, columns=COLUMNS)


@pytest.fixture(scope="module")
def pairwise():
    X, comparisons = _pairwise_data()
    test = np.random.default_rng(1).normal(size=(500, 4))
    return X, comparisons, test


@pytest.fixture(scope="module")
def shared(pairwise):
    X, comparisons, _ = pairwise
    return MultiMetaRouter(random_state=0).fit(X, comparisons)


@pytest.fixture(scope="module")
def pooled(pairwise):
    X, comparisons, _ = pairwise
    return MultiMetaRouter(structure="none", random_state=0).fit(X, comparisons)


def _regret(router, X_test):
    """Mean gold quality lost against the best model per query, routing by quality alone."""
    quality, _ = _truth(X_test)
    chosen = router.predict(X_test).to_numpy().argmax(axis=1)
    return float(np.mean(quality.max(axis=1) - quality[np.arange(len(chosen)), chosen]))


# -- two models: the two-model routers ------------------------------------------------------------
def _two_model_data(seed=0, n=400, n_gold=60):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    gold = np.arange(n) < n_gold
    gain = X[:, 0] + rng.normal(scale=0.5, size=n)
    y = np.where(gold, gain, 0.5 * gain + 0.4 * X[:, 1] + rng.normal(scale=0.3, size=n))
    return X, y, gold


def test_two_models_pairwise_is_the_meta_router():
    X, y, gold = _two_model_data()
    comparisons = pd.DataFrame(
        {
            "query": np.arange(len(y)),
            "model": "primary",
            "opponent": "alternative",
            "label": y,
            "gold": gold,
        }
    )
    multi = MultiMetaRouter(reference="alternative", random_state=3).fit(X, comparisons)
    single = MetaRouter(random_state=3).fit(X, y, gold=gold)
    np.testing.assert_allclose(multi.predict(X)["primary"], single.predict(X))
    np.testing.assert_array_equal(multi.predict(X)["alternative"], 0.0)
    np.testing.assert_allclose(multi.estimate_bias(X)["primary"], -single.estimate_bias(X))
    # the other orientation of the same comparisons: the same router
    flipped = comparisons.assign(model="alternative", opponent="primary", label=-y)
    again = MultiMetaRouter(reference="alternative", random_state=3).fit(X, flipped)
    np.testing.assert_allclose(again.predict(X)["primary"], single.predict(X))


def test_two_models_pointwise_is_the_meta_router():
    rng = np.random.default_rng(5)
    X, y, gold = _two_model_data(seed=1)
    alternative = rng.normal(size=len(y))  # any grade of the alternative; the gain is y
    rows = pd.DataFrame(
        {
            "query": np.repeat(np.arange(len(y)), 2),
            "model": np.tile(["alternative", "primary"], len(y)),
            "opponent": None,
            "label": np.ravel(np.c_[alternative, alternative + y]),
            "gold": np.repeat(gold, 2),
        }
    )
    multi = MultiMetaRouter(reference="alternative", random_state=0).fit(X, rows)
    single = MetaRouter(random_state=0).fit(X, y, gold=gold)
    assert multi.kind_ == "pointwise"
    np.testing.assert_allclose(multi.predict(X)["primary"], single.predict(X), atol=1e-12)


def test_two_models_without_correction_is_pooling():
    X, y, gold = _two_model_data(seed=2)
    comparisons = pd.DataFrame(
        {"query": np.arange(len(y)), "model": "p", "opponent": "a", "label": y, "gold": gold}
    )
    multi = MultiMetaRouter(structure="none", reference="a", random_state=0).fit(X, comparisons)
    single = PooledRouter(random_state=0).fit(X, y, gold=gold)
    np.testing.assert_allclose(multi.predict(X)["p"], single.predict(X))
    np.testing.assert_array_equal(multi.estimate_bias(X).to_numpy(), 0.0)


# -- many models: known truth ----------------------------------------------------------------------
def test_shared_bias_recovers_the_judges_bias(shared, pairwise):
    _, _, X_test = pairwise
    _, bias = _truth(X_test)
    estimate = shared.estimate_bias(X_test)
    assert list(estimate.columns) == NAMES
    np.testing.assert_array_equal(estimate["m0"], 0.0)  # the reference
    for k in (1, 3):  # heterogeneous biases: the estimate follows them
        assert np.corrcoef(estimate.iloc[:, k], bias[:, k])[0, 1] > 0.8
    # the constant bias of m2 (0.5 on the preference scale) is found, not its sign flipped
    assert 0.25 < estimate["m2"].mean() < 0.75


def test_debiasing_routes_better_than_pooling(shared, pooled, pairwise):
    _, _, X_test = pairwise
    assert _regret(shared, X_test) < 0.6 * _regret(pooled, X_test)


def test_independent_structure_also_learns_and_is_kept_per_pair(pairwise):
    X, comparisons, X_test = pairwise
    router = MultiMetaRouter(structure="independent", random_state=0).fit(X, comparisons)
    assert router.bias_estimator_ is None
    assert len(router.pair_bias_) == 6
    _, bias = _truth(X_test)
    estimate = router.estimate_bias(X_test)
    assert np.corrcoef(estimate["m3"], bias[:, 3])[0, 1] > 0.6


def test_the_router_model_is_validated_but_not_averaged(shared):
    # the two-model routers average kept boosted trees with a small forest; here that forest,
    # seeing a third of the columns per split, rarely splits on the pair coding: on these data
    # the average's regret was 5x the boosted trees' (0.024 against 0.005)
    assert shared.router_model_scores_.loc["boosted", "chosen"]
    assert shared.router_model_.get_params()["boosting_type"] == "gbdt"


def test_predictions_are_relative_to_the_reference(pairwise, shared):
    X, comparisons, X_test = pairwise
    other = MultiMetaRouter(reference="m2", random_state=0).fit(X, comparisons)
    assert other.reference_ == "m2"
    np.testing.assert_array_equal(other.predict(X_test)["m2"], 0.0)
    # routing does not depend on the reference: the same choice on most queries
    costs = {"m0": 0.0, "m1": 0.2, "m2": 0.5, "m3": 1.0}
    same = shared.route(X_test, costs, 0.3) == other.route(X_test, costs, 0.3)
    assert same.mean() > 0.8


# -- routing ---------------------------------------------------------------------------------------
def test_route_picks_quality_minus_weighted_cost(shared, pairwise):
    _, _, X_test = pairwise
    costs = {"m0": 0.1, "m1": 0.4, "m2": 0.6, "m3": 1.0}
    quality = shared.predict(X_test).to_numpy()
    cost = np.array([costs[name] for name in shared.models_])
    for weight in (0.0, 0.5, 3.0):
        expected = np.array(shared.models_)[np.argmax(quality - weight * cost, axis=1)]
        np.testing.assert_array_equal(shared.route(X_test, costs, weight), expected)
    # a huge weight sends everything to the cheapest model
    assert set(shared.route(X_test, costs, 1e6)) == {"m0"}


def test_route_breaks_ties_toward_the_cheaper_model(pairwise):
    X, comparisons, X_test = pairwise
    router = MultiMetaRouter(structure="none", random_state=0).fit(X, comparisons)
    # equal costs and the reference's quality 0: where m1 predicts exactly 0 both tie
    costs = {"m0": 0.5, "m1": 0.5, "m2": 0.5, "m3": 0.5}
    quality = router.predict(X_test).to_numpy()
    weight = 0.0
    decisions = router.route(X_test, costs, weight)
    np.testing.assert_array_equal(decisions, np.array(router.models_)[quality.argmax(axis=1)])
    cheap_first = {"m0": 1.0, "m1": 0.0, "m2": 1.0, "m3": 1.0}
    tied = np.zeros((1, 4))
    assert router._decide(tied, np.array(list(cheap_first.values())), 0.0)[0] == 1


def test_cost_weight_for_budget_meets_the_budget_and_is_the_smallest(shared, pairwise):
    _, _, X_test = pairwise
    costs = {"m0": 0.1, "m1": 0.4, "m2": 0.6, "m3": 1.0}
    cost = pd.Series(costs)
    for budget in (0.2, 0.45):
        weight = shared.cost_weight_for_budget(X_test, costs, budget)
        spent = cost[shared.route(X_test, costs, weight)].mean()
        assert spent <= budget + 1e-12
        assert cost[shared.route(X_test, costs, weight * (1 - 1e-6))].mean() > budget
    assert shared.cost_weight_for_budget(X_test, costs, 1.0) == 0.0
    with pytest.raises(ValueError, match="`budget` must be at least the cheapest"):
        shared.cost_weight_for_budget(X_test, costs, 0.05)


# -- contract --------------------------------------------------------------------------------------
def test_same_seed_same_router_and_clone(pairwise, shared):
    X, comparisons, X_test = pairwise
    copy = comparisons.copy()
    again = clone(shared).fit(X, comparisons)
    pd.testing.assert_frame_equal(again.predict(X_test), shared.predict(X_test))
    pd.testing.assert_frame_equal(comparisons, copy)  # user data untouched
    assert clone(shared).get_params() == shared.get_params()


def test_a_model_with_few_gold_labels_is_named(pairwise):
    X, comparisons, _ = pairwise
    thin = comparisons[
        ~(comparisons["gold"] & comparisons[["model", "opponent"]].eq("m3").any(axis=1))
    ]
    keep_some = comparisons[
        comparisons["gold"] & comparisons[["model", "opponent"]].eq("m3").any(axis=1)
    ].head(3)
    data = pd.concat([thin, keep_some]).reset_index(drop=True)
    with pytest.warns(UserWarning, match=r"model\(s\) \{'m3': 3\}"):
        router = MultiMetaRouter(random_state=0).fit(X, data)
    assert router.coverage_.per_model.loc["m3", "gold_labels"] == 3
    assert router.coverage_.per_pair.loc[("m0", "m3"), "gold_labels"] <= 3


def test_pointwise_grades_among_three_models():
    rng = np.random.default_rng(4)
    X = rng.normal(size=(900, 3))
    quality = np.c_[np.zeros(900), X[:, 0], 0.5 - X[:, 1]]
    rows = []
    for q in range(900):
        gold = q < 120
        for k in range(3):
            grade = quality[q, k] + rng.normal(scale=0.3)
            if not gold:
                grade = grade + (0.6 if k == 2 else 0.0)  # the judge favours model 2
            rows.append((q, f"g{k}", None, grade, gold))
    comparisons = pd.DataFrame(rows, columns=COLUMNS)
    router = MultiMetaRouter(random_state=0).fit(X, comparisons)
    assert router.kind_ == "pointwise"
    estimate = router.estimate_bias(X)
    assert 0.3 < estimate["g2"].mean() < 0.9
    assert abs(estimate["g1"].mean()) < 0.25


@pytest.mark.parametrize(
    ("change", "error", "match"),
    [
        (lambda c: c.to_dict(), TypeError, "must be a pandas DataFrame"),
        (lambda c: c.drop(columns="gold"), ValueError, r"missing \['gold'\]"),
        (lambda c: c.assign(query=c["query"] + 10_000), ValueError, "row positions of `X`"),
        (lambda c: c.assign(query=c["query"].astype(float)), TypeError, "integer row positions"),
        (lambda c: c.assign(gold=c["gold"].astype(int)), TypeError, "must be boolean"),
        (lambda c: c.assign(label=np.nan), ValueError, "must be finite"),
        (lambda c: c.assign(opponent=c["model"]), ValueError, "model == opponent"),
        (
            lambda c: c.assign(opponent=c["opponent"].where(c.index > 5, None)),
            ValueError,
            "all pairwise",
        ),
        (lambda c: c.assign(gold=True), ValueError, "at least 2 preference-based"),
        (lambda c: c.assign(model=1), TypeError, "model names"),
    ],
)
def test_bad_comparisons_are_refused_by_name(change, error, match):
    X, comparisons = _pairwise_data(n_queries=60, n_gold=20)
    with pytest.raises(error, match=match):
        MultiMetaRouter(random_state=0).fit(X, change(comparisons))


def test_bad_parameters_and_costs(shared, pairwise):
    X, comparisons, X_test = pairwise
    with pytest.raises(ValueError, match="`reference` must be one of the models"):
        MultiMetaRouter(reference="gpt-9").fit(X, comparisons)
    with pytest.raises(ValueError, match="`structure` must be one of"):
        MultiMetaRouter(structure="joint").fit(X, comparisons)
    with pytest.raises(ValueError, match=r"missing \['m3'\]"):
        shared.route(X_test, {"m0": 1, "m1": 1, "m2": 1}, 0.1)
    with pytest.raises(TypeError, match="`costs` must be a mapping"):
        shared.route(X_test, 3.0, 0.1)
    with pytest.raises(ValueError, match="`X` must have 4 features|X has 3 features"):
        shared.predict(X_test[:, :3])


def test_unfitted_router_says_so():
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        MultiMetaRouter().predict(np.zeros((2, 3)))


def test_no_warning_with_enough_gold(pairwise):
    X, comparisons, _ = pairwise
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        MultiMetaRouter(structure="none", random_state=0).fit(X, comparisons)


def test_gold_coverage_counts_by_hand_and_matches_the_router(shared, pairwise):
    from metarouter_econml.diagnostics import gold_coverage

    table = pd.DataFrame(
        [
            (0, "b", "a", 1.0, True),
            (0, "b", "a", -1.0, True),  # a second annotator of the same comparison
            (1, "a", "c", 1.0, False),
            (2, "c", "b", 0.0, True),
        ],
        columns=COLUMNS,
    )
    coverage = gold_coverage(table)
    assert coverage.per_model.loc["a"].to_dict() == {
        "gold_labels": 2,
        "gold_queries": 1,
        "preference_labels": 1,
        "preference_queries": 1,
    }
    assert coverage.per_pair.loc[("a", "b"), "gold_labels"] == 2
    assert coverage.per_pair.loc[("a", "c")].to_dict() == {
        "gold_labels": 0,
        "preference_labels": 1,
    }
    assert coverage.thin_models(2) == ["c"]
    assert coverage.thin_pairs(1) == [("a", "c")]
    assert "Gold coverage per pair" in coverage.to_markdown()
    _, comparisons, _ = pairwise
    pd.testing.assert_frame_equal(gold_coverage(comparisons).per_pair, shared.coverage_.per_pair)


def test_independent_pair_without_gold_gets_a_constant_and_a_warning(pairwise):
    X, comparisons, X_test = pairwise
    pair = comparisons[["model", "opponent"]].apply(frozenset, axis=1) == frozenset({"m1", "m2"})
    data = comparisons[~(pair & comparisons["gold"])].reset_index(drop=True)
    with pytest.warns(UserWarning, match=r"\('m1', 'm2'\)"):
        router = MultiMetaRouter(structure="independent", random_state=0).fit(X, data)
    assert router.pair_bias_[("m1", "m2")] == 0.0
    assert not isinstance(router.pair_bias_[("m0", "m1")], float)


@pytest.mark.parametrize(
    ("learner", "estimator"),
    [("forest", "CausalForestDML"), ("linear", "LinearDML"), ("ridge", "DML")],
)
def test_every_learner_finds_the_bias(learner, estimator):
    X, comparisons = _pairwise_data(n_queries=1200, n_gold=150, seed=3)
    router = MultiMetaRouter(learner=learner, random_state=0).fit(X, comparisons)
    assert type(router.bias_estimator_).__name__ == estimator
    _, bias = _truth(X)
    estimate = router.estimate_bias(X)
    assert np.corrcoef(estimate["m3"], bias[:, 3])[0, 1] > 0.5
