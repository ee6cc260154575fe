"""Same data and seed give the same router: across processes, thread counts and repeated fits."""

import hashlib
import json
import os
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest
from conftest import make_split
from sklearn.base import BaseEstimator, RegressorMixin

from metarouter_econml import MetaRouter, PooledRouter
from metarouter_econml.datasets import make_routing_data
from metarouter_econml.evaluation import run_protocol

# Fits a router and a two-split protocol and prints digests of everything they return. Run here
# and in a fresh interpreter, the digests must match bit for bit.
_SCRIPT = textwrap.dedent(
    """
    import hashlib, json, sys, warnings
    import numpy as np
    from metarouter_econml import MetaRouter
    from metarouter_econml.datasets import make_routing_data
    from metarouter_econml.evaluation import run_protocol

    def digest(values):
        return hashlib.sha256(np.ascontiguousarray(values, dtype=np.float64).tobytes()).hexdigest()

    def fingerprints(learner, n_jobs):
        data = make_routing_data(1200, 6, random_state=5)
        split = data.split(n_test=300, n_gold=80, random_state=5)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            router = MetaRouter(learner=learner, n_jobs=n_jobs, random_state=11)
            router.fit(split.X_train, split.y_train, gold=split.gold_train)
            result = run_protocol(
                data, methods=["meta_r", "mean_shift"], n_test=300, n_gold=80, n_splits=2,
                random_state=2, verbose=0,
            )
        metrics = result.metrics.drop(columns="fit_seconds")
        return {
            "predict": digest(router.predict(split.X_test)),
            "estimate_bias": digest(router.estimate_bias(split.X_test)),
            "protocol_metrics": digest(metrics.select_dtypes("number").to_numpy()),
            "protocol_curves": digest(result.curves[["ratio", "gain"]].to_numpy()),
        }

    if __name__ == "__main__":
        print(json.dumps(fingerprints(sys.argv[1], int(sys.argv[2]))))
    """
)


@pytest.fixture(scope="module")
def script(tmp_path_factory):
    path = tmp_path_factory.mktemp("determinism") / "fingerprints.py"
    path.write_text(_SCRIPT)
    return path


def _run_in_fresh_process(script, learner, n_jobs):
    # A different hash seed makes any dependence on set/dict iteration order visible.
    env = {**os.environ, "PYTHONHASHSEED": "123"}
    completed = subprocess.run(
        [sys.executable, str(script), learner, str(n_jobs)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    return json.loads(completed.stdout.strip().splitlines()[-1])


def _fingerprints_here(script, learner, n_jobs):
    namespace = {"__name__": "fingerprints"}
    exec(compile(script.read_text(), str(script), "exec"), namespace)  # noqa: S102
    return namespace["fingerprints"](learner, n_jobs)


@pytest.fixture(scope="module")
def here(script):
    """This process's fingerprints per learner (one thread), computed once per module."""
    return {learner: _fingerprints_here(script, learner, 1) for learner in ("r", "dr")}


@pytest.mark.parametrize("learner", ["r", "dr"])
def test_two_processes_give_identical_results(script, here, learner):
    assert _run_in_fresh_process(script, learner, 1) == here[learner]


def test_fresh_process_with_two_threads_matches_one_thread(script, here):
    assert _run_in_fresh_process(script, "r", 2) == here["r"]


def _fit(router, split):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return router.fit(split.X_train, split.y_train, gold=split.gold_train)


@pytest.fixture(scope="module")
def split():
    return make_split(2000, 8, n_test=400, n_gold=150, seed=1)


@pytest.mark.parametrize(
    "params",
    [
        {"learner": "r"},
        {"learner": "dr"},
        {"learner": "r", "overlap": "trim"},
    ],
    ids=["r", "dr", "r-trim"],
)
def test_n_jobs_changes_speed_not_results(split, params):
    one = _fit(MetaRouter(random_state=3, n_jobs=1, **params), split)
    two = _fit(MetaRouter(random_state=3, n_jobs=2, **params), split)
    np.testing.assert_array_equal(one.predict(split.X_test), two.predict(split.X_test))
    np.testing.assert_array_equal(one.estimate_bias(split.X_test), two.estimate_bias(split.X_test))
    np.testing.assert_array_equal(one.propensity_, two.propensity_)
    if params.get("overlap") == "trim":
        np.testing.assert_array_equal(one.overlap_mask_, two.overlap_mask_)
    # the fitted LightGBM models (the router model's parts, when it averages) use the threads
    assert _threads(one.router_model_) == {1} and _threads(two.router_model_) == {2}


def _threads(model) -> set:
    """The ``n_jobs`` of a LightGBM router model, or of each part of an averaged one."""
    parts = getattr(model, "estimators_", [model])
    return {part.n_jobs for part in parts}


def test_n_jobs_applies_to_the_baselines_too(split):
    one = _fit(PooledRouter(random_state=0, n_jobs=1), split)
    all_cores = _fit(PooledRouter(random_state=0, n_jobs=-1), split)
    np.testing.assert_array_equal(one.predict(split.X_test), all_cores.predict(split.X_test))


@pytest.mark.parametrize(
    ("n_jobs", "error"), [(0, ValueError), (1.5, TypeError), (True, TypeError), ("2", TypeError)]
)
def test_bad_n_jobs_is_refused(split, n_jobs, error):
    with pytest.raises(error, match=r"`n_jobs` must be None or a non-zero int; got"):
        _fit(MetaRouter(n_jobs=n_jobs), split)


def test_a_given_router_model_keeps_its_own_threads(split):
    from lightgbm import LGBMRegressor

    router = _fit(
        PooledRouter(router_model=LGBMRegressor(n_estimators=20, n_jobs=1, verbose=-1), n_jobs=2),
        split,
    )
    assert router.router_model_.n_jobs == 1


def test_protocol_digest_is_stable_within_a_process(script, here):
    # a second run in this process, after every other fit of the module so far
    first = _fingerprints_here(script, "r", 1)
    assert first == here["r"]
    # the digests are real: a different seed changes them
    data = make_routing_data(1200, 6, random_state=5)
    result = run_protocol(
        data,
        methods=["meta_r", "mean_shift"],
        n_test=300,
        n_gold=80,
        n_splits=2,
        random_state=3,
        verbose=0,
    )
    values = result.metrics.drop(columns="fit_seconds").select_dtypes("number").to_numpy()
    other = hashlib.sha256(np.ascontiguousarray(values, dtype=np.float64).tobytes()).hexdigest()
    assert other != first["protocol_metrics"]


class _RecordingRegressor(BaseEstimator, RegressorMixin):
    """Predicts the mean; remembers the dtype of the features it was fitted on."""

    def fit(self, X, y, sample_weight=None):
        self.seen_dtype_ = np.asarray(X).dtype
        self.mean_ = float(np.mean(y))
        return self

    def predict(self, X):
        return np.full(np.asarray(X).shape[0], self.mean_)


def test_float32_features_reach_the_models_without_upcasting(split):
    X32 = split.X_train.to_numpy(dtype=np.float32)
    router = _fit(
        MetaRouter(
            model_y=_RecordingRegressor(), router_model=_RecordingRegressor(), random_state=0
        ),
        _with_features(split, X32),
    )
    assert router.router_model_.seen_dtype_ == np.float32
    assert router.cate_estimator_.models_y[0][0].seen_dtype_ == np.float32
    # and float64 stays float64
    router64 = _fit(MetaRouter(router_model=_RecordingRegressor(), random_state=0), split)
    assert router64.router_model_.seen_dtype_ == np.float64


def _with_features(split, X):
    class _Split:
        X_train, y_train, gold_train = X, split.y_train, split.gold_train

    return _Split
