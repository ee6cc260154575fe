"""Multi-model routing data: a long table of labels among several models, and its splits.

`MultiRoutingDataset` holds queries (features ``X``, one row per query) and a long
``comparisons`` table with one row per label: a pairwise comparison of two models on a query
or a pointwise grade of one model, either gold-standard (GS, e.g. humans or a rubric) or
preference-based (PB, e.g. an LLM judge). `MultiRoutingDataset.split` draws the Meta-Router
paper's protocol on queries: test queries (evaluated with their GS labels), a few GS training
queries and PB training queries, with disjoint query sets. `make_multi_routing_data`
generates such data with a known per-model quality and judge bias.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import combinations
from numbers import Integral
from typing import Any

import numpy as np
import pandas as pd
from sklearn.utils import check_random_state

from .._comparisons import check_comparisons
from .._validation import Int, Options, Real
from ._container import _GoldCounts, _validate_features, freeze_row_arrays

__all__ = ["MultiRoutingDataset", "MultiRoutingSplit", "make_multi_routing_data"]

#: The columns every ``comparisons`` table has, in this order.
_KINDS = ("pairwise", "pointwise")


# ------------------------------------------------------------------------------ validation


def _check_models(models: Any) -> tuple[str, ...]:
    """Validate the model names: at least 2 unique strings; return them as a tuple."""
    if isinstance(models, str) or not isinstance(models, Sequence):
        raise TypeError(
            f"`models` must be a sequence of model names (str); got {type(models).__name__} "
            f"{models!r}."
        )
    names = tuple(models)
    not_str = [name for name in names if not isinstance(name, str)]
    if not_str:
        raise TypeError(
            f"`models` must hold model names (str); got {type(not_str[0]).__name__} {not_str[0]!r}."
        )
    if len(names) < 2:
        raise ValueError(f"`models` must name at least 2 models; got {list(names)!r}.")
    duplicated = sorted({name for name in names if names.count(name) > 1})
    if duplicated:
        raise ValueError(f"`models` must be unique; got duplicates {duplicated!r}.")
    return names


def _check_costs(costs: Any, models: tuple[str, ...]) -> dict[str, float]:
    """Validate the cost of every model; return a new dict in the order of ``models``."""
    if not isinstance(costs, Mapping):
        raise TypeError(
            f"`costs` must be a mapping from model name to cost; got {type(costs).__name__}."
        )
    missing = [name for name in models if name not in costs]
    unknown = [key for key in costs if key not in models]
    if missing or unknown:
        raise ValueError(
            f"`costs` must give one cost per model of `models` {list(models)!r}; got missing "
            f"{missing!r} and unknown {unknown!r}."
        )
    rule = Real(low=0)
    return {name: rule.check(costs[name], f"costs[{name!r}]") for name in models}


def _check_truth(
    name: str, value: Any, models: tuple[str, ...], index: pd.Index
) -> pd.DataFrame | None:
    """Validate a per-query, per-model truth frame (``quality`` or ``bias``); return a copy."""
    if value is None:
        return None
    if not isinstance(value, pd.DataFrame):
        raise TypeError(f"`{name}` must be a pandas DataFrame or None; got {type(value).__name__}.")
    if set(value.columns) != set(models) or value.shape[1] != len(models):
        raise ValueError(
            f"`{name}` must have one column per model of `models` {list(models)!r}; got "
            f"columns {list(value.columns)!r}."
        )
    if value.shape[0] != len(index):
        raise ValueError(
            f"`{name}` must have one row per row of `X`; got {value.shape[0]} rows for "
            f"{len(index)}."
        )
    not_numeric = [c for c in value.columns if not pd.api.types.is_numeric_dtype(value[c])]
    if not_numeric:
        raise TypeError(f"`{name}` must be numeric; got non-numeric column(s) {not_numeric!r}.")
    values = value.loc[:, list(models)].to_numpy(dtype=np.float64, na_value=np.nan)
    n_bad = int(np.count_nonzero(~np.isfinite(values)))
    if n_bad:
        raise ValueError(f"`{name}` must be finite; got {n_bad} NaN or infinite value(s).")
    return pd.DataFrame(values, index=index.copy(), columns=list(models))


def _check_comparisons(
    comparisons: Any, n_queries: int, models: tuple[str, ...], kind: str
) -> pd.DataFrame:
    """Validate the long label table (``_comparisons.check_comparisons``, the routers' check)."""
    table, _ = check_comparisons(comparisons, n_queries, models, kind=kind, both_sources=False)
    return table


def _check_model_subset(name: str, value: Any, models: tuple[str, ...]) -> list[str]:
    """Validate a model name, index or sequence of them; return the names in models order."""
    items = [value] if isinstance(value, str | Integral) else value
    if isinstance(items, Mapping) or not isinstance(items, Sequence | np.ndarray):
        raise TypeError(
            f"`{name}` must be a model name, an index or a sequence of them; got "
            f"{type(value).__name__} {value!r}."
        )
    chosen = set()
    for item in list(items):
        if isinstance(item, str):
            if item not in models:
                raise ValueError(
                    f"`{name}` must name models of {list(models)!r}; got unknown name {item!r}."
                )
            chosen.add(item)
        elif isinstance(item, Integral) and not isinstance(item, bool | np.bool_):
            if not 0 <= int(item) < len(models):
                raise ValueError(
                    f"`{name}` must hold model indices between 0 and {len(models) - 1}; got "
                    f"{int(item)}."
                )
            chosen.add(models[int(item)])
        else:
            raise TypeError(
                f"`{name}` must hold model names (str) or indices (int); got "
                f"{type(item).__name__} {item!r}."
            )
    return [model for model in models if model in chosen]


# ------------------------------------------------------------------------------ containers


@dataclass(frozen=True, eq=False)
class MultiRoutingSplit(_GoldCounts):
    """One train/test split of a `MultiRoutingDataset` by query.

    The query sets are disjoint: ``n_test`` test queries, ``n_gold`` gold-standard (GS)
    training queries and the remaining preference-based (PB) training queries. In every
    comparisons table of the split, ``query`` is the row position in the split's own feature
    frame (``X_train`` or ``X_test``, whose index is a ``RangeIndex`` named ``"query"``);
    ``train_index[q]`` / ``test_index[q]`` give the position of that query in the dataset.

    Parameters
    ----------
    X_train : pandas.DataFrame of shape (n_train, n_features)
        Features of the training queries, in dataset order.
    comparisons_train : pandas.DataFrame
        What a router is fitted on: the GS rows of the GS training queries and the PB rows of
        the other training queries (restricted by ``gold_models`` when the split used it).
    X_test : pandas.DataFrame of shape (n_test, n_features)
        Features of the test queries, in dataset order.
    comparisons_test : pandas.DataFrame
        The GS rows of the test queries (for evaluation).
    quality_test : pandas.DataFrame of shape (n_test, n_models) or None
        True expected GS quality of every model on the test queries, when known.
    train_index : numpy.ndarray of int, shape (n_train,)
        Positions of the training queries in the dataset, increasing.
    test_index : numpy.ndarray of int, shape (n_test,)
        Positions of the test queries in the dataset, increasing.
    models : tuple of str
        Model names, in the dataset's order.
    costs : dict of str to float
        Cost per query of every model.
    kind : {"pairwise", "pointwise"}
        The kind of every label.
    oracle_comparisons_train : pandas.DataFrame
        Every GS row of every training query (whether the query is a GS or a PB training
        query, and whatever ``gold_models`` was): the labels of an all-gold oracle.
    gold_train : numpy.ndarray of bool, shape (n_train,)
        True for the GS training queries (rows of ``X_train``).

    See Also
    --------
    MultiRoutingDataset.split : Draw a split.

    Examples
    --------
    >>> from metarouter_econml.datasets import make_multi_routing_data
    >>> data = make_multi_routing_data(n_queries=100, n_models=3, random_state=0)
    >>> split = data.split(n_test=20, n_gold=10, random_state=0)
    >>> split
    MultiRoutingSplit(kind='pairwise', n_models=3, n_train=80, n_gold=10, n_preference=70, \
n_test=20)
    >>> split.comparisons_train.groupby("gold")["query"].nunique().to_dict()
    {False: 70, True: 10}
    >>> int(split.comparisons_test["query"].max())
    19
    """

    X_train: pd.DataFrame
    comparisons_train: pd.DataFrame
    X_test: pd.DataFrame
    comparisons_test: pd.DataFrame
    quality_test: pd.DataFrame | None
    train_index: np.ndarray
    test_index: np.ndarray
    models: tuple[str, ...]
    costs: dict[str, float]
    kind: str
    oracle_comparisons_train: pd.DataFrame
    gold_train: np.ndarray

    def __post_init__(self) -> None:
        freeze_row_arrays(
            self, ((("train_index", "gold_train"), "X_train"), (("test_index",), "X_test"))
        )
        object.__setattr__(self, "models", tuple(self.models))
        object.__setattr__(self, "costs", dict(self.costs))

    def __repr__(self) -> str:
        return (
            f"MultiRoutingSplit(kind={self.kind!r}, n_models={len(self.models)}, "
            f"n_train={len(self.X_train)}, n_gold={self.n_gold}, "
            f"n_preference={self.n_preference}, n_test={len(self.X_test)})"
        )


@dataclass(frozen=True, eq=False)
class MultiRoutingDataset:
    """Queries and a long table of gold-standard and preference-based labels among models.

    Every label the data have is one row of ``comparisons``: a pairwise comparison of
    ``model`` with ``opponent`` on query ``query`` (positive ``label``: ``model`` is better)
    or a pointwise grade of ``model`` alone (``opponent`` missing), gold-standard (GS,
    ``gold=True``: humans, a rubric, an answer key) or preference-based (PB, ``gold=False``:
    an LLM judge, crowd votes). A dataset holds one kind of label. Synthetic data also carry
    the truth: the expected GS quality of every model on every query and the judge's bias.

    The dataset owns its data: ``X``, ``comparisons``, ``quality`` and ``bias`` are copies,
    so later changes to the inputs do not reach it. Treat them as read-only.

    Parameters
    ----------
    X : pandas.DataFrame of shape (n_queries, n_features)
        Query features, numeric and finite, with unique string column names. Row position
        ``q`` is query ``q``. The names ``"gold_gain"``, ``"preference_label"``, ``"psi"``
        and ``"delta"`` are reserved.
    comparisons : pandas.DataFrame
        One row per label, with columns ``query`` (int, row position in ``X``), ``model``
        (str, in ``models``), ``opponent`` (str in ``models``, different from ``model``, on
        pairwise rows; missing on pointwise rows), ``label`` (finite number) and ``gold``
        (bool). Other columns, such as ``source`` (who gave the label), are kept as they
        are. The copy has a fresh ``RangeIndex``, ``query`` as int64, ``label`` as float64,
        ``opponent`` as None on pointwise rows.
    models : sequence of str
        The model names, at least 2, unique; their order is the column order of ``quality``
        and ``bias``.
    costs : mapping of str to float
        Cost per query of every model, finite and >= 0.
    kind : {"pairwise", "pointwise"}
        The kind of every row of ``comparisons``.
    quality : pandas.DataFrame of shape (n_queries, n_models) or None, default=None
        True expected GS quality of every model (columns = models) on every query, when
        known. Its index is replaced by ``X``'s.
    bias : pandas.DataFrame of shape (n_queries, n_models) or None, default=None
        True bias of the PB judge per model, on the PB scale, when known: for a PB scale
        factor ``a``, the expected PB grade of model ``k`` is ``a * quality_k + bias_k``,
        and the expected PB label of a pair ``(i, j)`` is
        ``a * (quality_i - quality_j) + bias_i - bias_j``. Its index is replaced by ``X``'s.
    name : str, default="multi_routing"
        Short name.
    description : str, default=""
        Free text: origin, generating formulas.
    metadata : mapping or None, default=None
        Extra facts about the data (e.g. the PB scale factor ``"preference_scale"`` of
        synthetic data, the verdicts a loader dropped); stored as a new dict.

    Raises
    ------
    TypeError
        If an argument has the wrong type: ``X`` not a DataFrame or with non-string column
        names or non-numeric columns, ``comparisons`` columns of the wrong dtype (``query``
        not integer, ``label`` not numeric, ``gold`` not boolean), ``models`` not a sequence
        of str, ``costs`` not a mapping, ``quality``/``bias`` not DataFrames.
    ValueError
        If a value breaks a rule: missing columns, a ``query`` outside ``0..n_queries-1``, a
        model name not in ``models``, an ``opponent`` missing on a pairwise row (or present
        on a pointwise one), non-finite labels or costs, a negative cost, fewer than 2 or
        duplicated model names, a truth frame of the wrong shape, an unknown ``kind``.

    See Also
    --------
    make_multi_routing_data : Synthetic data with a known truth.
    load_pandalm_routing : Real pairwise data (PandaLM) with human and LLM-judge labels.

    Examples
    --------
    >>> import pandas as pd
    >>> from metarouter_econml.datasets import MultiRoutingDataset
    >>> X = pd.DataFrame({"length": [1.0, 2.0, 3.0]})
    >>> comparisons = pd.DataFrame({
    ...     "query": [0, 0, 1, 2],
    ...     "model": ["small", "small", "large", "small"],
    ...     "opponent": ["large", "large", "small", "large"],
    ...     "label": [-1.0, 1.0, 1.0, 0.0],
    ...     "gold": [True, False, True, False],
    ... })
    >>> data = MultiRoutingDataset(X, comparisons, models=("small", "large"),
    ...                            costs={"small": 1.0, "large": 5.0}, kind="pairwise")
    >>> data
    MultiRoutingDataset(name='multi_routing', kind='pairwise', n_queries=3, n_features=1, \
n_models=2, n_labels=4, truth=unknown)
    >>> data.summary()  # doctest: +NORMALIZE_WHITESPACE
           cost  gold_labels  preference_labels  gold_queries  preference_queries
    model
    small   1.0            2                  2             2                   2
    large   5.0            2                  2             2                   2
    """

    X: pd.DataFrame
    comparisons: pd.DataFrame
    models: tuple[str, ...]
    costs: dict[str, float]
    kind: str
    quality: pd.DataFrame | None = None
    bias: pd.DataFrame | None = None
    name: str = "multi_routing"
    description: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        X = _validate_features(self.X)
        object.__setattr__(self, "X", X)
        models = _check_models(self.models)
        object.__setattr__(self, "models", models)
        object.__setattr__(self, "costs", _check_costs(self.costs, models))
        kind = Options(_KINDS).check(self.kind, "kind")
        object.__setattr__(
            self, "comparisons", _check_comparisons(self.comparisons, len(X), models, kind)
        )
        for name in ("quality", "bias"):
            object.__setattr__(self, name, _check_truth(name, getattr(self, name), models, X.index))
        for name in ("name", "description"):
            value = getattr(self, name)
            if not isinstance(value, str):
                raise TypeError(f"`{name}` must be a str; got {type(value).__name__}.")
        metadata = {} if self.metadata is None else self.metadata
        if not isinstance(metadata, Mapping):
            raise TypeError(f"`metadata` must be a mapping or None; got {type(metadata).__name__}.")
        object.__setattr__(self, "metadata", dict(metadata))

    def __len__(self) -> int:
        return int(self.X.shape[0])

    @property
    def n_queries(self) -> int:
        """Number of queries (rows of ``X``)."""
        return len(self)

    @property
    def n_features(self) -> int:
        """Number of feature columns."""
        return int(self.X.shape[1])

    @property
    def feature_names(self) -> list[str]:
        """Feature column names, in order."""
        return [str(name) for name in self.X.columns]

    def __repr__(self) -> str:
        truth = "known" if self.quality is not None else "unknown"
        return (
            f"MultiRoutingDataset(name={self.name!r}, kind={self.kind!r}, "
            f"n_queries={len(self)}, n_features={self.n_features}, "
            f"n_models={len(self.models)}, n_labels={len(self.comparisons)}, truth={truth})"
        )

    def summary(self) -> pd.DataFrame:
        """Count the labels of every model.

        Returns
        -------
        pandas.DataFrame
            One row per model (index ``model``, in the order of ``models``), columns
            ``cost``, ``gold_labels`` and ``preference_labels`` (rows of ``comparisons`` that
            involve the model, as ``model`` or ``opponent``), ``gold_queries`` and
            ``preference_queries`` (distinct queries of those rows).
        """
        table = self.comparisons
        gold = table["gold"].to_numpy()
        query = table["query"].to_numpy()
        rows = {}
        for model in self.models:
            involved = (table["model"] == model).to_numpy() | (
                table["opponent"] == model
            ).to_numpy()
            rows[model] = {
                "cost": self.costs[model],
                "gold_labels": int(np.count_nonzero(involved & gold)),
                "preference_labels": int(np.count_nonzero(involved & ~gold)),
                "gold_queries": int(np.unique(query[involved & gold]).size),
                "preference_queries": int(np.unique(query[involved & ~gold]).size),
            }
        return pd.DataFrame.from_dict(rows, orient="index").rename_axis("model")

    def split(
        self,
        n_test: int,
        n_gold: int,
        *,
        random_state: Any = None,
        gold_models: Any = None,
    ) -> MultiRoutingSplit:
        """Draw test queries, gold-standard training queries and preference-based ones.

        A random permutation of the queries is drawn; its first ``n_test`` entries are the
        test queries, the next ``n_gold`` the gold-standard (GS) training queries and all
        other queries are preference-based (PB) training queries. The training labels are the
        GS rows of the GS queries and the PB rows of the PB queries: no query contributes
        both kinds, as in the Meta-Router paper's protocol. The test labels are the GS rows
        of the test queries. Queries are kept in dataset order within each part and
        ``query`` is re-indexed to rows of ``X_train`` / ``X_test``.

        Parameters
        ----------
        n_test : int
            Number of test queries, at least 1.
        n_gold : int
            Number of GS training queries, at least 2.
        random_state : int, numpy.random.RandomState or None, default=None
            Seed, passed to `sklearn.utils.check_random_state`. The same seed gives the same
            split.
        gold_models : str, int or sequence of them, or None, default=None
            Models whose GS labels were collected (names or positions in ``models``): the
            GS training rows are kept only when every model they involve (``model`` and,
            on pairwise rows, ``opponent``) is one of these, simulating GS labels that
            cover some models only. None keeps all GS rows of the GS queries. It changes
            neither the queries drawn nor the test and oracle labels.

        Returns
        -------
        MultiRoutingSplit
            The split. Row order of every comparisons table is the dataset's.

        Raises
        ------
        TypeError
            If ``n_test`` or ``n_gold`` is not an int (bools are rejected) or
            ``gold_models`` holds something other than model names or indices.
        ValueError
            If ``n_test < 1``, ``n_gold < 2`` or fewer than 2 PB queries would remain
            (``n_test + n_gold + 2 > n_queries``); if ``gold_models`` names an unknown
            model, is empty, or names fewer than 2 models on pairwise data.

        Examples
        --------
        >>> from metarouter_econml.datasets import make_multi_routing_data
        >>> data = make_multi_routing_data(n_queries=60, n_models=4, random_state=0)
        >>> split = data.split(10, 5, random_state=1, gold_models=["m0", "m1", "m2"])
        >>> sorted(set(split.comparisons_train.loc[split.comparisons_train["gold"], "opponent"]))
        ['m1', 'm2']
        >>> bool(split.oracle_comparisons_train["gold"].all()), len(split.oracle_comparisons_train)
        (True, 300)
        >>> data.split(50, 9)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: `n_test` + `n_gold` must leave at least 2 preference-based queries ...
        """
        n_test = Int(low=1).check(n_test, "n_test")
        n_gold = Int(low=2).check(n_gold, "n_gold")
        n_queries = len(self)
        if n_test + n_gold + 2 > n_queries:
            raise ValueError(
                f"`n_test` + `n_gold` must leave at least 2 preference-based queries "
                f"(n_test + n_gold + 2 <= {n_queries} queries); got n_test={n_test} and "
                f"n_gold={n_gold}, which leave {n_queries - n_test - n_gold}."
            )
        kept_models = None
        if gold_models is not None:
            kept_models = _check_model_subset("gold_models", gold_models, self.models)
            minimum = 2 if self.kind == "pairwise" else 1
            if len(kept_models) < minimum:
                raise ValueError(
                    f"`gold_models` must name at least {minimum} model(s) on {self.kind} data; "
                    f"got {kept_models!r}."
                )

        rng = check_random_state(random_state)
        order = rng.permutation(n_queries)
        test_index = np.sort(order[:n_test])
        gold_index = order[n_test : n_test + n_gold]
        train_index = np.sort(order[n_test:])

        table = self.comparisons
        query = table["query"].to_numpy()
        gold = table["gold"].to_numpy()
        part = np.full(n_queries, 0, dtype=np.int8)  # 0 test, 1 GS training, 2 PB training
        part[train_index] = 2
        part[gold_index] = 1
        row_part = part[query]
        position = np.empty(n_queries, dtype=np.int64)
        position[train_index] = np.arange(train_index.size)
        position[test_index] = np.arange(test_index.size)

        covered = np.ones(len(table), dtype=bool)
        if kept_models is not None:
            covered = table["model"].isin(kept_models).to_numpy()
            if self.kind == "pairwise":
                covered = covered & table["opponent"].isin(kept_models).to_numpy()

        def rows(mask: np.ndarray) -> pd.DataFrame:
            subset = table.loc[mask].copy(deep=True).reset_index(drop=True)
            subset["query"] = position[subset["query"].to_numpy()]
            return subset

        def features(index: np.ndarray) -> pd.DataFrame:
            frame = self.X.iloc[index].copy(deep=True)
            frame.index = pd.RangeIndex(index.size, name="query")
            return frame

        quality_test = None
        if self.quality is not None:
            quality_test = self.quality.iloc[test_index].copy(deep=True)
            quality_test.index = pd.RangeIndex(test_index.size, name="query")
        return MultiRoutingSplit(
            X_train=features(train_index),
            comparisons_train=rows(((row_part == 1) & gold & covered) | ((row_part == 2) & ~gold)),
            X_test=features(test_index),
            comparisons_test=rows((row_part == 0) & gold),
            quality_test=quality_test,
            train_index=train_index,
            test_index=test_index,
            models=self.models,
            costs=dict(self.costs),
            kind=self.kind,
            oracle_comparisons_train=rows((row_part != 0) & gold),
            gold_train=np.isin(train_index, gold_index),
        )


# ------------------------------------------------------------------------------ generator

_BIAS_CHOICES = ("shared", "constant", "none")
_QUALITY_FORMULA = (
    "psi_k = 0.5*t_k + 0.5*tanh(1.5*(cos(theta_k)*z0 + sin(theta_k)*z1)) "
    "+ 0.2*cos(theta_k)*z2*(z3 > 0)"
)
_BIAS_FORMULAS = {
    "shared": "b_k = 0.4*(1 - 2*t_k) + 0.6*cos(theta_k)*tanh(2*z4) + 0.3*sin(theta_k)*(z5 > 0)",
    "constant": "b_k = 0.4*(1 - 2*t_k)",
    "none": "b_k = 0",
}


def _model_names(n_models: int) -> tuple[str, ...]:
    """``m0``, ``m1``, ...: zero-padded so that sorting the names keeps their order."""
    width = len(str(n_models - 1))
    return tuple(f"m{k:0{width}d}" for k in range(n_models))


def _true_quality(z: np.ndarray, n_models: int) -> np.ndarray:
    """Expected gold-standard quality of every model, shape (n_queries, n_models)."""
    t = np.arange(n_models) / (n_models - 1)
    theta = 2 * np.pi * np.arange(n_models) / n_models
    direction = np.outer(z[:, 0], np.cos(theta)) + np.outer(z[:, 1], np.sin(theta))
    niche = np.outer(z[:, 2] * (z[:, 3] > 0), np.cos(theta))
    return 0.5 * t + 0.5 * np.tanh(1.5 * direction) + 0.2 * niche


def _true_bias(z: np.ndarray, n_models: int, bias: str) -> np.ndarray:
    """Bias of the judge per model on the preference scale, shape (n_queries, n_models)."""
    t = np.arange(n_models) / (n_models - 1)
    theta = 2 * np.pi * np.arange(n_models) / n_models
    level = np.broadcast_to(0.4 * (1 - 2 * t), (z.shape[0], n_models))
    if bias == "none":
        return np.zeros((z.shape[0], n_models))
    if bias == "constant":
        return np.array(level, copy=True)
    return (
        level
        + 0.6 * np.outer(np.tanh(2 * z[:, 4]), np.cos(theta))
        + 0.3 * np.outer(z[:, 5] > 0, np.sin(theta))
    )


def make_multi_routing_data(
    n_queries: int = 2000,
    n_models: int = 5,
    *,
    n_features: int = 10,
    kind: str = "pairwise",
    pairs_per_query: int | None = None,
    bias: str = "shared",
    gold_noise: float = 0.5,
    preference_noise: float = 1.0,
    preference_scale: float = 2.0,
    few_gold_models: Any = None,
    few_gold_fraction: float = 0.05,
    random_state: Any = None,
) -> MultiRoutingDataset:
    """Generate multi-model routing data with a known quality per model and a known judge bias.

    Every query gets, for every compared pair of models (``kind="pairwise"``) or every model
    (``kind="pointwise"``), both a gold-standard (GS) label and a preference-based (PB)
    label; `MultiRoutingDataset.split` then decides which queries are seen with which. The
    models differ in average quality and cost and each is best on its own kind of query; the
    judge's bias depends on the query and on the model, and the PB labels live on another
    scale than the GS labels.

    Parameters
    ----------
    n_queries : int, default=2000
        Number of queries, at least 10.
    n_models : int, default=5
        Number of models, between 2 and 20, named ``m0``, ``m1``, ... (zero-padded from 11
        models on, so that sorting the names keeps their order).
    n_features : int, default=10
        Number of features, at least 6 (the truth uses the first 6).
    kind : {"pairwise", "pointwise"}, default="pairwise"
        Pairwise comparisons (``model`` vs ``opponent``) or pointwise grades.
    pairs_per_query : int or None, default=None
        Pairwise only: how many distinct pairs of models each query compares, drawn at
        random per query, between 1 and ``n_models * (n_models - 1) / 2``. None (or that
        maximum) compares all pairs. Must be None for pointwise data.
    bias : {"shared", "constant", "none"}, default="shared"
        Shape of the judge's bias ``b_k(x)``; see Notes. In every case the bias of a pair is
        ``b_i(x) - b_j(x)`` (a shared, per-model structure).
    gold_noise : float, default=0.5
        Standard deviation of the noise of a GS label, finite and >= 0 (0: GS labels equal
        the true quality or quality difference).
    preference_noise : float, default=1.0
        Standard deviation of the noise of a PB label, on the PB scale, finite and >= 0.
    preference_scale : float, default=2.0
        Factor ``a`` putting the PB labels on their own scale, finite and > 0.
    few_gold_models : str, int, sequence of them, or None, default=None
        Models (names or indices) whose GS labels are rare: each GS row involving one of
        them (as ``model`` or ``opponent``) is kept with probability ``few_gold_fraction``
        and dropped otherwise. Their PB rows are all kept. None drops nothing.
    few_gold_fraction : float, default=0.05
        Share of the GS rows of ``few_gold_models`` that is kept, in [0, 1].
    random_state : int, numpy.random.RandomState or None, default=None
        Seed, passed to `sklearn.utils.check_random_state`. The same seed gives the same
        dataset.

    Returns
    -------
    MultiRoutingDataset
        Features ``pc1`` .. ``pc{n_features}``; ``comparisons`` with columns ``query``,
        ``model``, ``opponent``, ``label``, ``gold`` and ``source`` (``"gold"`` or
        ``"judge"``), ordered by query, then pair (or model), GS row before PB row; the truth
        ``quality`` (``psi_k(x)``, GS scale) and ``bias`` (``b_k(x)``, PB scale); ``costs``;
        ``name="synthetic_multi"``; ``metadata`` holding every parameter (among them
        ``"preference_scale"``) and the formulas.

    Raises
    ------
    TypeError
        If a count is not an int, a noise/scale/fraction not a real number, ``kind`` or
        ``bias`` not a str, or ``few_gold_models`` holds something other than model names
        or indices.
    ValueError
        If a count is out of range, ``kind`` or ``bias`` is not an allowed value,
        ``pairs_per_query`` is given for pointwise data or exceeds the number of pairs, a
        noise is negative, ``preference_scale <= 0``, ``few_gold_fraction`` is outside
        [0, 1] or ``few_gold_models`` names an unknown model.

    See Also
    --------
    MultiRoutingDataset.split : Draw test, GS and PB queries.

    Notes
    -----
    Features look like PCA scores: ``X[:, j] ~ N(0, s_j**2)`` independently with
    ``s_j = 1 / sqrt(j + 1)``; ``z_j = X[:, j] / s_j`` are the standardised features. With
    ``K = n_models``, model ``k`` (``k = 0 .. K-1``) has ``t_k = k / (K - 1)`` and the angle
    ``theta_k = 2*pi*k / K``. Its expected GS quality (absolute, GS scale; no model is a
    reference with quality 0) is

    .. code-block:: text

        psi_k = 0.5*t_k + 0.5*tanh(1.5*(cos(theta_k)*z0 + sin(theta_k)*z1))
                + 0.2*cos(theta_k)*z2*(z3 > 0)

    so the expected quality over queries is ``E[psi_k] = 0.5*t_k`` (increasing in ``k``)
    while each model is the best one in its own direction of ``(z0, z1)``. The costs grow
    geometrically with that expected quality, as API prices of model tiers do:
    ``cost_k = 16**(t_k - 1)``, from 1/16 (``m0``, the weakest) to 1 (the strongest); with
    5 models, 1/16, 1/8, 1/4, 1/2, 1.

    The judge's bias ``b_k`` (PB scale) is

    - ``"shared"``: ``0.4*(1 - 2*t_k) + 0.6*cos(theta_k)*tanh(2*z4) + 0.3*sin(theta_k)*(z5 > 0)``:
      the judge over-rates the cheap models on average and, depending on query features that
      do not drive the quality (``z4``, ``z5``), some models more than others, so a router
      trained on PB labels alone routes to the wrong models;
    - ``"constant"``: ``0.4*(1 - 2*t_k)`` (the same on every query);
    - ``"none"``: 0.

    With ``a = preference_scale`` and independent normal noises, the labels are

    .. code-block:: text

        pairwise (model i, opponent j; i < j, every pair oriented so):
            GS label = psi_i - psi_j + N(0, gold_noise**2)
            PB label = a*(psi_i - psi_j) + b_i - b_j + N(0, preference_noise**2)
        pointwise (model k):
            GS grade = psi_k + N(0, gold_noise**2)
            PB grade = a*psi_k + b_k + N(0, preference_noise**2)

    Labels are continuous noisy differences (or grades), not votes, so the expected GS label
    of a pair is exactly the difference of the qualities. The PB labels are on another scale
    (``a != 1`` by default), which is why a router must match the scales of the two sources
    before pooling them. All randomness comes from one generator, drawn in a fixed order:
    the standardised features (an ``(n_queries, n_features)`` block), the compared pairs
    (only when ``pairs_per_query`` is below the number of pairs), the GS noise, the PB noise
    and, only with ``few_gold_models``, the draws that drop GS rows, so adding
    ``few_gold_models`` drops rows but changes no label.

    Examples
    --------
    >>> import numpy as np
    >>> from metarouter_econml.datasets import make_multi_routing_data
    >>> data = make_multi_routing_data(n_queries=200, n_models=3, random_state=0)
    >>> data
    MultiRoutingDataset(name='synthetic_multi', kind='pairwise', n_queries=200, \
n_features=10, n_models=3, n_labels=1200, truth=known)
    >>> data.models, data.costs
    (('m0', 'm1', 'm2'), {'m0': 0.0625, 'm1': 0.25, 'm2': 1.0})
    >>> data.comparisons.head(2)
       query model opponent     label   gold source
    0      0    m0       m1  0.105072   True   gold
    1      0    m0       m1  3.642644  False  judge
    >>> exact = make_multi_routing_data(n_queries=50, n_models=3, kind="pointwise",
    ...                                 gold_noise=0.0, preference_noise=0.0, random_state=0)
    >>> gold = exact.comparisons[exact.comparisons["gold"]]
    >>> bool(np.allclose(gold["label"], exact.quality.to_numpy().ravel()))
    True
    """
    n_queries = Int(low=10).check(n_queries, "n_queries")
    n_models = Int(low=2, high=20).check(n_models, "n_models")
    n_features = Int(low=6).check(n_features, "n_features")
    kind = Options(_KINDS).check(kind, "kind")
    bias = Options(_BIAS_CHOICES).check(bias, "bias")
    all_pairs = list(combinations(range(n_models), 2))
    if pairs_per_query is not None:
        if kind == "pointwise":
            raise ValueError(
                f"`pairs_per_query` must be None when kind='pointwise' (every model is graded); "
                f"got {pairs_per_query!r}."
            )
        pairs_per_query = Int(low=1, high=len(all_pairs), what="the number of pairs").check(
            pairs_per_query, "pairs_per_query"
        )
    gold_noise = Real(low=0).check(gold_noise, "gold_noise")
    preference_noise = Real(low=0).check(preference_noise, "preference_noise")
    preference_scale = Real(low=0, low_open=True).check(preference_scale, "preference_scale")
    few_gold_fraction = Real(low=0, high=1).check(few_gold_fraction, "few_gold_fraction")
    models = _model_names(n_models)
    few = (
        []
        if few_gold_models is None
        else _check_model_subset("few_gold_models", few_gold_models, models)
    )

    rng = check_random_state(random_state)
    scales = 1.0 / np.sqrt(np.arange(1, n_features + 1))
    X = rng.standard_normal((n_queries, n_features)) * scales
    z = X / scales  # the truth is a function of the stored X
    quality = _true_quality(z, n_models)
    judge_bias = _true_bias(z, n_models, bias)

    if kind == "pairwise":
        pairs = np.array(all_pairs, dtype=np.int64)
        if pairs_per_query is None or pairs_per_query == len(all_pairs):
            chosen = np.broadcast_to(np.arange(len(all_pairs)), (n_queries, len(all_pairs)))
        else:
            draws = rng.random_sample((n_queries, len(all_pairs)))
            chosen = np.sort(np.argsort(draws, axis=1)[:, :pairs_per_query], axis=1)
        first, second = pairs[chosen, 0], pairs[chosen, 1]  # (n_queries, n_per_query)
        rows = np.arange(n_queries)[:, None]
        gold_mean = quality[rows, first] - quality[rows, second]
        bias_mean = judge_bias[rows, first] - judge_bias[rows, second]
    else:
        first = np.broadcast_to(np.arange(n_models), (n_queries, n_models))
        second = None
        gold_mean = quality
        bias_mean = judge_bias
    gold_label = gold_mean + gold_noise * rng.standard_normal(gold_mean.shape)
    preference_label = (
        preference_scale * gold_mean
        + bias_mean
        + preference_noise * rng.standard_normal(gold_mean.shape)
    )

    # One GS row then one PB row per (query, pair or model): interleave along a last axis.
    n_per_query = gold_mean.shape[1]
    shape = (n_queries, n_per_query, 2)
    query = np.broadcast_to(np.arange(n_queries)[:, None, None], shape).ravel()
    names = np.array(models, dtype=object)
    model = names[np.broadcast_to(first[:, :, None], shape).ravel()]
    if second is None:
        opponent = np.full(query.size, None, dtype=object)
    else:
        opponent = names[np.broadcast_to(second[:, :, None], shape).ravel()]
    label = np.stack([gold_label, preference_label], axis=-1).ravel()
    gold = np.broadcast_to(np.array([True, False]), shape).ravel()
    keep = np.ones(query.size, dtype=bool)
    if few:
        few_index = np.array([models.index(name) for name in few])
        involved = np.isin(first, few_index)
        if second is not None:
            involved |= np.isin(second, few_index)
        dropped = involved & (rng.random_sample(involved.shape) >= few_gold_fraction)
        keep[::2] = ~dropped.ravel()  # GS rows are the even ones
    comparisons = pd.DataFrame(
        {
            "query": query[keep],
            "model": model[keep],
            "opponent": opponent[keep],
            "label": label[keep],
            "gold": gold[keep],
            "source": np.where(gold[keep], "gold", "judge").astype(object),
        }
    )

    t = np.arange(n_models) / (n_models - 1)
    costs = {name: float(16.0 ** (t[k] - 1)) for k, name in enumerate(models)}
    metadata = {
        "n_queries": n_queries,
        "n_models": n_models,
        "n_features": n_features,
        "kind": kind,
        "pairs_per_query": pairs_per_query,
        "bias": bias,
        "gold_noise": gold_noise,
        "preference_noise": preference_noise,
        "preference_scale": preference_scale,
        "few_gold_models": tuple(few),
        "few_gold_fraction": few_gold_fraction,
        "quality_formula": _QUALITY_FORMULA,
        "bias_formula": _BIAS_FORMULAS[bias],
        "cost_formula": "cost_k = 16**(t_k - 1)",
    }
    n_pairs = "all pairs" if pairs_per_query is None else f"{pairs_per_query} random pair(s)"
    description = (
        f"Synthetic multi-model routing data (make_multi_routing_data): {n_queries} queries, "
        f"{n_models} models {list(models)}, kind={kind!r}"
        + (f" ({n_pairs} per query)" if kind == "pairwise" else "")
        + f", n_features={n_features}, bias={bias!r}. X[:, j] ~ N(0, s_j^2), "
        f"s_j = 1/sqrt(j+1), columns pc1..pc{n_features}; z_j = X[:, j]/s_j; t_k = k/(K-1), "
        f"theta_k = 2*pi*k/K. {_QUALITY_FORMULA} (GS scale). {_BIAS_FORMULAS[bias]} (PB scale). "
        f"GS label = psi difference (or psi) + N(0, {gold_noise}^2); PB label = "
        f"{preference_scale}*(psi difference or psi) + (b difference or b) + "
        f"N(0, {preference_noise}^2). Costs 16**(t_k - 1), increasing with E[psi_k] = 0.5*t_k."
        + (f" GS rows involving {few} kept with probability {few_gold_fraction}." if few else "")
    )
    index = pd.RangeIndex(n_queries, name="query")
    return MultiRoutingDataset(
        X=pd.DataFrame(X, columns=[f"pc{j + 1}" for j in range(n_features)], index=index),
        comparisons=comparisons,
        models=models,
        costs=costs,
        kind=kind,
        quality=pd.DataFrame(quality, columns=list(models), index=index),
        bias=pd.DataFrame(judge_bias, columns=list(models), index=index),
        name="synthetic_multi",
        description=description,
        metadata=metadata,
    )
