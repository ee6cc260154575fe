"""The models a router file may hold, and the checks of their fitted state.

Loading builds only trusted types, but a trusted estimator can still hold fitted arrays that
disagree with each other, and compiled prediction code follows them unchecked: an ``SVR`` whose
``dual_coef_`` is shorter than its support vectors makes libsvm compute with memory past the
array. Every trusted estimator's state cannot be checked, so the models that a router predicts
with, its router model (``router_model_``), its CATE model and its overlap models
(``overlap_models_``), must be of the types below, whose fitted state :func:`check_models`
checks; it refuses any other type, at save and at load.

Regressors (router and CATE models)
    ``LGBMRegressor``; ``DecisionTreeRegressor``, ``ExtraTreeRegressor`` and the forests
    ``RandomForestRegressor``, ``ExtraTreesRegressor`` of them; ``LinearRegression``,
    ``Ridge``, ``RidgeCV``, ``Lasso``, ``LassoCV``, ``ElasticNet``, ``ElasticNetCV``; a
    ``VotingRegressor`` (the plain average) of these.
Classifiers (overlap models, binary)
    ``LGBMClassifier``; ``DecisionTreeClassifier``, ``ExtraTreeClassifier``,
    ``RandomForestClassifier``, ``ExtraTreesClassifier``; ``LogisticRegression``.
Pipelines
    A scikit-learn ``Pipeline`` of ``StandardScaler`` steps and one final model of the role's
    types.
CATE final stages (:mod:`._standin`)
    One of the regressors above; or a ``StandardScaler`` featurizer (or none) and one of the
    regressors above, for ``NonParamDML`` and ``DRLearner``; or a featurizer (or none) and the
    arrays of an EconML forest (:mod:`._forest`), for ``CausalForestDML`` and
    ``ForestDRLearner``. No EconML type is ever built from a file.

What is checked, against the router's number of features ``n``
    * every model: ``n_features_in_ == n``, and its thread count (``n_jobs`` and LightGBM's
      aliases of ``num_threads``), which prediction uses, is None or at most
      :data:`MAX_THREADS` in absolute value;
    * LightGBM: a fitted ``Booster`` (whose text :mod:`._audit` checked) with ``n`` features
      and one tree per iteration, a ``best_iteration`` within its iterations (or -1: all), no pandas
      categories; classifiers have the binary objective and two classes;
    * scikit-learn trees (their node and feature indices are checked by :mod:`._audit`): one
      output, a value array of one entry per node (two class weights, not negative, for a
      classifier), finite; forests: a non-empty list of trees of the forest's kind, each checked;
    * linear models: ``coef_`` of shape ``(n,)`` (``(1, n)`` for a logistic regression), a
      scalar ``intercept_`` (shape ``(1,)``), all finite; two classes for a classifier;
    * ``VotingRegressor``: ``weights`` None (predicting averages the parts), ``estimators_`` a
      list of at least two parts, each a regressor of the types above (or a pipeline) that
      passes its own checks, ``estimators`` naming each once (none ``"drop"``) and
      ``named_estimators_`` a ``Bunch`` of exactly these names to the very objects of
      ``estimators_``, in order, so that its named parts are the ones it predicts with;
    * ``StandardScaler`` (pipeline step or featurizer): ``mean_`` and ``scale_`` of shape
      ``(n,)`` where they are used, finite, ``scale_`` positive;
    * an EconML forest's arrays: every check of :func:`._forest.check_forest` (node and feature
      indices in range, each tree a tree, finite values, at most
      :data:`._forest.MAX_FOREST_TREES` trees and :data:`._forest.MAX_FOREST_NODES` nodes).

Then every model predicts on one row of zeros: a regressor must give one finite value (for the
CATE model, through the final stage of :mod:`._standin`), a classifier two probabilities in
[0, 1].
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from numbers import Integral
from typing import Any

import numpy as np

from ._forest import check_forest
from ._standin import FOREST_KINDS, final_stage_effect

__all__ = ["MAX_THREADS", "check_feature_scale", "check_models", "model_types"]

MAX_THREADS = 1024
_THREAD_PARAMS = ("n_jobs", "num_threads", "num_thread", "nthread", "nthreads")

Check = Callable[[Any, int, str], None]


def check_models(
    *,
    router_model: Any,
    overlap_models: Any,
    cate: tuple[str, Any] | None,
    n_features: int,
    source: str,
) -> None:
    """Refuse a router's models unless each is of an allowed type, consistent, and predicts.

    Parameters
    ----------
    router_model : estimator
        ``router_model_``.
    overlap_models : list of classifiers or None
        ``overlap_models_`` of a MetaRouter fitted with ``overlap="trim"``.
    cate : (kind, final stage) or None
        The kind (:data:`._standin.KINDS`) and final stage of the CATE estimator: its final
        model, or a dict of its featurizer and final model (:mod:`._standin`).
    n_features : int
        The router's ``n_features_in_``.
    source : str
        Start of the messages: a file name, or "Cannot save this PooledRouter".

    Raises
    ------
    ValueError
        If a model is of another type than those of the module docstring, fails one of its
        checks, or does not predict as it should on a row of zeros.
    """
    roles: list[tuple[str, Any, bool]] = [("router model", router_model, False)]
    if overlap_models is not None:
        if not (isinstance(overlap_models, list) and overlap_models):
            raise ValueError(f"{source}: `overlap_models_` is not a list of fitted classifiers.")
        roles += [("overlap model", model, True) for model in overlap_models]
    for role, model, classifier in roles:
        _check_model(model, n_features, role, classifier, source)
    if cate is not None:
        _check_final_stage(cate[0], cate[1], n_features, source)
        roles.append(("CATE model", cate[1], False))
    zeros = np.zeros((1, n_features))
    for role, model, classifier in roles:
        bad = f"{source}: its {role} {_name(model)}"
        try:
            if classifier:
                out = np.asarray(model.predict_proba(zeros), dtype=np.float64)
            elif role == "CATE model" and cate is not None:
                out = final_stage_effect(cate[0], model, zeros)
            else:
                out = np.asarray(model.predict(zeros), dtype=np.float64)
        except Exception as exc:  # noqa: BLE001 - any failure to predict refuses the model
            raise ValueError(
                f"{bad} fails to predict on a row of zeros: {type(exc).__name__}: {exc}"
            ) from None
        if classifier:
            if out.shape != (1, 2) or not np.all((out >= 0) & (out <= 1)):
                raise ValueError(
                    f"{bad} gives {out.ravel()[:4]} as probabilities of a row of zeros; it "
                    "must give two probabilities in [0, 1]."
                )
        elif out.size != 1 or not np.all(np.isfinite(out)):
            raise ValueError(
                f"{bad} predicts {out.ravel()[:4]} for a row of zeros; it must predict one "
                "finite value."
            )


def check_feature_scale(mean: Any, scale: Any, n_features: int, bad: str) -> bool:
    """Check the standardisation of a router's CATE features; whether it is present.

    ``cate_feature_mean_``/``cate_feature_scale_`` (``mean``, ``scale``) are both absent (None),
    or finite float64 vectors of one entry per feature, the scales positive (they divide the
    features of every query). ``bad`` starts the messages.

    Raises
    ------
    ValueError
        If a rule is broken.
    """
    if mean is None and scale is None:
        return False
    for name, value in (("cate_feature_mean_", mean), ("cate_feature_scale_", scale)):
        if not (
            isinstance(value, np.ndarray)
            and value.dtype == np.float64
            and value.shape == (n_features,)
            and np.all(np.isfinite(value))
        ):
            raise ValueError(
                f"{bad}: `{name}` must be a finite float64 array of shape ({n_features},); got "
                f"{type(value).__name__} {getattr(value, 'shape', '')}."
            )
    if np.any(np.asarray(scale) <= 0):
        raise ValueError(f"{bad}: `cate_feature_scale_` must be positive.")
    return True


def _name(model: Any) -> str:
    """A model's class name; for a final stage of :mod:`._standin`, its parts'."""
    if not isinstance(model, dict):
        return type(model).__name__
    final = model.get("model_final")
    parts = [model.get("featurizer"), final]
    return " and ".join(
        "EconML forest" if isinstance(part, dict) else type(part).__name__
        for part in parts
        if part is not None
    )


def _check_final_stage(kind: str, stage: Any, n_features: int, source: str) -> None:
    """The CATE model: a regressor, or a dict of a featurizer (or None) and a final model."""
    role = "CATE model"
    if not isinstance(stage, dict):
        if kind in FOREST_KINDS:
            raise ValueError(f"{source}: its {role} of a {kind} is not an encoded forest.")
        _check_model(stage, n_features, role, False, source)
        return
    from sklearn.preprocessing import StandardScaler

    featurizer, final = stage.get("featurizer"), stage.get("model_final")
    if featurizer is not None:
        bad = f"{source}: its {role}'s featurizer {type(featurizer).__name__}"
        if type(featurizer) is not StandardScaler:
            raise ValueError(
                f"{bad} is not a StandardScaler, the only featurizer that router files hold."
            )
        _check_features(featurizer, n_features, f"{bad} is inconsistent")
        _standard_scaler(featurizer, n_features, f"{bad} is inconsistent")
    if kind in FOREST_KINDS:
        check_forest(final, n_features, f"{source}: its {role} is inconsistent")
    elif isinstance(final, dict):
        raise ValueError(f"{source}: its {role} of a {kind} is a forest's arrays.")
    else:
        _check_model(final, n_features, role, False, source)


def _check_model(model: Any, n_features: int, role: str, classifier: bool, source: str) -> None:
    regressors, classifiers, _ = model_types()
    table = classifiers if classifier else regressors
    name = type(model).__name__
    check = _check_of(model, table)
    if check is None:
        raise ValueError(
            f"{source}: its {role} is a {type(model).__module__}.{name}, which router files "
            f"cannot hold: its fitted state is not checked on load. {role[0].upper()}"
            f"{role[1:]}s can be {', '.join(sorted(cls.__name__ for cls in table))}, or a "
            "Pipeline of StandardScaler steps and one of these."
        )
    _check_fitted(model, check, n_features, f"{source}: its {role} {name} is inconsistent")


def _check_fitted(model: Any, check: Check, n_features: int, bad: str) -> None:
    """Every check of a fitted model: its number of features, its threads, its type's ``check``."""
    _check_features(model, n_features, bad)
    _check_threads(model, bad)
    check(model, n_features, bad)


def _check_of(model: Any, table: dict[type, Check]) -> Check | None:
    """The check of ``model``'s type in ``table`` (a pipeline's of its own), or None."""
    return _pipeline(table) if type(model) is model_types()[2] else table.get(type(model))


def _check_features(model: Any, n_features: int, bad: str) -> None:
    try:
        found = model.n_features_in_
    except Exception:  # noqa: BLE001 - an unfitted or broken model has no feature count
        found = None
    if not (isinstance(found, Integral) and found == n_features):
        raise ValueError(f"{bad}: n_features_in_ is {found!r} for a router of {n_features}.")


def _check_threads(model: Any, bad: str) -> None:
    params = model.get_params(deep=False)
    for key in _THREAD_PARAMS:
        value = params.get(key)
        if value is not None and not (
            isinstance(value, Integral) and -MAX_THREADS <= int(value) <= MAX_THREADS
        ):
            raise ValueError(f"{bad}: `{key}` is {value!r}; at most {MAX_THREADS} threads.")


def _check_array(model: Any, name: str, shape: tuple[int, ...], bad: str) -> np.ndarray:
    value = getattr(model, name, None)
    if not (
        isinstance(value, np.ndarray)
        and value.dtype.kind == "f"
        and value.shape == shape
        and np.all(np.isfinite(value))
    ):
        found = (
            f"{value.dtype} array of shape {value.shape}"
            if isinstance(value, np.ndarray)
            else type(value).__name__
        )
        raise ValueError(
            f"{bad}: `{name}` must be a finite float array of shape {shape}; got {found}."
        )
    return value


def _check_classes(model: Any, bad: str, attribute: str = "classes_") -> None:
    classes: Any = getattr(model, attribute, None)
    if np.shape(classes) != (2,):
        raise ValueError(f"{bad}: `{attribute}` must hold two classes; got {classes!r:.80}.")


# -- LightGBM --------------------------------------------------------------------------------------
def _lightgbm(classifier: bool) -> Check:
    def check(model: Any, n_features: int, bad: str) -> None:
        from lightgbm import Booster

        booster = getattr(model, "_Booster", None)
        if not (isinstance(booster, Booster) and getattr(model, "fitted_", False) is True):
            raise ValueError(f"{bad}: it has no fitted Booster.")
        counts = {
            "_n_features": getattr(model, "_n_features", None),
            "_n_features_in": getattr(model, "_n_features_in", None),
            "Booster.num_feature()": booster.num_feature(),
        }
        if any(count != n_features for count in counts.values()):
            raise ValueError(f"{bad}: its feature counts {counts} are not all {n_features}.")
        if booster.num_model_per_iteration() != 1:
            raise ValueError(f"{bad}: its Booster has more than one tree per iteration.")
        best, iterations = booster.best_iteration, booster.current_iteration()
        if not (isinstance(best, Integral) and -1 <= int(best) <= iterations):  # -1: all
            raise ValueError(
                f"{bad}: its Booster's best_iteration {best!r} is not within its {iterations} "
                "iterations."
            )
        if booster.pandas_categorical is not None:
            raise ValueError(f"{bad}: its Booster records pandas categories.")
        objective = getattr(model, "_objective", None)
        if classifier:
            if objective != "binary" or getattr(model, "_n_classes", None) != 2:
                raise ValueError(f"{bad}: an overlap model must be a binary classifier.")
            _check_classes(model, bad, "_classes")
        elif not isinstance(objective, str):
            raise ValueError(f"{bad}: its objective is {objective!r}, not a LightGBM objective.")

    return check


# -- scikit-learn trees and forests --------------------------------------------------------------
def _tree(classifier: bool) -> Check:
    width = 2 if classifier else 1

    def check(model: Any, n_features: int, bad: str) -> None:
        tree = model.tree_  # a Tree, audited by ._audit before this runs
        if getattr(model, "n_outputs_", None) != 1 or tree.n_outputs != 1:
            raise ValueError(f"{bad}: it must have one output; got {model.n_outputs_!r}.")
        value = tree.value
        if value.shape != (tree.node_count, 1, width) or not np.all(np.isfinite(value)):
            raise ValueError(
                f"{bad}: its tree's values must be finite, of shape "
                f"{(tree.node_count, 1, width)}; got shape {value.shape}."
            )
        if classifier:
            _check_classes(model, bad)
            if model.n_classes_ != 2 or list(tree.n_classes) != [2] or np.any(value < 0):
                raise ValueError(f"{bad}: an overlap model must be a binary classifier.")

    return check


def _forest(tree_type: type, classifier: bool) -> Check:
    check_tree = _tree(classifier)

    def check(model: Any, n_features: int, bad: str) -> None:
        trees = getattr(model, "estimators_", None)
        if not (isinstance(trees, list) and trees):
            raise ValueError(f"{bad}: `estimators_` is not a non-empty list of trees.")
        if getattr(model, "n_outputs_", None) != 1:
            raise ValueError(f"{bad}: it must have one output; got {model.n_outputs_!r}.")
        if classifier:
            _check_classes(model, bad)
            if model.n_classes_ != 2:
                raise ValueError(f"{bad}: an overlap model must be a binary classifier.")
        for i, tree in enumerate(trees):
            if type(tree) is not tree_type:
                raise ValueError(
                    f"{bad}: estimators_[{i}] is a {type(tree).__name__}, not a "
                    f"{tree_type.__name__}."
                )
            tree_bad = f"{bad}: estimators_[{i}]"
            _check_features(tree, n_features, tree_bad)
            check_tree(tree, n_features, tree_bad)

    return check


# -- linear models ---------------------------------------------------------------------------------
def _linear_regressor(model: Any, n_features: int, bad: str) -> None:
    _check_array(model, "coef_", (n_features,), bad)
    intercept = getattr(model, "intercept_", None)
    if not (
        isinstance(intercept, (float, np.floating, np.ndarray))
        and np.ndim(intercept) == 0
        and np.isfinite(intercept)
    ):
        raise ValueError(f"{bad}: `intercept_` must be one finite number; got {intercept!r:.80}.")


def _logistic_regression(model: Any, n_features: int, bad: str) -> None:
    _check_classes(model, bad)
    _check_array(model, "coef_", (1, n_features), bad)
    _check_array(model, "intercept_", (1,), bad)


# -- pipelines -------------------------------------------------------------------------------------
def _standard_scaler(model: Any, n_features: int, bad: str) -> None:
    if model.with_mean:
        _check_array(model, "mean_", (n_features,), bad)
    if model.with_std:
        scale = _check_array(model, "scale_", (n_features,), bad)
        if np.any(scale <= 0):
            raise ValueError(f"{bad}: `scale_` must be positive.")


def _pipeline(table: dict[type, Check]) -> Check:
    from sklearn.preprocessing import StandardScaler

    def check(model: Any, n_features: int, bad: str) -> None:
        steps = getattr(model, "steps", None)
        if not (
            isinstance(steps, list)
            and steps
            and all(isinstance(step, tuple) and len(step) == 2 for step in steps)
        ):
            raise ValueError(f"{bad}: `steps` is not a list of (name, estimator) pairs.")
        *scalers, (_, final) = steps
        for name, scaler in scalers:
            if type(scaler) is not StandardScaler:
                raise ValueError(
                    f"{bad}: step {name!r} is a {type(scaler).__name__}; a pipeline's steps "
                    "before the last must be StandardScaler."
                )
            _check_features(scaler, n_features, f"{bad}: step {name!r}")
            _standard_scaler(scaler, n_features, f"{bad}: step {name!r}")
        final_check = table.get(type(final))
        if final_check is None:
            raise ValueError(
                f"{bad}: its last step is a {type(final).__name__}, not one of "
                f"{', '.join(sorted(cls.__name__ for cls in table))}."
            )
        _check_fitted(final, final_check, n_features, f"{bad}: step {steps[-1][0]!r}")

    return check


# -- averages of regressors ------------------------------------------------------------------------
def _voting(table: dict[type, Check]) -> Check:
    """The check of a ``VotingRegressor`` whose parts are regressors of ``table``."""
    from sklearn.utils import Bunch

    def check(model: Any, n_features: int, bad: str) -> None:
        weights = model.weights
        if weights is not None:
            raise ValueError(
                f"{bad}: `weights` is {weights!r:.80}; router files hold the plain average "
                "(weights=None)."
            )
        parts = getattr(model, "estimators_", None)
        if not (isinstance(parts, list) and len(parts) >= 2):
            found = len(parts) if isinstance(parts, list) else type(parts).__name__
            raise ValueError(
                f"{bad}: `estimators_` must be a list of at least 2 fitted regressors; got {found}."
            )
        declared = model.estimators
        if not (
            isinstance(declared, list)
            and all(
                isinstance(pair, tuple) and len(pair) == 2 and isinstance(pair[0], str)
                for pair in declared
            )
        ):
            raise ValueError(f"{bad}: `estimators` is not a list of (name, estimator) pairs.")
        names = [name for name, _ in declared]
        if len(names) != len(parts) or len(set(names)) != len(names):
            raise ValueError(
                f"{bad}: `estimators` must name each of its {len(parts)} fitted parts once (none "
                f"'drop'); got {names!r:.120}."
            )
        named: Any = getattr(model, "named_estimators_", None)
        if not (
            type(named) is Bunch
            and list(named) == names
            and all(named[name] is part for name, part in zip(names, parts, strict=True))
        ):
            raise ValueError(
                f"{bad}: `named_estimators_` must map {names} to the fitted parts of "
                "`estimators_`, in order (the same objects)."
            )
        for name, part in zip(names, parts, strict=True):
            part_bad = f"{bad}: part {name!r}"
            part_check = _check_of(part, table)
            if part_check is None:
                raise ValueError(
                    f"{part_bad} is a {type(part).__module__}.{type(part).__name__}, not one of "
                    f"{', '.join(sorted(cls.__name__ for cls in table))} or a Pipeline of them."
                )
            _check_fitted(part, part_check, n_features, part_bad)

    return check


@cache
def model_types() -> tuple[dict[type, Check], dict[type, Check], type]:
    """The allowed regressors and classifiers, each with its check, and scikit-learn's Pipeline.

    Built on first use, so that importing this module imports neither LightGBM nor
    scikit-learn's ensembles.
    """
    from lightgbm import LGBMClassifier, LGBMRegressor
    from sklearn.ensemble import (
        ExtraTreesClassifier,
        ExtraTreesRegressor,
        RandomForestClassifier,
        RandomForestRegressor,
        VotingRegressor,
    )
    from sklearn.linear_model import (
        ElasticNet,
        ElasticNetCV,
        Lasso,
        LassoCV,
        LinearRegression,
        LogisticRegression,
        Ridge,
        RidgeCV,
    )
    from sklearn.pipeline import Pipeline
    from sklearn.tree import (
        DecisionTreeClassifier,
        DecisionTreeRegressor,
        ExtraTreeClassifier,
        ExtraTreeRegressor,
    )

    regressors: dict[type, Check] = {
        LGBMRegressor: _lightgbm(classifier=False),
        DecisionTreeRegressor: _tree(classifier=False),
        ExtraTreeRegressor: _tree(classifier=False),
        RandomForestRegressor: _forest(DecisionTreeRegressor, classifier=False),
        ExtraTreesRegressor: _forest(ExtraTreeRegressor, classifier=False),
        **dict.fromkeys(
            (LinearRegression, Ridge, RidgeCV, Lasso, LassoCV, ElasticNet, ElasticNetCV),
            _linear_regressor,
        ),
    }
    regressors[VotingRegressor] = _voting(regressors)  # its parts: any of the table, itself too
    classifiers: dict[type, Check] = {
        LGBMClassifier: _lightgbm(classifier=True),
        DecisionTreeClassifier: _tree(classifier=True),
        ExtraTreeClassifier: _tree(classifier=True),
        RandomForestClassifier: _forest(DecisionTreeClassifier, classifier=True),
        ExtraTreesClassifier: _forest(ExtraTreeClassifier, classifier=True),
        LogisticRegression: _logistic_regression,
    }
    return regressors, classifiers, Pipeline
