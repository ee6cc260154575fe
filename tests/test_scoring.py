"""The gold-aware scorer ``make_gold_scorer``: gold rows only, gold scale, metadata routing."""

import pickle

import numpy as np
import pandas as pd
import pytest
import sklearn
from conftest import make_data, make_split
from scipy import stats
from sklearn.metrics import mean_squared_error, r2_score
from sklearn.model_selection import GridSearchCV, StratifiedKFold, cross_val_score, cross_validate
from sklearn.pipeline import Pipeline

from metarouter_econml import MetaRouter, PooledRouter
from metarouter_econml.evaluation import (
    GOLD_SCORER_METRICS,
    efficiency_gain_curve,
    make_gold_scorer,
    run_protocol,
)

METRICS = list(GOLD_SCORER_METRICS)


def routing():
    """Metadata routing on, for this block only (never process-wide)."""
    return sklearn.config_context(enable_metadata_routing=True)


@pytest.fixture(scope="module")
def fitted():
    """A pooled router fitted on one split, and that split."""
    split = make_split(600, 6, n_test=150, n_gold=60)
    router = PooledRouter(random_state=0).fit(split.X_train, split.y_train, gold=split.gold_train)
    return router, split


class PsiRouter:
    """Predicts the true gain psi of each row of a dataset, looked up by the DataFrame index."""

    def __init__(self, psi):
        self.psi = np.asarray(psi)

    def predict(self, X):
        return self.psi[X.index.to_numpy()]


def pooled_labels(data, gold):
    """``y`` of a pooled training set: the gold gain on gold rows, the judge's label elsewhere."""
    return np.where(gold, data.gold_gain, data.preference_label)


def expected(metric, labels, predicted, mean_gain=None):
    """The metric computed by hand on the gold rows."""
    if metric == "r2":
        return r2_score(labels, predicted)
    if metric == "neg_mean_squared_error":
        return -mean_squared_error(labels, predicted)
    if metric == "spearman":
        return stats.spearmanr(predicted, labels)[0]
    scale = 1.0 if mean_gain is None else mean_gain
    return efficiency_gain_curve(labels, predicted, normalizer=scale * labels.size).auc


# -- what is scored --------------------------------------------------------------------------------


@pytest.mark.parametrize("metric", METRICS)
def test_score_is_the_metric_on_the_gold_rows(fitted, metric):
    router, split = fitted
    gold = split.gold_train
    labels = split.y_train[gold]
    predicted = router.predict(split.X_train[gold])
    score = make_gold_scorer(metric)(router, split.X_train, split.y_train, gold=gold)
    assert score == pytest.approx(expected(metric, labels, predicted), rel=1e-12)


def test_efficiency_gain_with_mean_gain_and_ratios(fitted):
    router, split = fitted
    gold = split.gold_train
    labels, predicted = split.y_train[gold], router.predict(split.X_train[gold])
    scorer = make_gold_scorer("efficiency_gain", mean_gain=0.2, ratios=[0.1, 0.5, 0.9])
    curve = efficiency_gain_curve(
        labels, predicted, ratios=[0.1, 0.5, 0.9], normalizer=0.2 * labels.size
    )
    assert scorer(router, split.X_train, split.y_train, gold=gold) == pytest.approx(curve.auc)
    # A fixed mean gain only rescales: the per-query default gives the same number times 0.2.
    per_query = make_gold_scorer("efficiency_gain", ratios=[0.1, 0.5, 0.9])
    assert per_query(router, split.X_train, split.y_train, gold=gold) == pytest.approx(
        0.2 * curve.auc
    )


def test_known_truth_psi_is_a_perfect_score():
    data = make_data(400, 6)
    oracle = PsiRouter(data.psi)
    gold = np.ones(len(data), dtype=bool)
    scores = {m: make_gold_scorer(m)(oracle, data.X, data.psi, gold=gold) for m in METRICS}
    assert scores["r2"] == pytest.approx(1.0)
    assert scores["neg_mean_squared_error"] == pytest.approx(0.0)
    assert scores["spearman"] == pytest.approx(1.0)
    assert scores["efficiency_gain"] == pytest.approx(
        efficiency_gain_curve(data.psi, data.psi, normalizer=len(data)).auc
    )
    # Against the noisy gold labels, psi still beats a router that ignores the query.
    noise = np.random.default_rng(0).normal(size=len(data))
    for metric in ("spearman", "efficiency_gain"):
        scorer = make_gold_scorer(metric)
        truth = scorer(oracle, data.X, data.gold_gain, gold=gold)
        guess = scorer(PsiRouter(noise), data.X, data.gold_gain, gold=gold)
        assert truth > guess + 0.1


@pytest.mark.parametrize("metric", METRICS)
def test_preference_rows_do_not_count(fitted, metric):
    router, split = fitted
    scorer = make_gold_scorer(metric)
    gold = split.gold_train
    clean = scorer(router, split.X_train, split.y_train, gold=gold)
    y = split.y_train.copy()
    y[~gold] = np.random.default_rng(1).normal(50.0, 10.0, size=int((~gold).sum()))
    X = split.X_train.copy()
    X.iloc[np.flatnonzero(~gold), 0] = 1e9  # PB rows are not even predicted
    assert scorer(router, X, y, gold=gold) == clean
    assert scorer(router, split.X_train[gold], split.y_train[gold], gold=gold[gold]) == clean


def test_arrays_lists_and_frames_give_the_same_score(fitted):
    router, split = fitted
    scorer = make_gold_scorer("spearman")
    X, y, gold = split.X_train, split.y_train, split.gold_train
    frame = scorer(router, X, y, gold=gold)
    assert scorer(router, X, list(y), gold=pd.Series(gold, index=X.index)) == frame
    on_arrays = PooledRouter(random_state=0).fit(X.to_numpy(), y, gold=gold)
    assert scorer(on_arrays, X.to_numpy(), y, gold=list(gold)) == pytest.approx(frame)


# -- scikit-learn model selection ------------------------------------------------------------------


def test_cross_val_score_routes_gold_and_matches_a_manual_loop():
    data = make_data(600, 6)
    gold = np.zeros(len(data), dtype=bool)
    gold[np.random.default_rng(0).choice(len(data), 120, replace=False)] = True
    y = pooled_labels(data, gold)
    folds = list(StratifiedKFold(3, shuffle=True, random_state=0).split(data.X, gold))
    scorer = make_gold_scorer("spearman")
    with routing():
        router = PooledRouter(random_state=0).set_fit_request(gold=True)
        scores = cross_val_score(
            router, data.X, y, cv=folds, params={"gold": gold}, scoring=scorer, error_score="raise"
        )
    manual = []
    for train, test in folds:
        fitted = PooledRouter(random_state=0).fit(data.X.iloc[train], y[train], gold=gold[train])
        manual.append(scorer(fitted, data.X.iloc[test], y[test], gold=gold[test]))
    np.testing.assert_allclose(scores, manual, rtol=1e-12)


def test_r2_is_the_routers_own_score_and_needs_no_fit_request():
    data = make_data(600, 6)
    gold = np.arange(len(data)) % 4 == 0
    y = pooled_labels(data, gold)
    folds = list(StratifiedKFold(3, shuffle=True, random_state=0).split(data.X, gold))
    with routing():  # the routers request `gold` for fit and score by default
        ours = cross_val_score(
            PooledRouter(random_state=0),
            data.X,
            y,
            cv=folds,
            params={"gold": gold},
            scoring=make_gold_scorer("r2"),
            error_score="raise",
        )
        own = cross_val_score(
            PooledRouter(random_state=0),
            data.X,
            y,
            cv=folds,
            params={"gold": gold},
            error_score="raise",
        )
    np.testing.assert_allclose(ours, own, rtol=1e-12)


def test_efficiency_gain_scorer_reproduces_the_protocol_auc():
    """On a protocol split (test rows all gold), the scorer is run_protocol's AUC."""
    data = make_data(600, 6)
    result = run_protocol(
        data, methods=["pooled"], n_test=150, n_gold=40, n_splits=1, random_state=0, verbose=0
    )
    seed = result.settings["seeds"][0]
    split = data.split(n_test=150, n_gold=40, random_state=seed)
    y = np.empty(len(data))
    y[split.train_index], y[split.test_index] = split.y_train, split.gain_test
    gold = np.ones(len(data), dtype=bool)
    gold[split.train_index] = split.gold_train
    scorer = make_gold_scorer("efficiency_gain", mean_gain=float(data.gold_gain.mean()))
    with routing():
        score = cross_val_score(
            PooledRouter().set_fit_request(gold=True),
            data.X,
            y,
            cv=[(split.train_index, split.test_index)],
            params={"gold": gold},
            scoring=scorer,
            error_score="raise",
        )
    # run_protocol seeds the router with the split's seed; cross_val_score keeps random_state.
    assert score[0] != result.metrics["auc"].item()
    with routing():
        score = cross_val_score(
            PooledRouter(random_state=seed).set_fit_request(gold=True),
            data.X,
            y,
            cv=[(split.train_index, split.test_index)],
            params={"gold": gold},
            scoring=scorer,
            error_score="raise",
        )
    assert score[0] == pytest.approx(result.metrics["auc"].item(), rel=1e-12)


def protocol_folds(n_folds=3, n_train_gold=100, n_test_gold=400, n_preference=1500, seed=0):
    """Data with heterogeneous bias and folds shaped like the paper's splits.

    Fold ``k`` trains on every preference row plus its own 100 gold rows and is scored on 400
    other gold rows, so that each score rests on many gold labels and each fit on few.
    """
    block = n_train_gold + n_test_gold
    n = n_folds * block + n_preference
    data = make_data(n, 8, seed=seed, bias="heterogeneous")
    perm = np.random.default_rng(seed).permutation(n)
    gold = np.zeros(n, dtype=bool)
    gold[perm[: n_folds * block]] = True
    preference = perm[n_folds * block :]
    folds = []
    for k in range(n_folds):
        rows = perm[k * block : (k + 1) * block]
        train = np.sort(np.concatenate([preference, rows[:n_train_gold]]))
        folds.append((train, np.sort(rows[n_train_gold:])))
    return data, pooled_labels(data, gold), gold, folds


def test_grid_search_ranks_the_meta_router_above_pooled():
    data, y, gold, folds = protocol_folds()
    scoring = {
        "spearman": make_gold_scorer("spearman"),
        "efficiency_gain": make_gold_scorer("efficiency_gain", mean_gain=float(np.mean(y[gold]))),
    }
    with routing():
        candidates = [
            MetaRouter(random_state=0).set_fit_request(gold=True),
            PooledRouter(random_state=0).set_fit_request(gold=True),
        ]
        search = GridSearchCV(
            Pipeline([("router", candidates[1])]),
            {"router": candidates},
            scoring=scoring,
            refit="efficiency_gain",
            cv=folds,
            error_score="raise",
        ).fit(data.X, y, gold=gold)
    results = search.cv_results_
    assert isinstance(results["param_router"][0], MetaRouter)
    for name in scoring:
        meta, pooled = results[f"mean_test_{name}"]
        assert meta > pooled, (name, meta, pooled)
        assert results[f"rank_test_{name}"].tolist() == [1, 2]
    assert isinstance(search.best_estimator_.named_steps["router"], MetaRouter)
    assert search.best_score_ == results["mean_test_efficiency_gain"][0]


def test_cross_validate_with_several_gold_scorers():
    data, y, gold, folds = protocol_folds(n_folds=2, n_preference=600)
    scoring = {metric: make_gold_scorer(metric) for metric in METRICS}
    with routing():
        scores = cross_validate(
            PooledRouter(random_state=0).set_fit_request(gold=True),
            data.X,
            y,
            cv=folds,
            params={"gold": gold},
            scoring=scoring,
            error_score="raise",
        )
    for metric in METRICS:
        assert np.isfinite(scores[f"test_{metric}"]).all(), metric


def test_set_score_request_renames_the_metadata():
    data = make_data(600, 6)
    gold = np.zeros(len(data), dtype=bool)
    gold[::5] = True
    y = pooled_labels(data, gold)
    folds = list(StratifiedKFold(2, shuffle=True, random_state=0).split(data.X, gold))
    with routing():
        renamed = cross_val_score(
            PooledRouter(random_state=0).set_fit_request(gold="is_gold"),
            data.X,
            y,
            cv=folds,
            params={"is_gold": gold},
            scoring=make_gold_scorer().set_score_request(gold="is_gold"),
            error_score="raise",
        )
        plain = cross_val_score(
            PooledRouter(random_state=0).set_fit_request(gold=True),
            data.X,
            y,
            cv=folds,
            params={"gold": gold},
            scoring=make_gold_scorer(),
            error_score="raise",
        )
    np.testing.assert_array_equal(renamed, plain)


def test_the_scorer_pickles(fitted):
    router, split = fitted
    scorer = make_gold_scorer("efficiency_gain", mean_gain=0.2)
    again = pickle.loads(pickle.dumps(scorer))
    args = (router, split.X_train, split.y_train)
    assert again(*args, gold=split.gold_train) == scorer(*args, gold=split.gold_train)
    assert repr(again) == "make_gold_scorer(metric='efficiency_gain', mean_gain=0.2)"


# -- errors ----------------------------------------------------------------------------------------


def test_a_fold_with_fewer_than_two_gold_rows_is_refused(fitted):
    router, split = fitted
    gold = np.zeros(len(split.y_train), dtype=bool)
    gold[0] = True
    with pytest.raises(ValueError, match=r"`gold` must mark at least 2 gold-standard rows .*got 1"):
        make_gold_scorer()(router, split.X_train, split.y_train, gold=gold)
    # Inside cross-validation: a test fold holding one gold row.
    data = make_data(600, 6)
    mask = np.zeros(len(data), dtype=bool)
    mask[:60] = True
    y = pooled_labels(data, mask)
    test = np.arange(59, 160)  # holds one gold row, row 59
    folds = [(np.setdiff1d(np.arange(600), test), test)]
    with routing(), pytest.raises(ValueError, match=r"`gold` must mark at least 2 .* got 1\."):
        cross_val_score(
            PooledRouter(random_state=0).set_fit_request(gold=True),
            data.X,
            y,
            cv=folds,
            params={"gold": mask},
            scoring=make_gold_scorer(),
            error_score="raise",
        )


def test_without_metadata_routing_the_scorer_says_what_to_do():
    data = make_data(600, 6)
    gold = np.zeros(len(data), dtype=bool)
    gold[::4] = True
    y = pooled_labels(data, gold)
    # params= reaches fit only: the fit works, the scorer gets no mask.
    with pytest.raises(TypeError, match=r"`gold` is required.*enable_metadata_routing=True"):
        cross_val_score(
            PooledRouter(random_state=0),
            data.X,
            y,
            cv=2,
            params={"gold": gold},
            scoring=make_gold_scorer(),
            error_score="raise",
        )


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"metric": "accuracy"}, ValueError, r"`metric` must be one of \['r2', .*; got 'accuracy'"),
        ({"metric": None}, TypeError, r"`metric` must be one of"),
        ({"metric": "r2", "ratios": [0.5]}, ValueError, r"`ratios` applies to metric='efficiency"),
        ({"metric": "spearman", "mean_gain": 0.1}, ValueError, r"`mean_gain` applies to metric"),
        ({"metric": "efficiency_gain", "mean_gain": 0.0}, ValueError, r"`mean_gain` must be None"),
        ({"metric": "efficiency_gain", "mean_gain": "0.1"}, TypeError, r"`mean_gain` must be"),
        ({"metric": "efficiency_gain", "ratios": [0.5, 0.2]}, ValueError, r"strictly increasing"),
    ],
)
def test_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        make_gold_scorer(**kwargs)


def test_bad_inputs_to_the_scorer(fitted):
    router, split = fitted
    scorer = make_gold_scorer()
    X, y, gold = split.X_train, split.y_train, split.gold_train
    with pytest.raises(TypeError, match=r"`gold` must be a boolean mask"):
        scorer(router, X, y, gold=gold.astype(int))
    with pytest.raises(ValueError, match=r"`X` and `gold` must have the same number of rows"):
        scorer(router, X, y, gold=gold[:-1])
    with pytest.raises(ValueError, match=r"`X` and `y` must have the same number of rows"):
        scorer(router, X, y[:-1], gold=gold)
    with pytest.raises(ValueError, match=r"`y` must be finite"):
        scorer(router, X, np.where(gold, np.nan, y), gold=gold)
    with pytest.raises(ValueError, match=r"`gold` and `X` have different indexes"):
        scorer(router, X, y, gold=pd.Series(gold, index=X.index[::-1]))
    with pytest.raises(ValueError, match=r"`estimator.predict` must return one value per"):
        scorer(_Fixed(3), X, y, gold=gold)
    with pytest.raises(ValueError, match=r"`gold` must be True or the name"):
        scorer.set_score_request(gold=False)


class _Fixed:
    """Returns ``n`` zeros whatever it is asked."""

    def __init__(self, n):
        self.n = n

    def predict(self, X):
        return np.zeros(self.n)
