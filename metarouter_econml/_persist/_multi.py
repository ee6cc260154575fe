"""The parts of a saved MultiMetaRouter that the two-model routers do not have.

A :class:`~metarouter_econml.MultiMetaRouter` file holds, besides the parameters and plain fitted
attributes that every router file holds (:mod:`._save_load`), a section ``"multi"`` of
:data:`SECTION_KEYS`:

``"coverage"``, ``"router_model_scores"``
    ``coverage_`` (its two tables) and ``router_model_scores_`` (or None) as exact tables
    (:func:`encode_frame`): one array per column, of its own dtype (int64, float64 or bool),
    the row labels (strings) per index level and the index names, so that the loaded tables
    equal the saved ones, dtypes and index included.
``"bias_estimator"``, ``"pair_bias"``
    The bias estimators' final stage only, never the EconML estimators. With the linear
    learners (``"lasso"``, ``"ridge"``, ``"linear"``), EconML's ``DML``/``LinearDML``
    ``const_marginal_effect(Z)`` is affine in the standardised features ``Z``: per treatment
    column ``t`` (a model against the reference, or a pair), ``intercept[t] + Z @ coef[t]``. A
    file keeps ``intercept_`` (shape ``(n_treatments,)``) and ``coef_`` (``(n_treatments,
    n_features)``), read from EconML's fitted estimator, and a loaded router holds a
    :class:`SavedLinearBias` that computes what EconML computes, in the same floating-point
    operations (so the same bits; see its docstring). ``pair_bias`` is a list of
    ``[model, opponent, bias]``, ``bias`` a float (the mean shift of a pair with little gold)
    or such an estimator. A forest (``learner="forest"``) is refused (:data:`SAVEABLE`).
``"two_model_router"``
    With two models, the nested MetaRouter or PooledRouter (its payload and dropped
    parameters), saved and checked as a top-level one (:mod:`._save_load`).

:func:`check_multi` checks the fitted state of a MultiMetaRouter (the rules are in its
docstring), at save on the state that the file will hold and at load on the state it held.
"""

from __future__ import annotations

from collections.abc import Mapping
from itertools import combinations
from numbers import Integral, Real
from typing import Any

import numpy as np
import pandas as pd

from .._comparisons import GoldCoverage
from .._compat import import_dowhy_quietly
from ._models import check_feature_scale, check_models

__all__ = [
    "KINDS",
    "LINEAR_LEARNERS",
    "PLAIN_ATTRIBUTES",
    "SAVEABLE",
    "SECTION_ATTRIBUTES",
    "SECTION_KEYS",
    "STRUCTURES",
    "SavedLinearBias",
    "check_multi",
    "decode_frame",
    "decode_section",
    "encode_frame",
    "encode_section",
]

STRUCTURES = ("shared", "independent", "none")
KINDS = ("pairwise", "pointwise")
LINEAR_LEARNERS = ("lasso", "ridge", "linear")
SAVEABLE = (
    "a MultiMetaRouter can be saved with learner 'lasso', 'ridge' or 'linear', or with any "
    "learner when it fits no bias estimator (structure='none', or two models)"
)
SECTION_KEYS = (
    "coverage",
    "router_model_scores",
    "bias_estimator",
    "pair_bias",
    "two_model_router",
)
#: The fitted attributes that the ``"multi"`` section holds, in the order of SECTION_KEYS.
SECTION_ATTRIBUTES = (
    "coverage_",
    "router_model_scores_",
    "bias_estimator_",
    "pair_bias_",
    "two_model_router_",
)
#: The fitted attributes held as they are (``feature_names_in_`` as strings; only it is optional).
PLAIN_ATTRIBUTES = (
    "feature_names_in_",
    "n_features_in_",
    "models_",
    "reference_",
    "kind_",
    "router_model_",
    "cate_feature_mean_",
    "cate_feature_scale_",
    "n_gold_",
    "n_preference_",
    "scale_",
)
PER_MODEL_COLUMNS = ("gold_labels", "gold_queries", "preference_labels", "preference_queries")
PER_PAIR_COLUMNS = ("gold_labels", "preference_labels")
BIAS_KEYS = ("intercept", "coef", "final_intercept")
FRAME_KEYS = ("columns", "values", "index", "index_names")
FRAME_DTYPES = (np.dtype(np.int64), np.dtype(np.float64), np.dtype(np.bool_))
MAX_INDEX_LEVELS = 8


class SavedLinearBias:
    """Read-only stand-in for the fitted linear bias estimator of a loaded MultiMetaRouter.

    It holds the final stage of EconML's ``DML`` (lasso or ridge final model) or ``LinearDML``
    only, and gives the same bits as the fitted estimator's ``const_marginal_effect(Z)``. EconML
    0.17 computes that (``_FinalWrapper.predict``) by repeating every row of ``Z`` once per
    treatment column, prepending a column of ones, taking the cross product with the unit
    treatments (``cross_product``: the features of treatment ``t`` in block ``t``) and
    multiplying by the final model's coefficients, which are ``[intercept[t], coef[t]]`` block
    by block; scikit-learn's linear models then add their own intercept (0.0: they fit none,
    which turns a ``-0.0`` into ``0.0``), EconML's ``StatsModelsLinearRegression`` adds none.
    This class performs those operations in that order, on the same array layouts.

    Nuisance models, inference and summaries are not saved.

    Parameters
    ----------
    intercept : ndarray of shape (n_treatments,)
        The constant term of the effect of each treatment column (EconML's ``intercept_``).
    coef : ndarray of shape (n_treatments, n_features)
        Its coefficients on the standardised features (EconML's ``coef_``).
    final_intercept : float or None
        The final model's own intercept, 0.0, added as scikit-learn adds it; None when the
        final model adds none (``LinearDML``).
    """

    def __init__(self, intercept: np.ndarray, coef: np.ndarray, final_intercept: float | None):
        self.intercept_ = _read_only(intercept)
        self.coef_ = _read_only(coef)
        self.final_intercept = final_intercept

    @property
    def n_treatments(self) -> int:
        """Number of treatment columns (models but the reference; 1 for a pair)."""
        return int(self.intercept_.shape[0])

    @property
    def n_features(self) -> int:
        """Number of features of ``Z``."""
        return int(self.coef_.shape[1])

    def __repr__(self) -> str:
        return f"SavedLinearBias(n_treatments={self.n_treatments}, n_features={self.n_features})"

    def const_marginal_effect(self, X: Any) -> np.ndarray:
        """The bias of each treatment column, shape ``(n_queries, n_treatments)``.

        Parameters
        ----------
        X : ndarray of shape (n_queries, n_features)
            Standardised features ``Z``.

        Returns
        -------
        ndarray of shape (n_queries, n_treatments)
        """
        X = np.asarray(X)
        if X.ndim != 2 or X.shape[1] != self.n_features:
            raise ValueError(f"`X` must have shape (n_queries, {self.n_features}); got {X.shape}.")
        n_t = self.n_treatments
        rows = np.repeat(X, n_t, axis=0)
        treatments = np.tile(np.eye(n_t), (X.shape[0], 1))
        features = np.hstack([np.ones((rows.shape[0], 1)), rows])
        crossed = np.reshape(
            features[:, np.newaxis, :] * treatments[:, :, np.newaxis], (rows.shape[0], -1)
        )
        weights = np.hstack([self.intercept_[:, np.newaxis], self.coef_]).ravel()
        effect = crossed @ weights
        if self.final_intercept is not None:
            effect = effect + self.final_intercept
        return np.reshape(effect, (-1, n_t))


def _read_only(array: Any) -> Any:
    """A read-only copy of a float64 array (anything else as it is, for the checks to refuse)."""
    if not (isinstance(array, np.ndarray) and array.dtype == np.float64):
        return array
    copy = np.array(array)
    copy.flags.writeable = False
    return copy


# -- bias estimators ------------------------------------------------------------------------------
def encode_bias(estimator: Any, n_treatments: int, n_features: int, cannot: str) -> SavedLinearBias:
    """The stand-in of a fitted EconML bias estimator, checked to give EconML's bits.

    Parameters
    ----------
    estimator : DML, LinearDML or SavedLinearBias
        A fitted estimator of :func:`.._estimation._multi.build_multi_bias_estimator` with a
        linear learner; a :class:`SavedLinearBias` (a loaded router saved again) is kept.
    n_treatments, n_features : int
        Its expected treatment columns and features.
    cannot : str
        Start of the error messages ("Cannot save this MultiMetaRouter").

    Raises
    ------
    ValueError
        For a forest or another estimator, a featurizer, a final model other than EconML's
        linear ones without intercept, or a stand-in that does not reproduce EconML's bits on
        a probe of zeros and unit vectors.
    """
    if isinstance(estimator, SavedLinearBias):
        return estimator
    import_dowhy_quietly()
    from econml.dml import DML, CausalForestDML, LinearDML
    from econml.sklearn_extensions.linear_model import StatsModelsLinearRegression
    from sklearn.linear_model import LassoCV, RidgeCV

    name = type(estimator).__name__
    if type(estimator) is CausalForestDML:
        raise ValueError(
            f"{cannot}: its bias estimator is EconML's CausalForestDML (learner='forest'), whose "
            f"forest a MultiMetaRouter file does not hold; {SAVEABLE}."
        )
    if type(estimator) not in (DML, LinearDML):
        raise ValueError(f"{cannot}: its bias estimator is a {name}; {SAVEABLE}.")
    final = getattr(estimator, "rlearner_model_final_", None)
    model: Any = getattr(final, "_model", None)
    if not (
        type(model) in (LassoCV, RidgeCV, StatsModelsLinearRegression)
        and getattr(model, "fit_intercept", True) is False
        and getattr(estimator, "original_featurizer", None) is None
        and getattr(final, "_fit_cate_intercept", False) is True
        and getattr(final, "_use_weight_trick", True) is False
        and getattr(final, "_intercept", 0.0) is None
        and getattr(final, "_d_t", None) == (n_treatments,)
        and getattr(final, "_d_y", None) == ()
    ):
        raise ValueError(
            f"{cannot}: its {name}'s final stage is not the one a router file holds (a lasso, "
            "ridge or EconML linear regression without intercept, no featurizer, a CATE "
            f"intercept, one outcome, {n_treatments} treatment columns); {SAVEABLE}."
        )
    final_intercept = None if type(model) is StatsModelsLinearRegression else model.intercept_
    if final_intercept is not None and not (
        isinstance(final_intercept, Real) and float(final_intercept) == 0.0
    ):
        raise ValueError(f"{cannot}: its {name}'s final model has an intercept.")
    intercept = np.array(estimator.intercept_, dtype=np.float64).reshape(n_treatments)
    coef = np.array(estimator.coef_, dtype=np.float64).reshape(n_treatments, n_features)
    stand_in = SavedLinearBias(
        intercept, coef, None if final_intercept is None else float(final_intercept)
    )
    weights = np.hstack([intercept[:, np.newaxis], coef]).ravel()
    probe = np.vstack([np.zeros((1, n_features)), np.eye(n_features), -np.eye(n_features)])
    expected = np.reshape(estimator.const_marginal_effect(probe), (-1, n_treatments))
    got = stand_in.const_marginal_effect(probe)
    if not (
        np.array_equal(weights, np.ravel(model.coef_))
        and got.dtype == expected.dtype
        and got.tobytes() == expected.tobytes()
    ):
        raise ValueError(
            f"{cannot}: its {name} does not compute its effect as EconML 0.17 does (the "
            "saved coefficients would not give the same bits); save it with EconML 0.17."
        )
    return stand_in


def _bias_entry(stand_in: SavedLinearBias) -> dict:
    return {
        "intercept": stand_in.intercept_,
        "coef": stand_in.coef_,
        "final_intercept": stand_in.final_intercept,
    }


def _decode_bias(entry: object, bad: str, what: str) -> SavedLinearBias:
    """A stand-in from its entry; its shapes are checked by :func:`check_multi`."""
    if not (isinstance(entry, dict) and set(entry) == set(BIAS_KEYS)):
        raise ValueError(
            f"{bad}: {what} must be a dict of {list(BIAS_KEYS)}; got {type(entry).__name__}."
        )
    intercept, coef, final_intercept = (entry[key] for key in BIAS_KEYS)
    for key, value, ndim in (("intercept", intercept, 1), ("coef", coef, 2)):
        if not (
            isinstance(value, np.ndarray)
            and value.dtype == np.float64
            and value.ndim == ndim
            and np.all(np.isfinite(value))
        ):
            found = getattr(value, "shape", type(value).__name__)
            raise ValueError(
                f"{bad}: the `{key}` of {what} must be a finite float64 array of {ndim} "
                f"dimension(s); got {found}."
            )
    if final_intercept is not None and not (
        type(final_intercept) is float and final_intercept == 0.0
    ):
        raise ValueError(
            f"{bad}: the `final_intercept` of {what} must be None or 0.0; got "
            f"{final_intercept!r:.40}."
        )
    return SavedLinearBias(intercept, coef, final_intercept)


# -- exact tables ---------------------------------------------------------------------------------
def encode_frame(frame: pd.DataFrame, what: str, cannot: str) -> dict:
    """A table as plain data that :func:`decode_frame` turns back into an equal one.

    Raises
    ------
    ValueError
        If a column is not int64, float64 or bool, a column name or row label is not a string,
        the columns are not unique, or the decoded table would differ from ``frame``.
    """
    index = frame.index
    levels = [list(index.get_level_values(level)) for level in range(index.nlevels)]
    columns = list(frame.columns)
    values = [frame.iloc[:, i].to_numpy() for i in range(frame.shape[1])]
    if not (
        all(isinstance(label, str) for level in levels for label in level)
        and all(isinstance(name, str) for name in columns)
        and len(set(columns)) == len(columns)
        and all(value.dtype in FRAME_DTYPES for value in values)
    ):
        raise ValueError(
            f"{cannot}: its table `{what}` must have unique str column names, str row labels "
            "and int64, float64 or bool columns."
        )
    entry = {
        "columns": columns,
        "values": [np.array(value) for value in values],
        "index": levels,
        "index_names": [None if name is None else str(name) for name in index.names],
    }
    try:
        pd.testing.assert_frame_equal(decode_frame(entry, cannot, what), frame, check_exact=True)
    except (AssertionError, ValueError) as exc:
        raise ValueError(f"{cannot}: its table `{what}` would not load as it is ({exc}).") from None
    return entry


def decode_frame(entry: object, bad: str, what: str) -> pd.DataFrame:
    """The table of an entry of :func:`encode_frame`, after checking its shape."""
    if not (isinstance(entry, dict) and set(entry) == set(FRAME_KEYS)):
        raise ValueError(f"{bad}: the table `{what}` is not a dict of {list(FRAME_KEYS)}.")
    columns, values, levels, names = (entry[key] for key in FRAME_KEYS)
    if not (
        isinstance(levels, list)
        and 1 <= len(levels) <= MAX_INDEX_LEVELS
        and all(isinstance(level, list) for level in levels)
    ):
        raise ValueError(
            f"{bad}: the row labels of `{what}` must be 1 to {MAX_INDEX_LEVELS} lists."
        )
    n_rows = len(levels[0])
    if not (
        all(len(level) == n_rows for level in levels)
        and all(isinstance(label, str) for level in levels for label in level)
        and isinstance(names, list)
        and len(names) == len(levels)
        and all(name is None or isinstance(name, str) for name in names)
    ):
        raise ValueError(
            f"{bad}: the row labels of `{what}` must be lists of {n_rows} str, one per index "
            "level, with one name (str or None) per level."
        )
    if not (
        isinstance(columns, list)
        and all(isinstance(name, str) for name in columns)
        and len(set(columns)) == len(columns)
        and isinstance(values, list)
        and len(values) == len(columns)
        and all(
            isinstance(value, np.ndarray)
            and value.dtype in FRAME_DTYPES
            and value.shape == (n_rows,)
            for value in values
        )
    ):
        raise ValueError(
            f"{bad}: the table `{what}` must have unique str column names and one int64, "
            f"float64 or bool array of {n_rows} values per column."
        )
    if len(levels) == 1:
        index: pd.Index = pd.Index(levels[0], name=names[0])
    else:
        index = pd.MultiIndex.from_arrays(levels, names=names)
    return pd.DataFrame(dict(zip(columns, values, strict=True)), index=index, columns=columns)


# -- the section ----------------------------------------------------------------------------------
def encode_section(router: Any, cannot: str) -> dict:
    """The ``"multi"`` section of a fitted MultiMetaRouter, but ``"two_model_router"`` (None).

    The caller sets ``"two_model_router"`` (it needs the payload of a two-model router).
    """
    models = router.models_
    n_features = router.n_features_in_
    coverage = router.coverage_
    if not isinstance(coverage, GoldCoverage):
        raise ValueError(f"{cannot}: `coverage_` is a {type(coverage).__name__}, not GoldCoverage.")
    scores = router.router_model_scores_
    if scores is not None and not isinstance(scores, pd.DataFrame):
        raise ValueError(f"{cannot}: `router_model_scores_` must be a DataFrame or None.")
    estimator = router.bias_estimator_
    pair_bias = router.pair_bias_
    if pair_bias is not None and not isinstance(pair_bias, dict):
        raise ValueError(f"{cannot}: `pair_bias_` must be a dict or None.")
    entries = None
    if pair_bias is not None:
        entries = []
        for key, value in pair_bias.items():
            if not (isinstance(key, tuple) and len(key) == 2):
                raise ValueError(f"{cannot}: `pair_bias_` key {key!r:.60} is not a pair.")
            if isinstance(value, float):
                value = float(value)
            else:
                value = _bias_entry(encode_bias(value, 1, n_features, cannot))
            entries.append([key[0], key[1], value])
    return {
        "coverage": {
            "per_model": encode_frame(coverage.per_model, "coverage_.per_model", cannot),
            "per_pair": encode_frame(coverage.per_pair, "coverage_.per_pair", cannot),
        },
        "router_model_scores": (
            None if scores is None else encode_frame(scores, "router_model_scores_", cannot)
        ),
        "bias_estimator": (
            None
            if estimator is None
            else _bias_entry(encode_bias(estimator, len(models) - 1, n_features, cannot))
        ),
        "pair_bias": entries,
        "two_model_router": None,
    }


def decode_section(section: object, bad: str) -> dict[str, Any]:
    """The attributes of :data:`SECTION_ATTRIBUTES` but ``two_model_router_``, from the section.

    Only the shape of each entry is checked here; :func:`check_multi` checks the values.
    """
    if not (isinstance(section, dict) and set(section) == set(SECTION_KEYS)):
        raise ValueError(f"{bad}: its section `multi` is not a dict of {list(SECTION_KEYS)}.")
    coverage = section["coverage"]
    if not (isinstance(coverage, dict) and set(coverage) == {"per_model", "per_pair"}):
        raise ValueError(f"{bad}: `coverage_` is not the two tables `per_model`, `per_pair`.")
    scores = section["router_model_scores"]
    estimator = section["bias_estimator"]
    entries = section["pair_bias"]
    pair_bias: dict | None = None
    if entries is not None:
        if not isinstance(entries, list):
            raise ValueError(f"{bad}: `pair_bias_` is not a list of [model, opponent, bias].")
        pair_bias = {}
        for entry in entries:
            if not (
                isinstance(entry, list)
                and len(entry) == 3
                and all(isinstance(name, str) for name in entry[:2])
            ):
                raise ValueError(
                    f"{bad}: `pair_bias_` entry {entry!r:.80} is not [model, opponent, bias]."
                )
            key = (entry[0], entry[1])
            if key in pair_bias:
                raise ValueError(f"{bad}: `pair_bias_` has the pair {key} twice.")
            value = entry[2]
            if isinstance(value, Real) and not isinstance(value, (bool, np.bool_)):
                pair_bias[key] = float(value)
            else:
                pair_bias[key] = _decode_bias(value, bad, f"`pair_bias_[{key}]`")
    return {
        "coverage_": GoldCoverage(
            decode_frame(coverage["per_model"], bad, "coverage_.per_model"),
            decode_frame(coverage["per_pair"], bad, "coverage_.per_pair"),
        ),
        "router_model_scores_": (
            None if scores is None else decode_frame(scores, bad, "router_model_scores_")
        ),
        "bias_estimator_": (
            None if estimator is None else _decode_bias(estimator, bad, "`bias_estimator_`")
        ),
        "pair_bias_": pair_bias,
    }


# -- the checks -----------------------------------------------------------------------------------
def check_multi(state: Mapping[str, Any], bad: str, source: str) -> None:
    """Check the fitted state of a MultiMetaRouter, as saved or as loaded.

    ``state`` maps parameter and attribute names to values (``vars`` of the router, with the
    bias estimators as :class:`SavedLinearBias` stand-ins); ``bad`` starts the messages of
    these rules, ``source`` those of :func:`._models.check_models`. The two-model router, if
    any, has passed the checks of a top-level router before this runs. The rules:

    * ``models_`` is a list of at least 2 unique str, in name order; ``reference_`` one of
      them; ``kind_`` one of :data:`KINDS`; the parameters ``structure`` and ``learner`` known;
    * ``n_features_in_`` a positive int (and ``feature_names_in_``, if any, one name per
      feature); ``scale_`` finite and positive; ``n_gold_``, ``n_preference_`` ints >= 0;
    * ``coverage_``: ``per_model`` indexed by ``models_`` and ``per_pair`` by every pair of
      them in name order (index names ``model``, ``opponent``), with their int64 count
      columns, none negative; ``router_model_scores_`` a table or None;
    * with a two-model router: two models, a MetaRouter (a PooledRouter for
      ``structure="none"``) of ``n_features_in_`` features, and no router model, scores,
      bias estimator or feature standardisation of its own;
    * otherwise the router model passes :func:`._models.check_models` with
      ``n_features_in_ + len(models_)`` features (the query features and the pair coding);
      ``structure="shared"`` has ``bias_estimator_`` (shape ``(K - 1, n_features_in_)``) and
      no ``pair_bias_``; ``"independent"`` has ``pair_bias_`` and no ``bias_estimator_``,
      whose keys are exactly the compared pairs (``coverage_.per_pair``, so pairs of known
      models in name order) and whose values are finite floats or estimators of shape
      ``(1, n_features_in_)``; both have the feature standardisation
      (``cate_feature_mean_``/``scale_``: finite, of one entry per feature, scales
      positive); ``"none"`` has none of these. A stand-in comes with a linear learner only,
      and its ``final_intercept`` is None exactly for ``learner="linear"``.

    Raises
    ------
    ValueError
        If a rule is broken.
    """
    missing = [name for name in PLAIN_ATTRIBUTES[1:] + SECTION_ATTRIBUTES if name not in state]
    if missing:
        raise ValueError(f"{bad}: it lacks the fitted attributes {missing}.")
    models = state["models_"]
    if not (
        isinstance(models, list)
        and len(models) >= 2
        and all(isinstance(name, str) for name in models)
        and len(set(models)) == len(models)
        and models == sorted(models)
    ):
        raise ValueError(
            f"{bad}: `models_` must be a list of at least 2 unique str in name order; got "
            f"{models!r:.100}."
        )
    if not (isinstance(state["reference_"], str) and state["reference_"] in models):
        raise ValueError(
            f"{bad}: `reference_` must be one of `models_` {models}; got "
            f"{state['reference_']!r:.60}."
        )
    if state["kind_"] not in KINDS:
        raise ValueError(f"{bad}: `kind_` must be one of {KINDS}; got {state['kind_']!r:.60}.")
    structure, learner = state.get("structure"), state.get("learner")
    if structure not in STRUCTURES:
        raise ValueError(f"{bad}: `structure` must be one of {STRUCTURES}; got {structure!r:.60}.")
    if learner not in (*LINEAR_LEARNERS, "forest"):
        raise ValueError(f"{bad}: `learner` {learner!r:.60} is not a learner of MultiMetaRouter.")
    n_features = state["n_features_in_"]
    if not (
        isinstance(n_features, Integral)
        and not isinstance(n_features, bool)
        and int(n_features) > 0
    ):
        raise ValueError(f"{bad}: `n_features_in_` must be a positive int; got {n_features!r:.40}.")
    n_features = int(n_features)
    names = state.get("feature_names_in_")
    if names is not None and len(names) != n_features:
        raise ValueError(f"{bad}: {len(names)} feature names for {n_features} features.")
    scale = state["scale_"]
    if not (
        isinstance(scale, Real)
        and not isinstance(scale, bool)
        and np.isfinite(float(scale))
        and float(scale) > 0
    ):
        raise ValueError(f"{bad}: `scale_` must be a finite positive number; got {scale!r:.40}.")
    for name in ("n_gold_", "n_preference_"):
        count = state[name]
        if not (isinstance(count, Integral) and not isinstance(count, bool) and int(count) >= 0):
            raise ValueError(f"{bad}: `{name}` must be an int >= 0; got {count!r:.40}.")
    _check_coverage(state["coverage_"], models, bad)
    scores = state["router_model_scores_"]
    if scores is not None and not isinstance(scores, pd.DataFrame):
        raise ValueError(f"{bad}: `router_model_scores_` must be a table or None.")
    estimator, pair_bias = state["bias_estimator_"], state["pair_bias_"]
    nested = state["two_model_router_"]
    scaled = check_feature_scale(
        state["cate_feature_mean_"], state["cate_feature_scale_"], n_features, bad
    )
    if nested is not None:
        expected = "PooledRouter" if structure == "none" else "MetaRouter"
        own = {
            "router_model_": state["router_model_"],
            "router_model_scores_": scores,
            "bias_estimator_": estimator,
            "pair_bias_": pair_bias,
            "cate_feature_mean_": state["cate_feature_mean_"],
        }
        present = [name for name, value in own.items() if value is not None]
        if len(models) != 2 or type(nested).__name__ != expected or present:
            raise ValueError(
                f"{bad}: a two-model router ({type(nested).__name__}) belongs to a router of two "
                f"models, a {expected} for structure={structure!r}, that has none of {list(own)} "
                f"itself; got {len(models)} models and {present}."
            )
        if getattr(nested, "n_features_in_", None) != n_features:
            raise ValueError(
                f"{bad}: its two-model router has {getattr(nested, 'n_features_in_', None)!r} "
                f"features for a router of {n_features}."
            )
        return
    router_model = state["router_model_"]
    if router_model is None:
        raise ValueError(f"{bad}: it has neither a router model nor a two-model router.")
    check_models(
        router_model=router_model,
        overlap_models=None,
        cate=None,
        n_features=n_features + len(models),
        source=source,
    )
    fitted = {
        "shared": ("bias_estimator_", True, False),
        "independent": ("pair_bias_", False, True),
        "none": ("no bias estimator", False, False),
    }[structure]
    if (estimator is not None, pair_bias is not None, scaled) != (
        fitted[1],
        fitted[2],
        structure != "none",
    ):
        raise ValueError(
            f"{bad}: structure={structure!r} has {fitted[0]}"
            + ("" if structure == "none" else " and the feature standardisation")
            + f"; got bias_estimator_ {type(estimator).__name__}, pair_bias_ "
            f"{type(pair_bias).__name__} and {'a' if scaled else 'no'} feature standardisation."
        )
    stand_ins: list[tuple[str, Any, int]] = []
    if estimator is not None:
        stand_ins.append(("`bias_estimator_`", estimator, len(models) - 1))
    if pair_bias is not None:
        stand_ins += _check_pair_keys(pair_bias, state["coverage_"], bad)
    for what, stand_in, n_treatments in stand_ins:
        _check_stand_in(stand_in, what, n_treatments, n_features, learner, bad)


def _check_coverage(coverage: object, models: list, bad: str) -> None:
    if not isinstance(coverage, GoldCoverage):
        raise ValueError(f"{bad}: `coverage_` is a {type(coverage).__name__}, not GoldCoverage.")
    pairs = list(combinations(models, 2))
    for what, frame, rows, names, columns in (
        ("per_model", coverage.per_model, models, ["model"], PER_MODEL_COLUMNS),
        ("per_pair", coverage.per_pair, pairs, ["model", "opponent"], PER_PAIR_COLUMNS),
    ):
        if not (
            isinstance(frame, pd.DataFrame)
            and list(frame.index) == rows
            and list(frame.index.names) == names
            and list(frame.columns) == list(columns)
            and all(dtype == np.int64 for dtype in frame.dtypes)
            and bool((frame.to_numpy() >= 0).all())
        ):
            raise ValueError(
                f"{bad}: `coverage_.{what}` must be indexed by {names} {rows} (the models in "
                f"name order) with int64 counts {list(columns)}, none negative."
            )


def _check_pair_keys(
    pair_bias: dict, coverage: GoldCoverage, bad: str
) -> list[tuple[str, Any, int]]:
    counts = coverage.per_pair
    compared = [
        pair
        for pair, gold, preference in zip(
            counts.index, counts["gold_labels"], counts["preference_labels"], strict=True
        )
        if gold + preference > 0
    ]
    if list(pair_bias) != compared:
        raise ValueError(
            f"{bad}: `pair_bias_` must have one entry per compared pair of `models_`, "
            f"(model, opponent) in name order, {compared}; got {list(pair_bias)!r:.200}."
        )
    stand_ins = []
    for key, value in pair_bias.items():
        what = f"`pair_bias_[{key}]`"
        if type(value) is float:
            if not np.isfinite(value):
                raise ValueError(f"{bad}: {what} must be finite; got {value!r}.")
        else:
            stand_ins.append((what, value, 1))
    return stand_ins


def _check_stand_in(
    stand_in: Any, what: str, n_treatments: int, n_features: int, learner: object, bad: str
) -> None:
    if not isinstance(stand_in, SavedLinearBias):
        raise ValueError(f"{bad}: {what} is a {type(stand_in).__name__}, not a SavedLinearBias.")
    for key, value, shape in (
        ("intercept_", stand_in.intercept_, (n_treatments,)),
        ("coef_", stand_in.coef_, (n_treatments, n_features)),
    ):
        if not (
            isinstance(value, np.ndarray)
            and value.dtype == np.float64
            and value.shape == shape
            and np.all(np.isfinite(value))
        ):
            raise ValueError(
                f"{bad}: the `{key}` of {what} must be a finite float64 array of shape {shape} "
                f"({n_treatments} treatment column(s), {n_features} features); got "
                f"{getattr(value, 'shape', type(value).__name__)}."
            )
    if learner not in LINEAR_LEARNERS or (stand_in.final_intercept is None) != (
        learner == "linear"
    ):
        raise ValueError(
            f"{bad}: {what} is a linear estimator with final_intercept "
            f"{stand_in.final_intercept!r}, which learner={learner!r} does not fit."
        )
