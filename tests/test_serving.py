"""The serving path gives the wrappers' bits: predict/route/estimate_bias through raw predictors."""

import pickle
import warnings

import numpy as np
import pytest
from conftest import feature_layouts, make_split
from lightgbm import LGBMRegressor
from sklearn.ensemble import VotingRegressor
from sklearn.linear_model import Ridge

from metarouter_econml import MeanShiftRouter, MetaRouter, PooledRouter, load
from metarouter_econml._compat import lightgbm_booster_predictor
from metarouter_econml._routers._serving import serving_models, voting_predictor


@pytest.fixture(scope="module")
def split():
    return make_split(1500, 8, n_test=500, n_gold=120, seed=2)


def _fit(router, split, X=None):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        X = split.X_train if X is None else X
        return router.fit(X, split.y_train, gold=split.gold_train)


def _lgbm(random_state=0, **params):
    return LGBMRegressor(
        n_estimators=40, num_leaves=7, verbose=-1, random_state=random_state, **params
    )


def _averaged(n_forests=1, **params):
    """Boosted trees averaged with ``n_forests`` LightGBM random forests."""
    forests = [
        (
            f"forest{i}",
            _lgbm(
                boosting_type="rf",
                subsample=0.632,
                subsample_freq=1,
                colsample_bynode=0.33,
                random_state=i,
            ),
        )
        for i in range(n_forests)
    ]
    return VotingRegressor([("boosted", _lgbm()), *forests], **params)


ROUTERS = {
    "meta r": lambda: MetaRouter(random_state=0),
    "meta dr": lambda: MetaRouter(learner="dr", random_state=0),
    "meta causal_forest": lambda: MetaRouter(learner="causal_forest", random_state=0),
    "meta trim": lambda: MetaRouter(overlap="trim", random_state=0),
    "meta n_jobs=2": lambda: MetaRouter(n_jobs=2, random_state=0),
    "pooled huber lgbm": lambda: PooledRouter(
        router_model=LGBMRegressor(n_estimators=40, objective="huber", max_depth=3, verbose=-1),
        random_state=0,
    ),
    "mean shift ridge": lambda: MeanShiftRouter(router_model=Ridge(), random_state=0),
    "meta averaged": lambda: MetaRouter(router_model=_averaged(), random_state=0),
    "pooled averaged n_jobs=2": lambda: PooledRouter(
        router_model=_averaged(2, n_jobs=2), n_jobs=2, random_state=0
    ),
}


@pytest.mark.parametrize("name", sorted(ROUTERS))
def test_serving_path_gives_the_wrappers_bits(split, name):
    router = _fit(ROUTERS[name](), split, split.X_train.to_numpy())
    for kind, X in feature_layouts(split).items():
        expected = np.asarray(router.router_model_.predict(X), dtype=np.float64) / router.scale_
        np.testing.assert_array_equal(router.predict(X), expected, err_msg=kind)
        if isinstance(router, MetaRouter):
            Z = (np.asarray(X, dtype=np.float64) - router.cate_feature_mean_) / (
                router.cate_feature_scale_
            )
            Z = Z.astype(np.float32).astype(np.float64)  # what the CATE estimator sees
            effect = np.ravel(router.cate_estimator_.effect(Z)).astype(np.float64)
            np.testing.assert_array_equal(router.estimate_bias(X), effect, err_msg=kind)


def test_lightgbm_router_models_take_the_booster_path(split):
    router = _fit(MetaRouter(router_model=_lgbm(), random_state=0), split)
    assert lightgbm_booster_predictor(router.router_model_) is not None
    assert serving_models(router).psi is not router.router_model_.predict
    other = _fit(MeanShiftRouter(router_model=Ridge(), random_state=0), split)
    assert lightgbm_booster_predictor(other.router_model_) is None


@pytest.mark.parametrize("n_forests", [1, 2])
def test_averaged_router_models_average_the_boosters_bit_for_bit(split, n_forests):
    router = _fit(
        PooledRouter(router_model=_averaged(n_forests), random_state=0),
        split,
        split.X_train.to_numpy(),
    )
    model = router.router_model_
    predictor = voting_predictor(model)
    assert predictor is not None and serving_models(router).psi is not model.predict
    for kind, X in feature_layouts(split).items():
        X = np.asarray(X, dtype=np.float64)
        assert np.array_equal(predictor(X), model.predict(X)), kind
        assert np.array_equal(router.predict(X), model.predict(X) / router.scale_), kind
    boosted, forest = (part.predict(split.X_test.to_numpy()) for part in model.estimators_[:2])
    assert not np.array_equal(boosted, forest)  # the parts differ: a real average


def test_other_averages_use_their_own_predict(split):
    for model in [
        _averaged(weights=[1.0, 2.0]),
        VotingRegressor([("boosted", _lgbm()), ("ridge", Ridge())]),
    ]:
        router = _fit(PooledRouter(router_model=model, random_state=0), split)
        assert voting_predictor(router.router_model_) is None
        assert serving_models(router).psi == router.router_model_.predict
    plain = _lgbm().fit(np.zeros((3, split.X_train.shape[1])), np.arange(3.0))
    assert voting_predictor(plain) is None


def test_the_cache_follows_a_refit_and_is_not_pickled(split):
    router = _fit(MetaRouter(random_state=0), split)
    first = router.predict(split.X_test)
    refit = _fit(router, make_split(1500, 8, n_test=500, n_gold=120, seed=3))
    assert not np.array_equal(refit.predict(split.X_test), first)  # a stale cache would repeat
    before = dict(router.__dict__)
    router.predict(split.X_test)
    assert router.__dict__.keys() == before.keys()  # predicting changes no attribute
    clone = pickle.loads(pickle.dumps(router))
    np.testing.assert_array_equal(clone.predict(split.X_test), router.predict(split.X_test))


def test_loaded_routers_serve_the_same_bits(split, tmp_path):
    for learner in ("r", "dr"):
        router = _fit(MetaRouter(learner=learner, random_state=0), split)
        router.save(tmp_path / f"{learner}.mr")
        twin = load(tmp_path / f"{learner}.mr")
        for kind, X in feature_layouts(split).items():
            np.testing.assert_array_equal(twin.predict(X), router.predict(X), err_msg=kind)
            np.testing.assert_array_equal(twin.estimate_bias(X), router.estimate_bias(X))


def test_the_fast_array_path_keeps_the_checks(split):
    router = _fit(MetaRouter(random_state=0), split)  # fitted on a DataFrame: names recorded
    X = split.X_test.to_numpy()
    with pytest.warns(UserWarning, match="X does not have valid feature names"):
        router.predict(X)
    bad = X.copy()
    bad[3, 2] = np.nan
    with pytest.raises(ValueError, match=r"^`X` must be finite; got 1 NaN"):
        router.predict(bad)
    with pytest.raises(ValueError, match="features"):
        router.predict(X[:, :-1])
    assert router.predict(X[:0]).shape == (0,)


def test_routing_from_a_thread_pool_gives_the_sequential_answers(split):
    """A web server calls one fitted router from many threads: same decisions, no corruption."""
    from concurrent.futures import ThreadPoolExecutor

    router = _fit(MetaRouter(random_state=0), split, split.X_train.to_numpy())
    X = split.X_test.to_numpy()
    weight = router.threshold_for_ratio(X, 0.4)
    expected = router.route(X, weight)
    fresh = pickle.loads(pickle.dumps(router))  # its serving cache is built under contention

    def one(i):
        return bool(fresh.route(X[i : i + 1], weight)[0]), float(
            fresh.estimate_bias(X[i : i + 1])[0]
        )

    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(one, list(range(len(X))) * 3))
    decisions = np.array([a[0] for a in answers]).reshape(3, -1)
    assert (decisions == expected).all()
    bias = np.array([a[1] for a in answers]).reshape(3, -1)
    # one row at a time, as the threads did (a batch's matrix product rounds differently)
    sequential = np.array([router.estimate_bias(X[i : i + 1])[0] for i in range(len(X))])
    np.testing.assert_array_equal(bias, np.tile(sequential, (3, 1)))
