"""The Ray code paths: EconML's cross-fitting and the protocol's splits as Ray tasks.

On 2 cores Ray only adds overhead, so these tests check the code paths and that results equal the
ones without Ray for the same seeds, on a local instance (``ray.init(num_cpus=2)``). The tests
that need no Ray (argument checks, the missing-extra message) run without it too.
"""

import contextlib
import io
import sys
import warnings

import numpy as np
import pandas as pd
import pytest
from conftest import make_split
from sklearn.base import clone

from metarouter_econml import MetaRouter
from metarouter_econml.datasets import make_routing_data
from metarouter_econml.evaluation import run_protocol


@pytest.fixture(scope="module")
def local_ray():
    ray = pytest.importorskip("ray")
    started_here = not ray.is_initialized()
    if started_here:
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    if started_here:
        ray.shutdown()


@pytest.fixture(scope="module")
def split():
    # Equality of local and Ray fits needs no statistical power: a small split keeps Ray's
    # per-task overhead, not the fits, the cost of this module.
    return make_split(1000, 6, n_test=200, n_gold=80, seed=4)


def _fit(router, split):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return router.fit(split.X_train, split.y_train, gold=split.gold_train)


@pytest.mark.parametrize("learner", ["r", "dr"])
def test_meta_router_on_ray_equals_the_local_fit(local_ray, split, learner):
    local = _fit(MetaRouter(learner=learner, random_state=0), split)
    on_ray = _fit(MetaRouter(learner=learner, random_state=0, use_ray=True), split)
    assert on_ray.cate_estimator_.use_ray is True
    np.testing.assert_array_equal(local.predict(split.X_test), on_ray.predict(split.X_test))
    np.testing.assert_array_equal(
        local.estimate_bias(split.X_test), on_ray.estimate_bias(split.X_test)
    )
    np.testing.assert_array_equal(local.propensity_, on_ray.propensity_)


def test_ray_and_trimming_and_clone(local_ray, split):
    router = MetaRouter(overlap="trim", use_ray=True, random_state=1)
    assert clone(router).get_params()["use_ray"] is True
    local = _fit(MetaRouter(overlap="trim", random_state=1), split)
    on_ray = _fit(router, split)
    np.testing.assert_array_equal(local.predict(split.X_test), on_ray.predict(split.X_test))


PROTOCOL = {
    "methods": ["meta_r", "mean_shift", "gold_only"],
    "n_test": 200,
    "n_gold": 60,
    "n_splits": 2,
    "random_state": 0,
    "verbose": 0,
}


def test_protocol_on_ray_equals_the_local_run(local_ray):
    data = make_routing_data(900, 6, random_state=0)
    local = run_protocol(data, **PROTOCOL)
    on_ray = run_protocol(data, use_ray=True, **PROTOCOL)
    pd.testing.assert_frame_equal(
        local.metrics.drop(columns="fit_seconds"), on_ray.metrics.drop(columns="fit_seconds")
    )
    pd.testing.assert_frame_equal(local.curves, on_ray.curves)
    pd.testing.assert_frame_equal(local.fit_warnings, on_ray.fit_warnings)
    assert on_ray.settings["use_ray"] is True and local.settings["use_ray"] is False


def test_an_error_inside_a_ray_task_comes_back_as_itself(local_ray):
    data = make_routing_data(600, 6, random_state=0)
    # the check of `cv` runs inside the task, in a Ray worker
    with pytest.raises(ValueError, match=r"method 'broken' on split 0 \(seed \d+\): `cv` must be"):
        run_protocol(
            data,
            methods={"broken": MetaRouter(cv=1)},
            n_test=100,
            n_gold=30,
            n_splits=2,
            random_state=0,
            verbose=0,
            use_ray=True,
        )


def test_protocol_refuses_n_jobs_with_ray():
    data = make_routing_data(600, 6, random_state=0)
    with pytest.raises(ValueError, match=r"`n_jobs` must be None with `use_ray=True`.*got 2"):
        run_protocol(
            data,
            methods=["gold_only"],
            n_test=100,
            n_gold=30,
            n_splits=1,
            use_ray=True,
            n_jobs=2,
            verbose=0,
        )
    with pytest.raises(TypeError, match=r"`use_ray` must be a bool; got str 'yes'"):
        run_protocol(
            data, methods=["gold_only"], n_test=100, n_gold=30, n_splits=1, use_ray="yes", verbose=0
        )


def test_meta_router_use_ray_arguments_are_checked(split):
    from econml.dml import NonParamDML
    from sklearn.linear_model import LinearRegression, LogisticRegression

    with pytest.raises(TypeError, match=r"`use_ray` must be a bool; got int 1"):
        _fit(MetaRouter(use_ray=1), split)
    estimator = NonParamDML(
        model_y=LinearRegression(),
        model_t=LogisticRegression(),
        model_final=LinearRegression(),
        discrete_treatment=True,
    )
    with pytest.raises(ValueError, match=r"set `use_ray=True` on that estimator instead"):
        _fit(MetaRouter(learner=estimator, use_ray=True), split)


def test_missing_ray_says_how_to_install_it(monkeypatch, split):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now raises ImportError
    with pytest.raises(ImportError, match=r"MetaRouter\(use_ray=True\) needs Ray.*\[ray\]"):
        _fit(MetaRouter(use_ray=True), split)
    data = make_routing_data(600, 6, random_state=0)
    with pytest.raises(ImportError, match=r"run_protocol\(use_ray=True\) needs Ray.*\[ray\]"):
        run_protocol(
            data, methods=["gold_only"], n_test=100, n_gold=30, n_splits=1, use_ray=True, verbose=0
        )


def test_a_router_fitted_on_ray_saves_and_loads(local_ray, split, tmp_path):
    from metarouter_econml import load

    router = _fit(MetaRouter(random_state=0, use_ray=True), split)
    path = tmp_path / "router.mr"
    router.save(path)
    loaded = load(path)
    np.testing.assert_array_equal(router.predict(split.X_test), loaded.predict(split.X_test))
    np.testing.assert_array_equal(
        router.estimate_bias(split.X_test), loaded.estimate_bias(split.X_test)
    )
    assert loaded.get_params() == router.get_params() and loaded.get_params()["use_ray"] is True


def test_cli_benchmark_runs_its_splits_on_ray(local_ray, tmp_path):
    from metarouter_econml.cli import main

    argv = [
        "benchmark", "--n-samples", "600", "--n-features", "6", "--n-test", "150",
        "--n-gold", "40", "--splits", "2", "--methods", "meta_r", "pooled", "--quiet",
    ]  # fmt: skip
    with contextlib.redirect_stdout(io.StringIO()):
        assert main([*argv, "--out", str(tmp_path / "local")]) == 0
        assert main([*argv, "--ray", "--out", str(tmp_path / "ray")]) == 0
    local, on_ray = (
        pd.read_csv(tmp_path / name / "protocol_metrics.csv").drop(columns="fit_seconds")
        for name in ("local", "ray")
    )
    pd.testing.assert_frame_equal(local, on_ray)
    assert "use_ray: True" in (tmp_path / "ray" / "protocol_summary.md").read_text()
