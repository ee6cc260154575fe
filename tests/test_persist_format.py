"""Router file format 1, pinned: a file saved by an earlier version must keep loading.

The container, header fields and digest are written down here independently of the code, so a
change that would make existing files unreadable fails these tests.
"""

import hashlib
import json
import warnings
import zipfile

import numpy as np
import pytest
import skops.io as sio
from sklearn.linear_model import LinearRegression, Ridge

from metarouter_econml import GoldOnlyRouter, MetaRouter, load
from metarouter_econml._persist import TRUSTED_TYPES
from metarouter_econml._persist._standin import SavedCateModel, final_stage_effect
from metarouter_econml.datasets import make_routing_data


@pytest.fixture(scope="module")
def split():
    data = make_routing_data(n_samples=400, n_features=6, random_state=3)
    return data.split(n_test=100, n_gold=60, random_state=0)


def _fit(router, split):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return router.fit(split.X_train, split.y_train, gold=split.gold_train)


def _small_meta_router(learner):
    return MetaRouter(
        learner=learner, model_final=Ridge(alpha=1.0), router_model=Ridge(), cv=2, random_state=0
    )


def _members(path):
    with zipfile.ZipFile(path) as archive:
        infos = archive.infolist()
        return infos, archive.read("metarouter.json"), archive.read("router.skops")


def test_container_header_and_digest_of_format_1(split, tmp_path):
    router = _fit(GoldOnlyRouter(router_model=Ridge(), random_state=0), split)
    path = tmp_path / "router.mr"
    router.save(path)
    infos, header_bytes, payload_bytes = _members(path)
    assert [info.filename for info in infos] == ["metarouter.json", "router.skops"]
    assert {info.date_time for info in infos} == {(1980, 1, 1, 0, 0, 0)}
    assert {info.compress_type for info in infos} == {zipfile.ZIP_DEFLATED}
    header = json.loads(header_bytes)
    assert list(header) == [
        "format",
        "format_version",
        "class",
        "versions",
        "dropped_params",
        "sha256",
    ]
    assert header["format"] == "metarouter_econml.router"
    assert header["format_version"] == 1
    assert header["class"] == "GoldOnlyRouter"
    assert header["dropped_params"] == {}
    fields = {key: value for key, value in header.items() if key != "sha256"}
    canonical = json.dumps(fields, sort_keys=True, separators=(",", ":")).encode()
    assert header["sha256"] == hashlib.sha256(canonical + b"\0" + payload_bytes).hexdigest()
    payload = sio.loads(payload_bytes, trusted=list(TRUSTED_TYPES))
    assert set(payload) == {"class", "params", "attributes", "frames", "string_arrays", "cate"}
    assert payload["class"] == "GoldOnlyRouter" and payload["cate"] is None
    assert payload["string_arrays"] == {"feature_names_in_": list(split.X_train.columns)}


@pytest.mark.parametrize(("learner", "kind"), [("r", "nonparam_dml"), ("dr", "drlearner")])
def test_cate_entry_of_format_1(learner, kind, split, tmp_path):
    router = _fit(_small_meta_router(learner), split)
    path = tmp_path / "router.mr"
    router.save(path)
    payload = sio.loads(_members(path)[2], trusted=list(TRUSTED_TYPES))
    assert set(payload["cate"]) == {"kind", "models"}
    assert payload["cate"]["kind"] == kind
    (model,) = payload["cate"]["models"]
    assert isinstance(model, Ridge)
    twin = load(path)
    assert isinstance(twin.cate_estimator_, SavedCateModel)
    np.testing.assert_array_equal(
        twin.estimate_bias(split.X_test), router.estimate_bias(split.X_test)
    )


@pytest.mark.parametrize("learner", ["r", "dr"])
def test_final_stage_is_the_final_models_predict(learner, split):
    # a linear final model: its matrix product rounds differently with the memory order, so
    # the C-ordered float64 copy that NonParamDML's final stage makes shows in the bits
    router = _fit(_small_meta_router(learner), split)
    estimator = router.cate_estimator_
    kind = {"r": "nonparam_dml", "dr": "drlearner"}[learner]
    model = estimator.model_final_ if learner == "r" else estimator.fitted_models_final[0]
    X = split.X_test.to_numpy()
    for layout in (X, np.asfortranarray(X), X.astype(np.float32), X[:, ::-1][:, ::-1]):
        expected = estimator.const_marginal_effect(layout)
        got = final_stage_effect(kind, model, layout)
        assert got.shape == (X.shape[0], 1)
        assert got.tobytes() == np.asarray(expected, dtype=got.dtype).tobytes()
        stand_in = SavedCateModel(kind, [model])
        assert stand_in.effect(layout).tobytes() == estimator.effect(layout).tobytes()


def test_effect_turns_negative_zero_into_zero_as_econml_does():
    class Zero(LinearRegression):
        def predict(self, X):
            return np.full(len(X), -0.0)

    effect = SavedCateModel("drlearner", [Zero()]).effect(np.zeros((2, 3)))
    assert not np.signbit(effect).any()
    assert np.signbit(
        SavedCateModel("drlearner", [Zero()]).const_marginal_effect(np.zeros((2, 3)))
    ).all()
