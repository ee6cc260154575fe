"""Saving and loading routers: exact round trips, safe loading, refusal of foreign files."""

import io
import json
import pickle
import warnings
import zipfile

import numpy as np
import pandas as pd
import pytest
import skops.io as sio
from sklearn.ensemble import HistGradientBoostingRegressor, RandomForestRegressor
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import Ridge

import metarouter_econml
from metarouter_econml import (
    GoldOnlyRouter,
    MeanShiftRouter,
    MetaRouter,
    PooledRouter,
    PreferenceOnlyRouter,
    _persist,
    load,
)
from metarouter_econml._estimation import default_router_model
from metarouter_econml._persist import _archive
from metarouter_econml.datasets import make_routing_data

BASELINES = [GoldOnlyRouter, PreferenceOnlyRouter, PooledRouter, MeanShiftRouter]


class PlainRidge(Ridge):
    """A user-defined estimator: its type is not trusted by `load`."""


@pytest.fixture(scope="module")
def split():
    data = make_routing_data(n_samples=1000, n_features=6, random_state=5)
    return data.split(n_test=200, n_gold=100, random_state=0)


def _fit(router, split, frame=True):
    X = split.X_train if frame else split.X_train.to_numpy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return router.fit(X, split.y_train, gold=split.gold_train)


@pytest.fixture(scope="module")
def fitted(split):
    routers = {cls.__name__: _fit(cls(random_state=0), split) for cls in BASELINES}
    for learner in ("r", "dr"):
        routers[f"meta-{learner}"] = _fit(MetaRouter(learner=learner, random_state=0), split)
    # auto on 2 folds (the fewest): a round trip needs its fitted attributes, not a sharp choice
    routers["meta-auto"] = _fit(MetaRouter(learner="auto", cv=2, random_state=0), split)
    return routers


def _round_trip(router, tmp_path, name="router.mr"):
    path = tmp_path / name
    router.save(path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # same versions, all parameters saved: no warning
        return load(path)


def _assert_same_outputs(router, twin, X):
    assert type(twin) is type(router)
    np.testing.assert_array_equal(twin.predict(X), router.predict(X))
    for weight in (0.0, 0.05, 0.2):
        np.testing.assert_array_equal(
            twin.route(X, cost_weight=weight), router.route(X, cost_weight=weight)
        )
    for ratio in (0.0, 0.3, 0.5, 1.0):
        assert twin.threshold_for_ratio(X, ratio) == router.threshold_for_ratio(X, ratio)
    if isinstance(router, MetaRouter):
        np.testing.assert_array_equal(twin.estimate_bias(X), router.estimate_bias(X))


@pytest.mark.parametrize(
    "name",
    [
        "GoldOnlyRouter",
        "PreferenceOnlyRouter",
        "PooledRouter",
        "MeanShiftRouter",
        "meta-r",
        "meta-dr",
        "meta-auto",
    ],
)
def test_round_trip_is_bit_identical(name, fitted, split, tmp_path):
    router = fitted[name]
    twin = _round_trip(router, tmp_path)
    _assert_same_outputs(router, twin, split.X_test)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "X does not have valid feature names", UserWarning)
        _assert_same_outputs(router, twin, split.X_test.to_numpy())
    assert twin.get_params() == router.get_params()
    for attr in (
        "scale_",
        "n_gold_",
        "n_preference_",
        "n_features_in_",
        "shift_",
        "learner_",
        "auto_reason_",
    ):
        assert getattr(twin, attr, None) == getattr(router, attr, None)
    np.testing.assert_array_equal(twin.feature_names_in_, router.feature_names_in_)
    assert twin.feature_names_in_.dtype == object


def test_meta_router_keeps_diagnostics(fitted, tmp_path):
    router = fitted["meta-r"]
    twin = _round_trip(router, tmp_path)
    np.testing.assert_array_equal(twin.propensity_, router.propensity_)
    assert twin.propensity_summary_ == router.propensity_summary_
    # the validated choices come back as they were, bool `chosen` column included
    pd.testing.assert_frame_equal(twin.final_stage_scores_, router.final_stage_scores_)
    pd.testing.assert_frame_equal(twin.router_model_scores_, router.router_model_scores_)
    auto = fitted["meta-auto"]
    twin_auto = _round_trip(auto, tmp_path, "auto.mr")
    pd.testing.assert_frame_equal(twin_auto.auto_scores_, auto.auto_scores_)
    assert twin_auto.auto_reason_ == auto.auto_reason_


@pytest.mark.parametrize("learner", ["r", "dr"])
def test_loaded_cate_model_matches_econml_for_every_layout(learner, fitted, split, tmp_path):
    router = fitted[f"meta-{learner}"]
    twin = _round_trip(router, tmp_path)
    assert type(twin.cate_estimator_).__module__ == "metarouter_econml._persist._standin"
    X = split.X_test.to_numpy()
    for layout in (X, np.ascontiguousarray(X), np.asfortranarray(X), X.astype(np.float32)):
        np.testing.assert_array_equal(
            twin.cate_estimator_.const_marginal_effect(layout),
            router.cate_estimator_.const_marginal_effect(layout),
        )
        np.testing.assert_array_equal(
            twin.cate_estimator_.effect(layout), router.cate_estimator_.effect(layout)
        )
    with pytest.raises(ValueError, match="only computes T0=0, T1=1"):
        twin.cate_estimator_.effect(X, T0=1, T1=0)


def test_auto_fallback_has_no_cate_model(fitted, tmp_path):
    router = fitted["meta-auto"]
    twin = _round_trip(router, tmp_path)
    assert (twin.cate_estimator_ is None) == (router.cate_estimator_ is None)


@pytest.mark.parametrize(
    "router_model",
    [RandomForestRegressor(n_estimators=20, max_depth=6, random_state=0), Ridge(alpha=3.0)],
)
def test_user_router_model_round_trips(router_model, split, tmp_path):
    router = _fit(MetaRouter(learner="dr", router_model=router_model, random_state=0), split)
    twin = _round_trip(router, tmp_path)
    _assert_same_outputs(router, twin, split.X_test)
    assert type(twin.router_model_) is type(router_model)
    assert twin.router_model.get_params() == router_model.get_params()


@pytest.mark.parametrize("signal", [1.0, 0.0], ids=["boosted", "forest-fallback"])
def test_large_data_router_model_choice_round_trips(signal, tmp_path):
    # above ROUTER_CV_ROWS the choice table has a "mean" row and NaN for the unscored candidate
    data = make_routing_data(n_samples=2600, n_features=6, random_state=0)
    rng = np.random.default_rng(0)
    y = signal * 3.0 * data.psi + rng.standard_normal(data.psi.size)
    gold = np.arange(len(y)) < 200
    router = PooledRouter(random_state=0).fit(data.X, y, gold=gold)
    scores = router.router_model_scores_
    assert list(scores.index) == ["boosted", "mean", "forest"]
    assert scores["mse"].isna().tolist() == [False, False, True]  # the forest is not scored
    twin = _round_trip(router, tmp_path)
    pd.testing.assert_frame_equal(twin.router_model_scores_, scores)
    _assert_same_outputs(router, twin, data.X.iloc[:500])


def test_numpy_fit_has_no_feature_names_after_load(split, tmp_path):
    router = _fit(PooledRouter(random_state=0), split, frame=False)
    twin = _round_trip(router, tmp_path)
    assert not hasattr(twin, "feature_names_in_")
    assert twin.n_features_in_ == router.n_features_in_
    _assert_same_outputs(router, twin, split.X_test.to_numpy())
    with pytest.raises(ValueError, match="features"):
        twin.predict(split.X_test.to_numpy()[:, :3])


def test_feature_names_are_checked_after_load(fitted, split, tmp_path):
    router = fitted["meta-r"]
    twin = _round_trip(router, tmp_path)
    renamed = split.X_test.rename(columns={split.X_test.columns[0]: "something_else"})
    with pytest.raises(ValueError, match="feature names"):
        router.predict(renamed)
    with pytest.raises(ValueError, match="feature names"):
        twin.predict(renamed)
    with pytest.raises(ValueError, match="feature names"):
        twin.estimate_bias(split.X_test[split.X_test.columns[::-1]])


@pytest.mark.parametrize("name", ["PooledRouter", "meta-r", "meta-dr"])
def test_loaded_router_saves_again(name, fitted, split, tmp_path):
    twin = _round_trip(fitted[name], tmp_path)
    again = _round_trip(twin, tmp_path, "again.mr")
    _assert_same_outputs(fitted[name], again, split.X_test)


def test_loaded_router_can_be_refitted(fitted, split, tmp_path):
    twin = _round_trip(fitted["meta-dr"], tmp_path)
    refit = _fit(twin, split)
    np.testing.assert_array_equal(
        refit.predict(split.X_test), fitted["meta-dr"].predict(split.X_test)
    )


def test_untrusted_parameter_is_dropped_with_a_warning(split, tmp_path):
    router = _fit(MetaRouter(learner="r", model_y=PlainRidge(), random_state=0), split)
    path = tmp_path / "router.mr"
    router.save(path)
    with pytest.warns(UserWarning, match=r"parameters \['model_y'\] could not be saved") as record:
        twin = load(path)
    assert "PlainRidge" in str(record[0].message)
    assert record[0].filename == __file__  # the warning points at the call of `load`
    assert twin.model_y is None
    _assert_same_outputs(router, twin, split.X_test)


# -- refusals -----------------------------------------------------------------------------------
def test_unfitted_router_cannot_be_saved(tmp_path):
    with pytest.raises(NotFittedError):
        MetaRouter().save(tmp_path / "router.mr")
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("learner", ["causal_forest", "forest_dr"])
def test_forest_learners_round_trip_bit_identically(learner, split, tmp_path):
    # their EconML forests travel as plain arrays (tests/test_persist_forest.py has the rest)
    router = _fit(MetaRouter(learner=learner, cv=2, random_state=0), split)
    router.save(tmp_path / "router.mr")
    twin = load(tmp_path / "router.mr")
    assert twin.learner == learner and twin.cate_estimator_.kind == learner
    _assert_same_outputs(router, twin, split.X_test)
    X = split.X_test.to_numpy()
    assert twin.estimate_bias(X).tobytes() == router.estimate_bias(X).tobytes()
    twin.save(tmp_path / "again.mr")  # saved by the loaded router, loaded again
    again = load(tmp_path / "again.mr")
    assert again.estimate_bias(X).tobytes() == router.estimate_bias(X).tobytes()


def test_router_model_with_untrusted_types_is_refused(split, tmp_path):
    router = _fit(
        PooledRouter(router_model=HistGradientBoostingRegressor(max_iter=5), random_state=0), split
    )
    with pytest.raises(ValueError, match=r"\['router_model_'\] contain types .*TreePredictor"):
        router.save(tmp_path / "router.mr")
    assert not list(tmp_path.iterdir())


def test_path_handling(fitted, split, tmp_path):
    router = fitted["PooledRouter"]
    router.save(str(tmp_path / "as_str.mr"))
    np.testing.assert_array_equal(
        load(str(tmp_path / "as_str.mr")).predict(split.X_test), router.predict(split.X_test)
    )
    router.save(tmp_path / "as_str.mr")  # replaces an existing file
    assert sorted(p.name for p in tmp_path.iterdir()) == ["as_str.mr"]  # no temporary file left
    missing = tmp_path / "no_such_dir" / "router.mr"
    with pytest.raises(FileNotFoundError, match=r"Cannot save to .*no_such_dir.* does not exist"):
        router.save(missing)
    with pytest.raises(IsADirectoryError, match="it is a directory"):
        router.save(tmp_path)
    with pytest.raises(FileNotFoundError, match=r"Cannot load .*nothing.mr: no such file"):
        load(tmp_path / "nothing.mr")
    with pytest.raises(TypeError, match="`path` must be a str or path-like; got int"):
        load(3)


def _rewrite(path, **members):
    """Copy the router file at ``path`` with some members replaced, as an editor would."""
    with zipfile.ZipFile(path) as archive:
        contents = {name: archive.read(name) for name in archive.namelist()}
    contents.update(members)
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in contents.items():
            archive.writestr(name, data)


def _edit_inner_schema(payload: bytes, old: str, new: str) -> bytes:
    with zipfile.ZipFile(io.BytesIO(payload)) as inner:
        contents = {name: inner.read(name) for name in inner.namelist()}
    schema = contents["schema.json"].decode()
    assert old in schema
    contents["schema.json"] = schema.replace(old, new, 1).encode()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as inner:
        for name, data in contents.items():
            inner.writestr(name, data)
    return buffer.getvalue()


def test_edited_payload_is_refused(fitted, tmp_path):
    router = fitted["GoldOnlyRouter"]
    path = tmp_path / "router.mr"
    router.save(path)
    with zipfile.ZipFile(path) as archive:
        payload = archive.read(_archive.PAYLOAD_NAME)
    scale = json.dumps(repr(router.scale_))[1:-1]
    _rewrite(path, **{_archive.PAYLOAD_NAME: _edit_inner_schema(payload, scale, "1.5")})
    with pytest.raises(
        ValueError, match=r"router.mr failed its integrity check.*modified or corrupted"
    ):
        load(path)


def test_edited_header_is_refused(fitted, tmp_path):
    path = tmp_path / "router.mr"
    fitted["GoldOnlyRouter"].save(path)
    with zipfile.ZipFile(path) as archive:
        header = json.loads(archive.read(_archive.HEADER_NAME))
    header["class"] = "MetaRouter"
    _rewrite(path, **{_archive.HEADER_NAME: json.dumps(header).encode()})
    with pytest.raises(ValueError, match="failed its integrity check"):
        load(path)


def test_foreign_files_are_refused(tmp_path):
    pickled = tmp_path / "router.mr"
    pickled.write_bytes(pickle.dumps({"a": 1}))
    with pytest.raises(
        ValueError, match=r"router.mr is not a metarouter_econml router file .*: it is not a zip"
    ):
        load(pickled)
    empty = tmp_path / "empty.mr"
    empty.write_bytes(b"")
    with pytest.raises(ValueError, match="not a zip archive"):
        load(empty)
    random_zip = tmp_path / "random.zip"
    with zipfile.ZipFile(random_zip, "w") as archive:
        archive.writestr("notes.txt", "hello")
    with pytest.raises(
        ValueError,
        match=r"random.zip is not a metarouter_econml router file .*: it has no metarouter",
    ):
        load(random_zip)
    bare = tmp_path / "ridge.skops"
    sio.dump(Ridge(), bare)
    with pytest.raises(ValueError, match="looks like a bare skops file"):
        load(bare)


def _forge(path, payload_obj, cls_name="PooledRouter"):
    """Write a file with a valid header and digest around any payload (an attacker's file)."""
    _forge_bytes(path, sio.dumps(payload_obj), cls_name)


def _payload_of(router):
    """The payload `save` would write, built by hand so that tests can tamper with it."""
    return {
        "class": type(router).__name__,
        "params": router.get_params(deep=False),
        "attributes": {
            k: v for k, v in vars(router).items() if k.endswith("_") and k != "feature_names_in_"
        },
        "frames": {},
        "string_arrays": {"feature_names_in_": list(router.feature_names_in_)},
        "cate": None,
    }


def test_untrusted_type_in_a_forged_file_is_refused(split, tmp_path):
    router = _fit(
        PooledRouter(router_model=HistGradientBoostingRegressor(max_iter=5), random_state=0), split
    )
    path = tmp_path / "forged.mr"
    _forge(path, _payload_of(router))
    with pytest.raises(
        TypeError,
        match=r"forged.mr contains types that metarouter_econml does not trust.*TreePredictor",
    ):
        load(path)


def test_foreign_skops_object_in_a_forged_file_is_refused(tmp_path):
    path = tmp_path / "forged.mr"
    _forge(path, Ridge())
    with pytest.raises(ValueError, match="malformed payload: it does not hold a PooledRouter"):
        load(path)


def test_out_of_range_tree_indices_are_refused(split, tmp_path):
    router = _fit(
        PooledRouter(
            router_model=RandomForestRegressor(n_estimators=3, random_state=0), random_state=0
        ),
        split,
    )
    payload = _payload_of(router)
    tree = payload["attributes"]["router_model_"].estimators_[1].tree_
    assert tree.children_left.flags.writeable
    tree.children_left[0] = 10**6
    path = tmp_path / "forged.mr"
    _forge(path, payload)
    with pytest.raises(
        ValueError,
        match="malformed DecisionTreeRegressor tree: child or feature indices out of range",
    ):
        load(path)
    # the same check runs at save time, so such a file is never written
    with pytest.raises(ValueError, match="child or feature indices out of range"):
        router.save(tmp_path / "never.mr")


def _forge_bytes(path, payload, cls_name="PooledRouter"):
    _archive.write_archive(path, cls_name, payload, {})


@pytest.mark.parametrize("edit", ["feature", "tree_sizes"])
def test_malformed_lightgbm_text_is_refused_before_lightgbm_parses_it(edit, split, tmp_path):
    # LightGBM 4.7 aborts the whole process on a tree it cannot parse, so this must never reach it
    router = _fit(PooledRouter(router_model=default_router_model(0), random_state=0), split)
    path = tmp_path / "router.mr"
    router.save(path)
    with zipfile.ZipFile(path) as archive:
        payload = archive.read(_archive.PAYLOAD_NAME)
    text = router.router_model_.booster_.model_to_string()
    tree = text.split("\nTree=1\n", 1)[1]
    line = next(line for line in tree.splitlines() if line.startswith("split_feature="))
    if edit == "feature":  # same length, so tree_sizes still match: the index check must catch it
        old, new = (
            line,
            "split_feature=" + " ".join("9" * len(v) for v in line.split("=")[1].split()),
        )
    else:
        old = next(line for line in text.splitlines() if line.startswith("tree_sizes="))
        new = old.replace(" ", " 1", 1)
    assert text.count(old) == 1
    forged = _edit_inner_schema(payload, json.dumps(old)[1:-1], json.dumps(new)[1:-1])
    _forge_bytes(path, forged)
    expected = (
        "child or feature indices out of range" if edit == "feature" else "tree_sizes do not match"
    )
    with pytest.raises(ValueError, match=f"router.mr has a malformed LightGBM model: {expected}"):
        load(path)


# -- versions and size ----------------------------------------------------------------------------
def test_header_records_versions(fitted, tmp_path):
    path = tmp_path / "router.mr"
    fitted["meta-r"].save(path)
    with zipfile.ZipFile(path) as archive:
        header = json.loads(archive.read(_archive.HEADER_NAME))
    assert header["class"] == "MetaRouter"
    assert set(header["versions"]) == {
        "python",
        "metarouter-econml",
        "scikit-learn",
        "numpy",
        "scipy",
        "econml",
        "lightgbm",
        "skops",
    }
    assert header["versions"]["metarouter-econml"] == metarouter_econml.__version__
    assert header["versions"]["numpy"] == np.__version__


def test_version_change_warns_naming_the_packages(fitted, split, tmp_path, monkeypatch):
    router = fitted["meta-dr"]
    path = tmp_path / "router.mr"
    router.save(path)
    saved = _persist.current_versions()
    monkeypatch.setattr(
        _archive,
        "current_versions",
        lambda: {**saved, "numpy": "9.9.9", "lightgbm": "0.1", "python": "3.99.0"},
    )
    with pytest.warns(UserWarning, match="saved with other versions") as record:
        twin = load(path)
    message = str(record[0].message)
    assert record[0].filename == __file__  # the warning points at the call of `load`
    assert f"numpy {saved['numpy']} -> 9.9.9" in message
    assert "lightgbm" in message and "python" in message
    assert "econml" not in message and "scikit-learn" not in message
    np.testing.assert_array_equal(twin.predict(split.X_test), router.predict(split.X_test))


def test_file_is_small(fitted, tmp_path):
    path = tmp_path / "router.mr"
    router = fitted["meta-r"]
    router.save(path)
    # 800 training rows: the LightGBM text models dominate; no copy of the training data (or
    # of EconML's cached nuisances, released after the final stage was chosen)
    models = [router.router_model_, router.cate_estimator_.model_final_]
    assert path.stat().st_size < sum(_stored_text(model) for model in models) + 60_000


def _stored_text(model) -> int:
    """Characters of LightGBM text a saved ``model`` holds (0 for other models).

    skops stores an object once per reference: the parts of an average twice (``estimators_``
    and ``named_estimators_``).
    """
    parts = getattr(model, "named_estimators_", None)
    if parts is not None:
        return 2 * sum(_stored_text(part) for part in parts.values())
    return len(model.booster_.model_to_string()) if hasattr(model, "booster_") else 0


@pytest.mark.slow
def test_default_router_file_size_at_scale(tmp_path):
    data = make_routing_data(n_samples=5000, n_features=50, random_state=0)
    split = data.split(n_test=500, n_gold=150, random_state=0)
    router = _fit(MetaRouter(random_state=0), split)
    path = tmp_path / "router.mr"
    router.save(path)
    size = path.stat().st_size
    print(f"default MetaRouter, 4,500 x 50: {size} bytes")
    assert size < 1_000_000
    _assert_same_outputs(router, load(path), split.X_test)


def test_truncated_router_round_trips_with_its_overlap_region(tmp_path):
    data = make_routing_data(1500, 8, bias="regional", random_state=0)
    split = data.split(n_test=300, n_gold=100, random_state=0, gold_from=lambda X: X["pc6"] < 0)
    router = MetaRouter(overlap="trim", random_state=0).fit(
        split.X_train, split.y_train, gold=split.gold_train
    )
    twin = _round_trip(router, tmp_path)
    np.testing.assert_array_equal(twin.in_overlap(split.X_test), router.in_overlap(split.X_test))
    np.testing.assert_array_equal(twin.predict(split.X_test), router.predict(split.X_test))
    np.testing.assert_array_equal(
        twin.estimate_bias(split.X_test), router.estimate_bias(split.X_test)
    )
    assert not router.in_overlap(split.X_test).all()
