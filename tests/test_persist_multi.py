"""MultiMetaRouter files: round trips of every structure, the bias stand-ins, and what is refused.

Forged files are built as an attacker would: the saved payload read back with skops, edited, and
written with a valid digest (:func:`metarouter_econml._persist._archive.write_archive`).
"""

import copy
import re
import warnings
import zipfile

import numpy as np
import pandas as pd
import pytest
import skops.io as sio
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import Ridge

from metarouter_econml import MetaRouter, MultiMetaRouter, PooledRouter, load
from metarouter_econml._persist import TRUSTED_TYPES, _archive
from metarouter_econml._persist._multi import SavedLinearBias
from metarouter_econml.datasets import make_multi_routing_data

N_FEATURES = 6
_FITTED: dict = {}


def _split(n_models, kind, **data_options):
    data = make_multi_routing_data(
        n_queries=300,
        n_models=n_models,
        n_features=N_FEATURES,
        kind=kind,
        random_state=0,
        **data_options,
    )
    return data.split(n_test=60, n_gold=50, random_state=0)


def _fitted(structure, n_models, kind, learner="lasso", **data_options):
    """A fitted router and its split, fitted once per configuration."""
    key = (structure, n_models, kind, learner, tuple(sorted(data_options.items())))
    if key not in _FITTED:
        split = _split(n_models, kind, **data_options)
        router = MultiMetaRouter(structure=structure, learner=learner, cv=2, random_state=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            router.fit(split.X_train, split.comparisons_train)
        _FITTED[key] = (router, split)
    return _FITTED[key]


def _saved(router, tmp_path, name="router.mr"):
    path = tmp_path / name
    router.save(path)
    return path


def _bits(frame):
    return np.ascontiguousarray(frame.to_numpy()).tobytes()


def _assert_same_router(router, twin, split):
    X = split.X_test
    for method in ("predict", "estimate_bias"):
        expected, got = getattr(router, method)(X), getattr(twin, method)(X)
        pd.testing.assert_frame_equal(got, expected, check_exact=True)
        assert _bits(got) == _bits(expected), method
    numpy_X = X.to_numpy()[:7]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # no feature names
        assert _bits(twin.estimate_bias(numpy_X)) == _bits(router.estimate_bias(numpy_X))
    assert twin.predict(X.iloc[:0]).shape == (0, len(router.models_))
    for weight in (0.0, 0.3, 2.0):
        np.testing.assert_array_equal(
            twin.route(X, split.costs, weight), router.route(X, split.costs, weight)
        )
    costs = split.costs
    budget = float(np.mean(sorted(costs.values())[:2]))
    assert twin.cost_weight_for_budget(X, costs, budget) == router.cost_weight_for_budget(
        X, costs, budget
    )
    pd.testing.assert_frame_equal(twin.coverage_.per_model, router.coverage_.per_model)
    pd.testing.assert_frame_equal(twin.coverage_.per_pair, router.coverage_.per_pair)
    if router.router_model_scores_ is None:
        assert twin.router_model_scores_ is None
    else:
        pd.testing.assert_frame_equal(twin.router_model_scores_, router.router_model_scores_)
    for name in ("models_", "reference_", "kind_", "n_gold_", "n_preference_", "n_features_in_"):
        assert getattr(twin, name) == getattr(router, name), name
        assert type(getattr(twin, name)) is type(getattr(router, name)), name
    assert twin.scale_ == router.scale_
    np.testing.assert_array_equal(twin.feature_names_in_, router.feature_names_in_)
    for name in ("cate_feature_mean_", "cate_feature_scale_"):
        if getattr(router, name) is None:
            assert getattr(twin, name) is None
        else:
            assert getattr(twin, name).tobytes() == getattr(router, name).tobytes()
    assert twin.get_params() == router.get_params()


# -- round trips ----------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["pairwise", "pointwise"])
@pytest.mark.parametrize("n_models", [2, 3, 5])
@pytest.mark.parametrize("structure", ["shared", "independent", "none"])
def test_round_trip_is_bit_identical(structure, n_models, kind, tmp_path):
    router, split = _fitted(structure, n_models, kind)
    twin = load(_saved(router, tmp_path))
    assert type(twin) is MultiMetaRouter
    _assert_same_router(router, twin, split)
    if n_models == 2:
        expected = PooledRouter if structure == "none" else MetaRouter
        assert type(twin.two_model_router_) is expected
        assert twin.router_model_ is None and twin.bias_estimator_ is None
    else:
        assert twin.two_model_router_ is None
        assert (twin.bias_estimator_ is not None) == (structure == "shared")
        assert (twin.pair_bias_ is not None) == (structure == "independent")
    if twin.bias_estimator_ is not None:
        assert isinstance(twin.bias_estimator_, SavedLinearBias)
        assert twin.bias_estimator_.coef_.shape == (n_models - 1, N_FEATURES)
    if twin.pair_bias_ is not None:
        assert list(twin.pair_bias_) == list(router.pair_bias_)
        assert all(isinstance(v, (SavedLinearBias, float)) for v in twin.pair_bias_.values())


@pytest.mark.parametrize("learner", ["ridge", "linear"])
@pytest.mark.parametrize("structure", ["shared", "independent"])
def test_every_linear_learner_round_trips(learner, structure, tmp_path):
    router, split = _fitted(structure, 3, "pairwise", learner=learner)
    twin = load(_saved(router, tmp_path))
    _assert_same_router(router, twin, split)
    stand_in = twin.bias_estimator_ or next(iter(twin.pair_bias_.values()))
    # scikit-learn's final models add their intercept 0.0; LinearDML's adds nothing
    assert (stand_in.final_intercept is None) == (learner == "linear")


def test_thin_pairs_keep_their_float_shift(tmp_path):
    router, split = _fitted(
        "independent", 4, "pairwise", few_gold_models="m3", few_gold_fraction=0.0
    )
    floats = {k: v for k, v in router.pair_bias_.items() if isinstance(v, float)}
    assert floats and all("m3" in key for key in floats)
    twin = load(_saved(router, tmp_path))
    assert {k: v for k, v in twin.pair_bias_.items() if isinstance(v, float)} == floats
    assert all(type(v) is float for v in floats.values())
    _assert_same_router(router, twin, split)


@pytest.mark.parametrize(("structure", "learner"), [("shared", "lasso"), ("independent", "linear")])
def test_stand_in_gives_econml_bits_for_every_layout(structure, learner, tmp_path):
    router, _ = _fitted(structure, 3, "pairwise", learner=learner)
    twin = load(_saved(router, tmp_path))
    estimators = (
        [(router.bias_estimator_, twin.bias_estimator_)]
        if structure == "shared"
        else [(router.pair_bias_[k], twin.pair_bias_[k]) for k in router.pair_bias_]
    )
    Z = np.random.default_rng(0).normal(size=(50, N_FEATURES))
    for layout in (Z, np.asfortranarray(Z), Z.astype(np.float32), Z[:, ::-1][:, ::-1], Z[:1]):
        for estimator, stand_in in estimators:
            expected = estimator.const_marginal_effect(layout)
            got = stand_in.const_marginal_effect(layout)
            assert got.shape == expected.shape
            assert got.tobytes() == expected.tobytes()
    with pytest.raises(ValueError, match=r"`X` must have shape \(n_queries, 6\); got \(2, 5\)"):
        estimators[0][1].const_marginal_effect(np.zeros((2, 5)))
    assert not estimators[0][1].coef_.flags.writeable


def test_saving_twice_gives_equal_routers_and_a_loaded_router_saves_again(tmp_path):
    # skops names arrays by id() and stamps its members, so the bytes differ; the contents do not
    router, split = _fitted("shared", 3, "pointwise")
    first, second = (load(_saved(router, tmp_path, name)) for name in ("a.mr", "b.mr"))
    _assert_same_router(first, second, split)
    for name in ("intercept_", "coef_"):
        assert (
            getattr(first.bias_estimator_, name).tobytes()
            == getattr(second.bias_estimator_, name).tobytes()
        )
    again = load(_saved(first, tmp_path, "again.mr"))
    _assert_same_router(router, again, split)
    nested, nested_split = _fitted("shared", 2, "pairwise")
    twice = load(_saved(load(_saved(nested, tmp_path, "c.mr")), tmp_path, "d.mr"))
    _assert_same_router(nested, twice, nested_split)


def test_structure_none_saves_with_the_forest_learner(tmp_path):
    router, split = _fitted("none", 3, "pairwise", learner="forest")
    _assert_same_router(router, load(_saved(router, tmp_path)), split)


# -- what save refuses ----------------------------------------------------------------------------
def test_forest_bias_estimator_is_refused(tmp_path):
    router, _ = _fitted("shared", 3, "pairwise", learner="forest")
    with pytest.raises(
        ValueError,
        match=r"^Cannot save this MultiMetaRouter: its bias estimator is EconML's "
        r"CausalForestDML \(learner='forest'\).*can be saved with learner 'lasso', 'ridge' or "
        r"'linear', or with any learner when it fits no bias estimator",
    ):
        router.save(tmp_path / "router.mr")
    assert not list(tmp_path.iterdir())


def test_unfitted_router_cannot_be_saved(tmp_path):
    with pytest.raises(NotFittedError):
        MultiMetaRouter().save(tmp_path / "router.mr")
    assert not list(tmp_path.iterdir())


def test_save_refuses_what_load_would_refuse(tmp_path):
    router, _ = _fitted("shared", 3, "pairwise")
    broken = copy.copy(router)
    broken.reference_ = "nobody"
    with pytest.raises(
        ValueError, match=r"^Cannot save this MultiMetaRouter: `reference_` must be one of"
    ):
        broken.save(tmp_path / "router.mr")
    broken = copy.copy(router)
    broken.router_model_ = Ridge().fit(np.zeros((3, N_FEATURES)), np.zeros(3))
    with pytest.raises(ValueError, match=r"its router model Ridge is inconsistent: n_features_in_"):
        broken.save(tmp_path / "router.mr")
    assert not list(tmp_path.iterdir())


# -- what load refuses ----------------------------------------------------------------------------
def _payload(path):
    with zipfile.ZipFile(path) as archive:
        return sio.loads(archive.read(_archive.PAYLOAD_NAME), trusted=list(TRUSTED_TYPES))


def _forge(path, payload):
    _archive.write_archive(path, payload["class"], sio.dumps(payload), {}, format_version=2)
    return path


def _refused(path, message):
    with pytest.raises(ValueError, match="^" + re.escape(f"{path} has a malformed payload")):
        try:
            load(path)
        except ValueError as exc:
            assert message in str(exc), str(exc)
            raise


def test_a_tampered_byte_is_refused(tmp_path):
    router, _ = _fitted("shared", 3, "pairwise")
    path = _saved(router, tmp_path)
    with zipfile.ZipFile(path) as archive:
        contents = {name: archive.read(name) for name in archive.namelist()}
    payload = bytearray(contents[_archive.PAYLOAD_NAME])
    payload[len(payload) // 2] ^= 0x01
    contents[_archive.PAYLOAD_NAME] = bytes(payload)
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in contents.items():
            archive.writestr(name, data)
    with pytest.raises(ValueError, match="failed its integrity check"):
        load(path)


def _shrink_coef(payload):
    entry = payload["multi"]["bias_estimator"]
    entry["coef"] = entry["coef"][:, :-1].copy()


def _nan_intercept(payload):
    payload["multi"]["bias_estimator"]["intercept"][0] = np.nan


def _wide_intercept(payload):
    entry = payload["multi"]["bias_estimator"]
    entry["intercept"] = np.append(entry["intercept"], 0.0)


def _swap_pair(payload):
    entry = payload["multi"]["pair_bias"][0]
    entry[0], entry[1] = entry[1], entry[0]


def _unknown_pair(payload):
    payload["multi"]["pair_bias"][0][1] = "m9"


def _drop_pair(payload):
    del payload["multi"]["pair_bias"][-1]


def _set(section, name, value):
    def edit(payload):
        payload[section][name] = value

    return edit


def _drop_bias(payload):
    payload["multi"]["bias_estimator"] = None


def _nested_scale(payload):
    payload["multi"]["two_model_router"]["payload"]["attributes"]["scale_"] = -1.0


def _nested_class(payload):
    payload["multi"]["two_model_router"]["payload"]["class"] = "GoldOnlyRouter"


def _coverage_rows(payload):
    payload["multi"]["coverage"]["per_pair"]["index"][1].reverse()


def _stray_attribute(payload):
    payload["attributes"]["predict_"] = 1.0


SHARED, INDEPENDENT, TWO = ("shared", 3), ("independent", 3), ("shared", 2)


@pytest.mark.parametrize(
    ("fit", "edit", "message"),
    [
        (
            SHARED,
            _shrink_coef,
            "the `coef_` of `bias_estimator_` must be a finite float64 array of shape (2, 6)",
        ),
        (
            SHARED,
            _wide_intercept,
            "the `intercept_` of `bias_estimator_` must be a finite float64 array of shape (2,)",
        ),
        (SHARED, _nan_intercept, "the `intercept` of `bias_estimator_` must be a finite float64"),
        (SHARED, _set("attributes", "reference_", "m7"), "`reference_` must be one of `models_`"),
        (
            SHARED,
            _set("attributes", "models_", ["m0", "m0", "m1"]),
            "`models_` must be a list of at least 2 unique str in name order",
        ),
        (SHARED, _set("attributes", "models_", ["m1", "m0", "m2"]), "in name order"),
        (SHARED, _set("attributes", "kind_", "graded"), "`kind_` must be one of"),
        (SHARED, _set("attributes", "scale_", float("inf")), "`scale_` must be a finite positive"),
        (
            SHARED,
            _set("params", "structure", "independent"),
            "structure='independent' has "
            "pair_bias_ and the feature standardisation; got bias_estimator_ SavedLinearBias",
        ),
        (SHARED, _drop_bias, "structure='shared' has bias_estimator_"),
        (SHARED, _set("params", "learner", "forest"), "which learner='forest' does not fit"),
        (
            SHARED,
            _set("attributes", "cate_feature_scale_", np.zeros(N_FEATURES)),
            "`cate_feature_scale_` must be positive",
        ),
        (SHARED, _coverage_rows, "`coverage_.per_pair` must be indexed by ['model', 'opponent']"),
        (SHARED, _stray_attribute, "a MultiMetaRouter has no fitted attributes ['predict_']"),
        (INDEPENDENT, _swap_pair, "`pair_bias_` must have one entry per compared pair"),
        (INDEPENDENT, _unknown_pair, "`pair_bias_` must have one entry per compared pair"),
        (INDEPENDENT, _drop_pair, "`pair_bias_` must have one entry per compared pair"),
        (TWO, _nested_class, "its two-model router must be one of ['MetaRouter', 'PooledRouter']"),
        (
            TWO,
            _set("params", "structure", "none"),
            "a two-model router (MetaRouter) belongs to a router of two models, a PooledRouter "
            "for structure='none'",
        ),
    ],
)
def test_forged_payloads_are_refused(fit, edit, message, tmp_path):
    router, _ = _fitted(*fit, "pairwise")
    payload = _payload(_saved(router, tmp_path))
    edit(payload)
    _refused(_forge(tmp_path / "forged.mr", payload), message)


def test_the_nested_router_is_checked_as_a_top_level_one(tmp_path):
    router, _ = _fitted("shared", 2, "pairwise")
    payload = _payload(_saved(router, tmp_path))
    _nested_scale(payload)
    path = _forge(tmp_path / "forged.mr", payload)
    with pytest.raises(
        ValueError,
        match="^"
        + re.escape(f"{path} (its two_model_router_) has a malformed payload: `scale_` must be"),
    ):
        load(path)


def test_the_router_model_is_checked_with_the_pair_coding_features(tmp_path):
    router, _ = _fitted("none", 3, "pairwise")
    payload = _payload(_saved(router, tmp_path))
    payload["attributes"]["router_model_"] = Ridge().fit(np.zeros((3, N_FEATURES)), np.zeros(3))
    path = _forge(tmp_path / "forged.mr", payload)
    with pytest.raises(
        ValueError,
        match=re.escape(
            f"{path}: its router model Ridge is inconsistent: n_features_in_ is 6 for a router of 9"
        ),
    ):
        load(path)


def test_a_model_in_place_of_the_coefficients_is_refused(tmp_path):
    router, _ = _fitted("shared", 3, "pairwise")
    payload = _payload(_saved(router, tmp_path))
    payload["multi"]["bias_estimator"] = router.bias_estimator_.model_final_  # LassoCV: trusted
    _refused(_forge(tmp_path / "forged.mr", payload), "must be a dict of ['intercept', 'coef'")
