"""Saving forest learners and StandardScaler featurizers: exact round trips, audited arrays.

The forests of ``CausalForestDML`` and ``ForestDRLearner`` travel as plain arrays that a loaded
router evaluates with numpy; a final stage may start with EconML's ``StandardScaler``
featurizer. A loaded router must give the fitted one's bits, and a file whose arrays were edited
(as an attacker would: payload rebuilt, valid digest) must be refused before anything follows
an index.
"""

import json
import re
import warnings
import zipfile

import numpy as np
import pytest
import skops.io as sio
from conftest import feature_layouts
from econml.dml import CausalForestDML, LinearDML, NonParamDML
from econml.dr import DRLearner, ForestDRLearner
from lightgbm import LGBMRegressor
from sklearn.linear_model import LinearRegression, LogisticRegression, RidgeCV
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import PolynomialFeatures, StandardScaler

from metarouter_econml import MetaRouter, load
from metarouter_econml._persist import TRUSTED_TYPES, _archive, _forest, save_router
from metarouter_econml._persist._forest import check_forest
from metarouter_econml._persist._standin import SavedCateModel
from metarouter_econml.datasets import make_routing_data

N_FEATURES = 6


@pytest.fixture(scope="module")
def split():
    data = make_routing_data(n_samples=400, n_features=N_FEATURES, random_state=3)
    return data.split(n_test=100, n_gold=60, random_state=0)


def _causal_forest(**kwargs):
    return CausalForestDML(
        model_y=LinearRegression(),
        model_t=LogisticRegression(),
        discrete_treatment=True,
        n_estimators=24,
        cv=2,
        n_jobs=1,
        random_state=0,
        **kwargs,
    )


def _forest_dr(**kwargs):
    return ForestDRLearner(
        model_regression=LinearRegression(),
        model_propensity=LogisticRegression(),
        n_estimators=24,
        cv=2,
        n_jobs=1,
        random_state=0,
        **kwargs,
    )


def _propensity_search():
    """The propensity model the default learners are moving to: a scaled logistic, tuned."""
    pipeline = Pipeline([("scale", StandardScaler()), ("logistic", LogisticRegression())])
    return GridSearchCV(pipeline, {"logistic__C": [0.1, 1.0]}, cv=2)


LEARNERS = {
    "causal_forest": lambda: _causal_forest(),
    "forest_dr": lambda: _forest_dr(),
    "causal_forest+scaler": lambda: _causal_forest(featurizer=StandardScaler()),
    "forest_dr+scaler": lambda: _forest_dr(featurizer=StandardScaler()),
    "r+scaler ridge": lambda: NonParamDML(
        model_y=LinearRegression(),
        model_t=_propensity_search(),
        model_final=RidgeCV(),
        featurizer=StandardScaler(),
        discrete_treatment=True,
        cv=2,
        random_state=0,
    ),
    "dr+scaler lgbm": lambda: DRLearner(
        model_propensity=_propensity_search(),
        model_regression=LinearRegression(),
        model_final=LGBMRegressor(n_estimators=20, num_leaves=7, verbose=-1, random_state=0),
        featurizer=StandardScaler(),
        cv=2,
        random_state=0,
    ),
    "dr+scaler ridge": lambda: DRLearner(
        model_propensity=LogisticRegression(),
        model_regression=LinearRegression(),
        model_final=RidgeCV(),
        featurizer=StandardScaler(),
        cv=2,
        random_state=0,
    ),
}
FORESTS = ("causal_forest", "forest_dr")


def _fit(router, split):
    """Fitted on an array: the tests call it with arrays of several layouts."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return router.fit(split.X_train.to_numpy(), split.y_train, gold=split.gold_train)


@pytest.fixture(scope="module")
def fitted(split):
    return {
        name: _fit(MetaRouter(learner=make(), router_model=RidgeCV(), random_state=0), split)
        for name, make in LEARNERS.items()
    }


def _load(path):
    """Load a file whose router took an EconML estimator as `learner` (not saveable: it warns)."""
    with pytest.warns(UserWarning, match=r"parameters \['learner'\] could not be saved"):
        return load(path)


def _saved(router, tmp_path, name="router.mr"):
    path = tmp_path / name
    router.save(path)
    return path


def _members(path):
    with zipfile.ZipFile(path) as archive:
        header = archive.read(_archive.HEADER_NAME)
        return header, archive.read(_archive.PAYLOAD_NAME)


# -- round trips ----------------------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(LEARNERS))
def test_round_trip_gives_the_fitted_bits(name, fitted, split, tmp_path):
    router = fitted[name]
    path = _saved(router, tmp_path)
    twin = _load(path)
    assert isinstance(twin.cate_estimator_, SavedCateModel)
    for layout, X in feature_layouts(split).items():
        fitted_bias = router.estimate_bias(X)
        econml = np.ravel(router.cate_estimator_.effect(X)).astype(np.float64)
        assert fitted_bias.tobytes() == econml.tobytes(), layout  # numpy path: EconML bits
        assert twin.estimate_bias(X).tobytes() == fitted_bias.tobytes(), layout
        assert (
            twin.cate_estimator_.effect(X).tobytes() == router.cate_estimator_.effect(X).tobytes()
        ), layout
        assert (
            twin.cate_estimator_.const_marginal_effect(X).tobytes()
            == router.cate_estimator_.const_marginal_effect(X).tobytes()
        ), layout
        np.testing.assert_array_equal(twin.predict(X), router.predict(X))
    # saved again by the loaded router, loaded again: the same bits. (Its `learner` is None, the
    # estimator could not be saved, and `MetaRouter.save` checks its parameters first: the
    # persistence layer is called directly.)
    save_router(twin, tmp_path / "again.mr")
    again = load(tmp_path / "again.mr")
    X = split.X_test.to_numpy()
    assert again.estimate_bias(X).tobytes() == router.estimate_bias(X).tobytes()
    first, second = (_payload(tmp_path / n)["cate"] for n in ("router.mr", "again.mr"))
    assert _header(tmp_path / "again.mr")["format_version"] == _header(path)["format_version"]
    assert first["kind"] == second["kind"]
    if isinstance(first["models"][0]["model_final"], dict):  # a forest: the same arrays
        for key, value in first["models"][0]["model_final"].items():
            np.testing.assert_array_equal(second["models"][0]["model_final"][key], value)


@pytest.mark.parametrize("name", FORESTS)
def test_ties_go_left_as_in_econml(name, fitted, tmp_path):
    # rows whose features sit exactly on the forest's thresholds: `x <= threshold` goes left
    router = fitted[name]
    forest = _forest_of(_payload(_saved(router, tmp_path)))
    inner = forest["children_left"] != -1
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, N_FEATURES))
    split_on = [np.flatnonzero(inner & (forest["feature"] == j)) for j in range(N_FEATURES)]
    assert sum(nodes.size for nodes in split_on) > 0
    for j, nodes in enumerate(split_on):
        if nodes.size:
            X[:, j] = forest["threshold"][rng.choice(nodes, size=300)]
    twin = _load(tmp_path / "router.mr")
    expected = np.ravel(router.cate_estimator_.effect(X))
    assert twin.estimate_bias(X).tobytes() == expected.tobytes()


# -- what the file holds --------------------------------------------------------------------------
def _payload(path):
    return sio.loads(_members(path)[1], trusted=list(TRUSTED_TYPES))


def _forest_of(payload):
    return payload["cate"]["models"][0]["model_final"]


def _header(path):
    return json.loads(_members(path)[0])


@pytest.mark.parametrize(
    ("name", "kind", "featurizer"),
    [
        ("causal_forest", "causal_forest", False),
        ("forest_dr", "forest_dr", False),
        ("causal_forest+scaler", "causal_forest", True),
        ("r+scaler ridge", "nonparam_dml", True),
        ("dr+scaler lgbm", "drlearner", True),
    ],
)
def test_files_hold_plain_arrays_in_format_2(name, kind, featurizer, fitted, tmp_path):
    router = fitted[name]
    path = _saved(router, tmp_path)
    assert _header(path)["format_version"] == 2
    assert not [t for t in sio.get_untrusted_types(data=_members(path)[1]) if "econml" in t]
    cate = _payload(path)["cate"]
    assert cate["kind"] == kind
    (stage,) = cate["models"]
    assert set(stage) == {"featurizer", "model_final"}
    scaler = stage["featurizer"]
    if featurizer:
        fitted_scaler = router.cate_estimator_.featurizer_
        assert type(scaler) is StandardScaler
        np.testing.assert_array_equal(scaler.mean_, fitted_scaler.mean_)
        np.testing.assert_array_equal(scaler.scale_, fitted_scaler.scale_)
    else:
        assert scaler is None
    if kind in FORESTS:
        forest = stage["model_final"]
        assert set(forest) == set(_forest.FOREST_KEYS)
        assert forest["node_count"].size == 24
        assert forest["n_outputs"] == (2 if kind == "causal_forest" else 1)  # an intercept
        estimator = router.cate_estimator_
        econml_forest = (
            estimator.model_final_.estimators_[0]
            if kind == "causal_forest"
            else estimator.fitted_models_final[0]
        )
        tree = econml_forest.estimators_[-1].tree_  # the last tree: offsets are added
        last = slice(forest["threshold"].size - tree.node_count, None)
        offset = last.start
        np.testing.assert_array_equal(forest["threshold"][last], tree.threshold)
        np.testing.assert_array_equal(forest["jac"][last], tree.jac)
        np.testing.assert_array_equal(
            forest["children_left"][last],
            np.where(tree.children_left == -1, -1, tree.children_left + offset),
        )


def test_a_router_without_featurizer_or_forest_stays_in_format_1(split, tmp_path):
    learner = NonParamDML(
        model_y=LinearRegression(),
        model_t=LogisticRegression(),
        model_final=RidgeCV(),
        discrete_treatment=True,
        cv=2,
        random_state=0,
    )
    router = _fit(MetaRouter(learner=learner, router_model=RidgeCV(), random_state=0), split)
    path = _saved(router, tmp_path)
    assert _header(path)["format_version"] == 1  # older releases still read it
    assert isinstance(_payload(path)["cate"]["models"][0], RidgeCV)
    twin = _load(path)
    assert (
        twin.estimate_bias(split.X_test).tobytes() == router.estimate_bias(split.X_test).tobytes()
    )


# -- refusals at save -----------------------------------------------------------------------------
def test_another_featurizer_is_refused_clearly(split, tmp_path):
    learner = NonParamDML(
        model_y=LinearRegression(),
        model_t=LogisticRegression(),
        model_final=RidgeCV(),
        featurizer=PolynomialFeatures(degree=2),
        discrete_treatment=True,
        cv=2,
        random_state=0,
    )
    router = _fit(MetaRouter(learner=learner, router_model=RidgeCV(), random_state=0), split)
    with pytest.raises(
        ValueError,
        match=r"^Cannot save a MetaRouter whose NonParamDML has a PolynomialFeatures as "
        r"`featurizer`: router files hold only a scikit-learn StandardScaler featurizer",
    ):
        router.save(tmp_path / "router.mr")
    assert not list(tmp_path.iterdir())


def test_another_estimator_is_refused_naming_the_saveable_learners(split, tmp_path):
    learner = LinearDML(
        model_y=LinearRegression(), model_t=LogisticRegression(), discrete_treatment=True, cv=2
    )
    router = _fit(MetaRouter(learner=learner, router_model=RidgeCV(), random_state=0), split)
    with pytest.raises(
        ValueError,
        match=r"^Cannot save a MetaRouter whose `cate_estimator_` is a LinearDML: only routers "
        r"with learner 'r', 'dr', 'auto', 'causal_forest' or 'forest_dr'",
    ):
        router.save(tmp_path / "router.mr")
    assert not list(tmp_path.iterdir())


def test_save_audits_the_forest_too(fitted, tmp_path):
    twin = _load(_saved(fitted["causal_forest"], tmp_path))
    forest = twin.cate_estimator_.models[0]["model_final"]
    forest["feature"] = forest["feature"].copy()
    forest["feature"][0] = N_FEATURES
    with pytest.raises(ValueError, match=r"^Cannot save this MetaRouter: .*splits on feature 6"):
        save_router(twin, tmp_path / "edited.mr")  # its `learner` is None: see the round trip
    assert not (tmp_path / "edited.mr").exists()


# -- tampered files -------------------------------------------------------------------------------
def _forge(source, tmp_path, edit, *, format_version=2):
    """``source`` with its payload edited by ``edit(payload)``, rewritten with a valid digest."""
    payload = _payload(source)
    edit(payload)
    path = tmp_path / "forged.mr"
    dropped = _header(source)["dropped_params"]
    _archive.write_archive(
        path, "MetaRouter", sio.dumps(payload), dropped, format_version=format_version
    )
    return path


def _edit_forest(change):
    def edit(payload):
        forest = _forest_of(payload)
        change(forest)

    return edit


def _set(key, index, value):
    def change(forest):
        forest[key] = forest[key].copy()
        forest[key][index] = value

    return change


def _first_inner(forest):
    return int(np.flatnonzero(forest["children_left"] != -1)[0])


def _first_leaf(forest):
    return int(np.flatnonzero(forest["children_left"] == -1)[0])


def _inner_with_inner_left(forest):
    """An inner node whose left child is inner too, and that child."""
    left = forest["children_left"]
    node = int(np.flatnonzero((left != -1) & (left[np.maximum(left, 0)] != -1))[0])
    return node, int(left[node])


def _edits(forest):
    """Edits of the forest of the causal_forest router, each with the message it must raise."""
    total = forest["children_left"].size
    inner, leaf = _first_inner(forest), _first_leaf(forest)
    second_root = int(forest["node_count"][0])
    return {
        "child out of range": (
            _set("children_left", inner, total + 7),
            r"node 0 \(tree 0\) of its forest has children \d+ and \d+; they must be nodes after "
            r"it in its tree",
        ),
        "child in the next tree": (
            _set("children_right", inner, second_root),
            "must be nodes after it in its tree",
        ),
        "cycle to itself": (_set("children_left", inner, inner), "must be nodes after it"),
        "cycle to the parent": (
            _set(
                "children_right",
                _inner_with_inner_left(forest)[1],
                _inner_with_inner_left(forest)[0],
            ),
            "must be nodes after it",
        ),
        "two parents": (
            _set("children_right", inner, int(forest["children_left"][inner])),
            r"is the child of [02] nodes; every node but a tree's root is the child of exactly one",
        ),
        "half a leaf": (
            _set("children_left", leaf, leaf + 1),
            "has one child and not the other",
        ),
        "feature too big": (
            _set("feature", inner, N_FEATURES),
            rf"splits on feature {N_FEATURES}, outside \[0, {N_FEATURES}\)",
        ),
        "negative feature": (_set("feature", inner, -1), r"splits on feature -1"),
        "NaN threshold": (_set("threshold", inner, np.nan), "has a threshold that is not finite"),
        "NaN precond": (_set("precond", leaf, np.nan), "has a precond that is not finite"),
        "infinite jac": (_set("jac", leaf, np.inf), "has a jac that is not finite"),
        "counts do not add up": (
            _set("node_count", 0, int(forest["node_count"][0]) + 1),
            r"its forest's `children_left` must be an array of dtype int64 and shape",
        ),
        "empty tree": (_set("node_count", 0, 0), r"tree 0 of its forest has 0 nodes"),
        "float children": (
            lambda f: f.update(children_left=f["children_left"].astype(np.float64)),
            r"`children_left` must be an array of dtype int64 and shape",
        ),
        "more parameters": (
            lambda f: f.update(n_relevant_outputs=2),
            r"estimates 2 parameters of which 2 are effects",
        ),
        "other feature count": (
            lambda f: f.update(n_features=N_FEATURES + 1),
            rf"its forest has {N_FEATURES + 1} features for a router of {N_FEATURES}",
        ),
        "missing entry": (lambda f: f.pop("jac"), r"its forest must have the entries"),
        "extra entry": (lambda f: f.update(code="os.system"), r"its forest must have the entries"),
    }


EDITS = (
    "child out of range",
    "child in the next tree",
    "cycle to itself",
    "cycle to the parent",
    "two parents",
    "half a leaf",
    "feature too big",
    "negative feature",
    "NaN threshold",
    "NaN precond",
    "infinite jac",
    "counts do not add up",
    "empty tree",
    "float children",
    "more parameters",
    "other feature count",
    "missing entry",
    "extra entry",
)


@pytest.mark.parametrize("edit", EDITS)
def test_tampered_forest_is_refused(edit, fitted, tmp_path):
    source = _saved(fitted["causal_forest"], tmp_path)
    change, message = _edits(_forest_of(_payload(source)))[edit]
    path = _forge(source, tmp_path, _edit_forest(change))
    with pytest.raises(
        ValueError, match="^" + re.escape(f"{path}: its CATE model") + ".*" + message
    ):
        load(path)


def test_an_unedited_forged_file_loads(fitted, tmp_path):
    # the forging itself is sound: without an edit, the file loads and predicts the same bits
    router = fitted["causal_forest"]
    path = _forge(_saved(router, tmp_path), tmp_path, lambda payload: None)
    X = np.zeros((3, N_FEATURES))
    assert _load(path).estimate_bias(X).tobytes() == router.estimate_bias(X).tobytes()


def test_too_many_trees_are_refused_before_their_nodes_are_read(fitted, tmp_path):
    trees = _forest.MAX_FOREST_TREES + 1

    def many_leaves(forest):  # one leaf per tree: each tree is valid, there are too many
        forest.update(
            node_count=np.ones(trees, dtype=np.int64),
            children_left=np.full(trees, -1, dtype=np.int64),
            children_right=np.full(trees, -1, dtype=np.int64),
            feature=np.full(trees, -2, dtype=np.int64),
            threshold=np.full(trees, -2.0),
            precond=np.ones((trees, 2)),
            jac=np.tile([1.0, 0.0, 0.0, 1.0], (trees, 1)),
        )

    path = _forge(_saved(fitted["causal_forest"], tmp_path), tmp_path, _edit_forest(many_leaves))
    with pytest.raises(
        ValueError, match=rf"its forest has {trees} trees; a router file holds 1 to {trees - 1}\."
    ):
        load(path)


def test_the_node_cap_is_enforced(fitted, tmp_path, monkeypatch):
    source = _saved(fitted["causal_forest"], tmp_path)
    total = int(_forest_of(_payload(source))["node_count"].sum())
    monkeypatch.setattr(_forest, "MAX_FOREST_NODES", total - 1)
    with pytest.raises(ValueError, match=rf"its forest has {total} nodes, more than the limit"):
        load(source)
    monkeypatch.setattr(_forest, "MAX_FOREST_NODES", total)
    assert _load(source).cate_estimator_.kind == "causal_forest"


def test_a_forest_in_a_format_1_file_is_refused(fitted, tmp_path):
    path = _forge(
        _saved(fitted["forest_dr"], tmp_path), tmp_path, lambda payload: None, format_version=1
    )
    with pytest.raises(ValueError, match=r"a featurizer or a forest .* of format version 1"):
        load(path)


def test_a_forest_under_a_regressor_kind_is_refused(fitted, tmp_path):
    def relabel(payload):
        payload["cate"]["kind"] = "drlearner"

    path = _forge(_saved(fitted["forest_dr"], tmp_path), tmp_path, relabel)
    with pytest.raises(ValueError, match=r"the CATE model is not one fitted regressor"):
        load(path)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda scaler: setattr(scaler, "scale_", np.zeros(N_FEATURES)),
            r"featurizer StandardScaler is inconsistent: `scale_` must be positive",
        ),
        (
            lambda scaler: setattr(scaler, "mean_", np.full(N_FEATURES + 1, 0.5)),
            r"featurizer StandardScaler is inconsistent: `mean_` must be a finite float array",
        ),
        (
            lambda scaler: setattr(scaler, "n_features_in_", N_FEATURES + 1),
            r"featurizer StandardScaler is inconsistent: n_features_in_ is 7",
        ),
    ],
)
def test_tampered_featurizer_is_refused(edit, message, fitted, tmp_path):
    path = _forge(
        _saved(fitted["dr+scaler ridge"], tmp_path),
        tmp_path,
        lambda payload: edit(payload["cate"]["models"][0]["featurizer"]),
    )
    with pytest.raises(
        ValueError, match="^" + re.escape(str(path)) + ": its CATE model's " + message
    ):
        load(path)


def test_a_featurizer_of_another_type_in_a_file_is_refused(fitted, split, tmp_path):
    polynomial = PolynomialFeatures(degree=1, include_bias=False).fit(split.X_train.to_numpy())

    def swap(payload):
        payload["cate"]["models"][0]["featurizer"] = polynomial

    path = _forge(_saved(fitted["r+scaler ridge"], tmp_path), tmp_path, swap)
    with pytest.raises(
        ValueError,
        match=r"featurizer PolynomialFeatures is not a StandardScaler, the only featurizer",
    ):
        load(path)


def test_check_forest_accepts_what_encode_writes(fitted, tmp_path):
    for name in FORESTS:
        forest = _forest_of(_payload(_saved(fitted[name], tmp_path, f"{name}.mr")))
        check_forest(forest, N_FEATURES, "this forest")  # raises nothing
        with pytest.raises(ValueError, match=r"^this forest: its forest has 6 features"):
            check_forest(forest, N_FEATURES + 1, "this forest")
