"""Active gold-label selection: the draw, the strategies, known propensities, the protocol."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from conftest import make_split

from metarouter_econml import MetaRouter
from metarouter_econml._estimation import KnownPropensity, gold_scale_factor
from metarouter_econml.active import (
    STRATEGIES,
    ActiveProtocolResult,
    draw_gold_round,
    run_active_protocol,
    select_gold_queries,
)
from metarouter_econml.active._select import _systematic_draw, inclusion_probability
from metarouter_econml.datasets import make_routing_data


def _fit(router, split, **fit_params):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return router.fit(split.X_train, split.y_train, gold=split.gold_train, **fit_params)


# -- the draw ------------------------------------------------------------------------------------
def test_inclusion_probabilities_sum_to_n_are_capped_and_keep_a_uniform_floor():
    scores = np.r_[1000.0, 50.0, np.ones(98)]
    probability = inclusion_probability(scores, 10, uniform_share=0.2)
    assert probability.sum() == pytest.approx(10)
    assert probability.max() == pytest.approx(1.0)  # the huge score is capped, not above 1
    assert probability.min() >= 0.2 * 10 / 100 - 1e-12
    assert probability[1] > probability[2]
    np.testing.assert_allclose(inclusion_probability(np.zeros(5), 2, 0.2), 0.4)  # no signal


def test_the_systematic_draw_picks_n_distinct_rows_with_the_stated_probabilities():
    rng = np.random.RandomState(0)
    probability = inclusion_probability(np.r_[np.linspace(0.1, 3.0, 19), 40.0], 5, 0.3)
    counts = np.zeros(probability.size)
    n_draws = 4000
    for _ in range(n_draws):
        picked = _systematic_draw(probability, rng)
        assert picked.size == 5 and np.unique(picked).size == 5
        counts[picked] += 1
    se = np.sqrt(probability * (1 - probability) / n_draws)
    assert np.all(np.abs(counts / n_draws - probability) < 4 * se + 1e-9)


# -- select_gold_queries ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def split():
    return make_split(900, 6, n_test=200, n_gold=60, seed=5)


@pytest.fixture(scope="module")
def router(split):
    return _fit(MetaRouter(n_bootstrap=10, random_state=0), split)


@pytest.fixture(scope="module")
def pool(split):
    return split.X_train[~split.gold_train]


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_every_strategy_returns_n_distinct_positions_the_same_for_the_same_seed(
    router, split, pool, strategy
):
    gold_rows = split.X_train[split.gold_train]
    picks = select_gold_queries(router, pool, 12, strategy, X_gold=gold_rows, random_state=3)
    assert picks.dtype.kind == "i" and picks.shape == (12,)
    assert np.unique(picks).size == 12 and picks.min() >= 0 and picks.max() < len(pool)
    again = select_gold_queries(router, pool, 12, strategy, X_gold=gold_rows, random_state=3)
    np.testing.assert_array_equal(picks, again)


def test_overlap_strategy_prefers_the_region_without_gold_rows(router, split, pool):
    # gold rows only where pc1 < 0: candidates with pc1 > 0 have no gold rows like them
    gold_rows = split.X_train[split.gold_train]
    gold_rows = gold_rows[gold_rows["pc1"] < 0]
    chosen = np.concatenate(
        [
            select_gold_queries(router, pool, 40, "overlap", X_gold=gold_rows, random_state=s)
            for s in range(3)
        ]
    )
    share_uncovered = float(np.mean(pool["pc1"].to_numpy()[chosen] > 0))
    assert share_uncovered > np.mean(pool["pc1"] > 0) + 0.1  # 120 draws: SE about 0.05
    with pytest.raises(ValueError, match="needs `X_gold`"):
        select_gold_queries(router, pool, n=5, strategy="overlap")


def test_bias_strategy_prefers_queries_with_wide_bias_intervals(router, pool):
    lower, upper = router.estimate_bias_interval(pool)
    width = upper - lower
    chosen = np.concatenate(
        [select_gold_queries(router, pool, n=20, strategy="bias", random_state=s) for s in range(5)]
    )
    at_random = np.concatenate(
        [select_gold_queries(router, pool, 20, strategy="random", random_state=s) for s in range(5)]
    )
    assert width[chosen].mean() > width[at_random].mean() + 2 * width.std() / np.sqrt(100)
    first = select_gold_queries(router, pool, n=20, strategy="bias", random_state=0)
    assert np.all(np.diff(width[first]) <= 1e-12)  # best first


def test_decision_strategy_prefers_queries_near_the_threshold(router, pool):
    weight = float(np.median(router.predict(pool)))
    distance = np.abs(router.predict(pool) - weight)
    chosen = np.concatenate(
        [
            select_gold_queries(router, pool, 20, "decision", cost_weight=weight, random_state=s)
            for s in range(5)
        ]
    )
    assert distance[chosen].mean() < 0.7 * distance.mean()


def test_auto_is_the_bias_score_without_a_cost_weight_and_weights_it_with_one(router, pool):
    from metarouter_econml.active._select import selection_scores

    bias = selection_scores(router, pool, "bias")
    np.testing.assert_array_equal(selection_scores(router, pool, "auto"), bias)
    weight = float(np.median(router.predict(pool)))
    weighted = selection_scores(router, pool, "auto", cost_weight=weight)
    decision = selection_scores(router, pool, "decision", cost_weight=weight)
    np.testing.assert_allclose(weighted, bias * decision)


def test_probabilities_are_returned_and_sum_to_n(router, pool):
    picks, probability = select_gold_queries(
        router, pool, n=15, strategy="auto", random_state=0, return_probability=True
    )
    assert probability.shape == (len(pool),) and probability.sum() == pytest.approx(15)
    assert probability.min() >= 0.2 * 15 / len(pool) - 1e-12
    assert probability[picks].mean() > probability.mean()


def test_uniform_share_one_is_random_selection(router, pool):
    _, probability = select_gold_queries(
        router, pool, 10, "bias", uniform_share=1.0, random_state=0, return_probability=True
    )
    np.testing.assert_allclose(probability, 10 / len(pool))


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"n": 0}, ValueError, "`n`"),
        ({"n": 10**6}, ValueError, "`n`"),
        ({"n": 2.5}, TypeError, "`n`"),
        ({"n": 5, "strategy": "smart"}, ValueError, "`strategy`"),
        ({"n": 5, "uniform_share": 0.0}, ValueError, "`uniform_share`"),
        ({"n": 5, "cost_weight": "high"}, TypeError, "`cost_weight`"),
    ],
)
def test_bad_selection_arguments_are_refused(router, pool, kwargs, error, message):
    with pytest.raises(error, match=message):
        select_gold_queries(router, pool, **kwargs)


def test_a_pool_with_other_columns_is_refused(router, pool):
    with pytest.raises(ValueError, match="feature"):
        select_gold_queries(router, pool.iloc[:, :3], n=5)


def test_strategies_needing_intervals_say_so_on_a_plain_router(split, pool):
    plain = _fit(MetaRouter(random_state=0), split)
    with pytest.raises(ValueError, match="n_bootstrap"):
        select_gold_queries(plain, pool, n=5, strategy="auto")
    gold_rows = split.X_train[split.gold_train]
    picks = select_gold_queries(plain, pool, 5, "overlap", X_gold=gold_rows, random_state=0)
    assert picks.size == 5


def test_selection_does_not_touch_the_pool(router, pool):
    before = pool.copy(deep=True)
    select_gold_queries(router, pool, n=5, random_state=0)
    pd.testing.assert_frame_equal(pool, before)


# -- known gold probabilities ----------------------------------------------------------------------
def test_known_propensity_returns_the_given_probabilities_and_refuses_unknown_rows():
    X = np.arange(12.0).reshape(6, 2)
    p = np.linspace(0.1, 0.6, 6)
    model = KnownPropensity(X, p).fit(X, np.r_[1, 0, 1, 0, 0, 0])
    np.testing.assert_allclose(model.predict_proba(X[[4, 1]])[:, 1], p[[4, 1]])
    with pytest.raises(ValueError, match="not given"):
        model.predict_proba(X + 0.5)
    with pytest.raises(ValueError, match="equal on rows with equal features"):
        KnownPropensity(np.zeros((2, 2)), np.array([0.1, 0.2])).fit(np.zeros((2, 2)), [0, 1])


def test_a_router_fitted_on_known_probabilities_uses_them_as_its_propensity(split):
    rng = np.random.default_rng(0)
    probability = np.where(split.gold_train, 0.3, 0.05) * rng.uniform(
        0.5, 1.5, split.gold_train.size
    )
    router = _fit(MetaRouter(random_state=0), split, gold_probability=probability)
    np.testing.assert_allclose(router.propensity_, probability)


def test_known_probabilities_weight_the_variance_matching():
    rng = np.random.default_rng(1)
    population = rng.normal(0.0, 1.0, 200_000)
    # an active design that over-samples the tails for gold labels
    chance = np.where(np.abs(population) > 1.0, 0.08, 0.01)
    gold = rng.uniform(size=population.size) < chance
    preference = 2.0 * population[~gold]
    unweighted = gold_scale_factor(population[gold], preference, "variance")
    weighted = gold_scale_factor(
        population[gold],
        preference,
        "variance",
        gold_weight=1 / chance[gold],
        preference_weight=1 / (1 - chance[~gold]),
    )
    assert weighted == pytest.approx(2.0, rel=0.03)
    assert unweighted < 1.6  # the tails inflate the gold spread without the weights


@pytest.mark.parametrize(
    ("edit", "error", "message"),
    [
        (lambda p, g: p[:-1], ValueError, r"same number of rows"),
        (lambda p, g: np.where(g, 0.0, p), ValueError, r"> 0.*gold-standard"),
        (lambda p, g: np.where(g, p, 1.0), ValueError, r"< 1.*preference"),
        (lambda p, g: p + 2, ValueError, r"\[0, 1\]"),
        (lambda p, g: np.where(g, np.nan, p), ValueError, "gold_probability"),
        (lambda p, g: p.astype(str), TypeError, "gold_probability"),
        (lambda p, g: g, TypeError, "gold_probability"),
    ],
)
def test_bad_gold_probabilities_are_refused(split, edit, error, message):
    probability = np.full(split.gold_train.size, 0.1)
    with pytest.raises(error, match=message):
        _fit(MetaRouter(), split, gold_probability=edit(probability, split.gold_train))


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"learner": "auto"}, r"needs a built-in learner"),
        ({"overlap": "trim"}, r"overlap='none'"),
        (
            {"model_t": __import__("sklearn.linear_model").linear_model.LogisticRegression()},
            r"`model_t` also sets",
        ),
    ],
)
def test_gold_probabilities_are_refused_where_they_cannot_be_used(split, params, message):
    with pytest.raises(ValueError, match=message):
        _fit(MetaRouter(**params), split, gold_probability=np.full(split.gold_train.size, 0.1))


def test_an_active_gold_set_does_not_bias_the_estimate():
    # A constant judge bias, which random gold rows recover (the lasso final stage fits a
    # constant). Two rounds of "bias" selection over-sample the edges of the query space; with
    # the known probabilities the mean error of Delta_hat on test queries stays at random
    # selection's (the truth uses the population's gold scale factor).
    errors = {"random": [], "bias": []}
    for seed in range(3):
        data = make_routing_data(n_samples=1000, n_features=6, bias="constant", random_state=seed)
        c = np.std(data.preference_label, ddof=1) / np.std(data.gold_gain, ddof=1)
        truth = c * data.psi - 2.0 * (data.psi - data.delta)  # the bias at the population's c
        split = data.split(n_test=300, n_gold=60, random_state=seed)
        for strategy in errors:
            router = _active_router(split, strategy, seed)
            error = router.estimate_bias(split.X_test) - truth[split.test_index]
            errors[strategy].append(error.mean())
    assert abs(np.mean(errors["bias"]) - np.mean(errors["random"])) < 0.08, errors


def _active_router(split, strategy, seed):
    """Two rounds of 40 gold labels chosen by ``strategy``, fitted on the known probabilities.

    Only the routers that choose a round of a non-random strategy need bootstrap intervals.
    """
    rng = np.random.RandomState(seed)
    gold = split.gold_train.copy()
    chance = None
    for _ in range(3):
        y = np.where(gold, split.gold_gain_train, split.preference_label_train)
        last = gold.sum() >= 140
        n_bootstrap = None if last or strategy == "random" else 5
        router = MetaRouter(n_bootstrap=n_bootstrap, random_state=seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            router.fit(split.X_train, y, gold=gold, gold_probability=chance)
        if last:
            return router
        picked, chance = draw_gold_round(
            router, split.X_train, gold, 40, strategy, gold_probability=chance, random_state=rng
        )
        gold[picked] = True
    return router


@pytest.mark.parametrize(
    "strategy, cost_weight",
    [("random", None), ("bias", None), ("decision", None), ("auto", None), ("auto", 0.1)],
)
def test_draw_gold_round_is_select_gold_queries_on_the_candidates(
    router, split, pool, strategy, cost_weight
):
    # One rule: the same picks in the same order, and this round's chance of every candidate
    # is its inclusion probability (for "decision" without a cost weight the thresholds come
    # from the candidates in both, so the gold rows do not move them).
    picks, probability = draw_gold_round(
        router,
        split.X_train,
        split.gold_train,
        15,
        strategy,
        cost_weight=cost_weight,
        random_state=4,
    )
    chosen, pool_probability = select_gold_queries(
        router,
        pool,
        15,
        strategy,
        cost_weight=cost_weight,
        random_state=4,
        return_probability=True,
    )
    candidates = np.flatnonzero(~split.gold_train)
    np.testing.assert_array_equal(picks, candidates[chosen])
    previous = split.gold_train.mean()
    q = 1 - (1 - probability) / (1 - previous)  # this round's chance of every row
    np.testing.assert_allclose(q[candidates], pool_probability)
    assert np.all(q[split.gold_train] > 0)  # the gold rows' counterfactual chance


def test_draw_gold_round_refuses_more_picks_than_candidates(router, split):
    candidates = np.flatnonzero(~split.gold_train)
    with pytest.raises(ValueError, match="`n`"):
        draw_gold_round(router, split.X_train, split.gold_train, len(candidates) + 1)


# -- the protocol ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def protocol():
    data = make_routing_data(n_samples=700, n_features=6, random_state=0)
    return run_active_protocol(
        data,
        ("random", "auto"),
        n_initial=30,
        batch=20,
        n_rounds=2,
        n_splits=2,
        n_bootstrap=5,
        n_test=150,
        random_state=0,
    )


def test_the_protocol_pairs_strategies_from_the_same_first_fit(protocol):
    metrics = protocol.metrics
    assert set(metrics["n_gold"]) == {30, 50, 70}
    assert len(metrics) == 2 * 2 * 3
    first = metrics[metrics["round"] == 0].pivot(index="split", columns="strategy", values="auc")
    np.testing.assert_array_equal(first["random"], first["auto"])
    later = metrics[metrics["round"] == 2].pivot(index="split", columns="strategy", values="auc")
    assert not np.array_equal(later["random"], later["auto"])


def test_the_summary_pairs_differences_against_random(protocol):
    table = protocol.summary()
    assert list(table.columns) == [
        "strategy",
        "n_gold",
        "auc",
        "auc_se",
        "diff",
        "diff_low",
        "diff_high",
        "n_splits",
    ]
    own = table[table.strategy == "random"]
    np.testing.assert_array_equal(own["diff"], 0.0)
    auto = table[(table.strategy == "auto") & (table.n_gold == 70)].iloc[0]
    wide = protocol.metrics[protocol.metrics.n_gold == 70].pivot(
        index="split", columns="strategy", values="auc"
    )
    assert auto["diff"] == pytest.approx((wide["auto"] - wide["random"]).mean())
    assert auto["diff_low"] < auto["diff"] < auto["diff_high"]
    assert "| auto | 70 |" in protocol.to_markdown()


def test_the_protocol_is_reproducible_and_parallel_splits_change_nothing(protocol):
    data = make_routing_data(n_samples=700, n_features=6, random_state=0)
    again = run_active_protocol(
        data,
        ("random", "auto"),
        n_initial=30,
        batch=20,
        n_rounds=2,
        n_splits=2,
        n_bootstrap=5,
        n_test=150,
        random_state=0,
        n_jobs=2,
    )
    cols = ["split", "strategy", "round", "n_gold", "auc"]
    pd.testing.assert_frame_equal(again.metrics[cols], protocol.metrics[cols])


def test_labels_to_match_interpolates_between_rounds():
    rows = [
        {"split": s, "strategy": k, "round": r, "n_gold": 25 * (r + 1), "auc": a + 0.001 * s}
        for s in range(2)
        for k, curve in {"random": [0.50, 0.56, 0.60], "auto": [0.50, 0.60, 0.62]}.items()
        for r, a in enumerate(curve)
    ]
    result = ActiveProtocolResult(
        pd.DataFrame(rows), {"strategies": ("random", "auto"), "n_splits": 2}
    )
    assert result.labels_to_match("auto", 75) == pytest.approx(50.0)
    assert result.labels_to_match("auto", 50) == pytest.approx(25 + 25 * 0.06 / 0.10)
    assert result.labels_to_match("random", 75) == pytest.approx(75.0)
    with pytest.raises(ValueError, match="`target_gold`"):
        result.labels_to_match("auto", 60)


def test_the_plot_has_one_line_per_strategy(protocol):
    import matplotlib

    matplotlib.use("Agg")
    ax = protocol.plot()
    assert [line.get_label() for line in ax.get_lines()] == ["random", "auto"]


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"strategies": "auto"}, TypeError, "`strategies`"),
        ({"strategies": ("auto", "auto")}, ValueError, "distinct"),
        ({"strategies": ("clever",)}, ValueError, "`strategies`"),
        ({"n_initial": 1}, ValueError, "`n_initial`"),
        ({"batch": 400}, ValueError, "leave at least 2"),
        ({"propensity": "guess"}, ValueError, "`propensity`"),
        ({"n_jobs": 0}, ValueError, "`n_jobs`"),
    ],
)
def test_bad_protocol_arguments_are_refused(kwargs, error, message):
    data = make_routing_data(n_samples=300, n_features=6, random_state=0)
    with pytest.raises(error, match=message):
        run_active_protocol(data, **{"n_splits": 1, "n_rounds": 1, **kwargs})


def test_the_protocol_needs_a_routing_dataset():
    with pytest.raises(TypeError, match="RoutingDataset"):
        run_active_protocol(np.zeros((10, 2)))


def test_an_unfitted_router_is_refused(pool):
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        select_gold_queries(MetaRouter(n_bootstrap=5), pool, n=5)
