"""The long table of labels among many models: validation, pairwise form and gold coverage.

A multi-model routing data set is a table with one row per label (columns ``query``,
``model``, ``opponent``, ``label``, ``gold``; see :class:`metarouter_econml.MultiMetaRouter`).
Everything downstream works on one form of it, :class:`Pairs`: one row per comparison of two
models ``i < j`` (in the order of the model names) on one query, with the label oriented so that
positive means ``i`` is better. Pointwise grades become such comparisons within the grades one
source gave one query (each model against the query's anchor: the reference when it was
graded), so the two kinds of data share one estimator.

Nothing here fits a model.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

import numpy as np
import pandas as pd

__all__ = [
    "COMPARISON_COLUMNS",
    "GoldCoverage",
    "Pairs",
    "check_comparisons",
    "gold_coverage",
    "pair_coding",
    "to_pairs",
]

#: The columns every ``comparisons`` table must have.
COMPARISON_COLUMNS = ("query", "model", "opponent", "label", "gold")


@dataclass(frozen=True)
class Pairs:
    """Comparisons in canonical form: model ``first[r] < second[r]``, label oriented for ``first``.

    ``query`` indexes rows of ``X``; ``label`` is a float (positive: ``first`` is better);
    ``gold`` marks gold-standard rows; ``models`` names the model indices.
    """

    query: np.ndarray
    first: np.ndarray
    second: np.ndarray
    label: np.ndarray
    gold: np.ndarray
    models: tuple[str, ...]
    kind: str

    @property
    def n_rows(self) -> int:
        return int(self.label.size)

    def subset(self, rows: np.ndarray) -> Pairs:
        return Pairs(
            self.query[rows],
            self.first[rows],
            self.second[rows],
            self.label[rows],
            self.gold[rows],
            self.models,
            self.kind,
        )


def _is_missing(values: pd.Series) -> np.ndarray:
    return pd.isna(values).to_numpy(dtype=bool)


def check_comparisons(
    comparisons,
    n_queries: int,
    models=None,
    *,
    kind: str | None = None,
    both_sources: bool = True,
) -> tuple[pd.DataFrame, str]:
    """Validate the long table; return a clean copy (our dtypes, a fresh index) and its kind.

    The one check of the table, for the routers and the data containers. Extra columns are
    kept (``source`` groups pointwise grades; the others are ignored). The kind is
    ``"pairwise"`` when every row names an ``opponent`` and ``"pointwise"`` when none does; a
    mixture is refused (fit the two kinds separately: their labels are on different scales).

    Parameters
    ----------
    comparisons : DataFrame
    n_queries : int
        Rows of ``X``: ``query`` must lie in ``[0, n_queries)``.
    models : sequence of str, optional
        The known model names; any other name is refused.
    kind : {"pairwise", "pointwise"}, optional
        The expected kind (a data container's); None infers it.
    both_sources : bool, default=True
        Require at least 2 gold-standard and 2 preference-based labels (else 1 label).
    """
    if not isinstance(comparisons, pd.DataFrame):
        raise TypeError(
            "`comparisons` must be a pandas DataFrame with columns "
            f"{list(COMPARISON_COLUMNS)}; got {type(comparisons).__name__}."
        )
    missing = [name for name in COMPARISON_COLUMNS if name not in comparisons.columns]
    if missing:
        raise ValueError(
            f"`comparisons` must have the columns {list(COMPARISON_COLUMNS)}; missing {missing}."
        )
    if comparisons.columns.duplicated().any():
        duplicated = sorted(set(comparisons.columns[comparisons.columns.duplicated()]))
        raise ValueError(f"`comparisons` must have unique column names; got {duplicated!r}.")
    minimum = 4 if both_sources else 1
    if comparisons.shape[0] < minimum:
        needed = "4 rows (2 gold-standard and 2 preference-based)" if both_sources else "1 row"
        raise ValueError(f"`comparisons` must have at least {needed}; got {comparisons.shape[0]}.")
    extra = [name for name in comparisons.columns if name not in COMPARISON_COLUMNS]
    table = comparisons.loc[:, [*COMPARISON_COLUMNS, *extra]].copy(deep=True)
    table = table.reset_index(drop=True)

    query = table["query"]
    if not pd.api.types.is_integer_dtype(query.dtype) or pd.api.types.is_bool_dtype(query.dtype):
        raise TypeError(
            "`comparisons['query']` must hold integer row positions of `X`; got dtype "
            f"{query.dtype}."
        )
    if query.isna().any():
        raise ValueError(
            f"`comparisons['query']` must not be missing; got {int(query.isna().sum())} missing."
        )
    query_values = query.to_numpy(dtype=np.int64)
    outside = (query_values < 0) | (query_values >= n_queries)
    if outside.any():
        raise ValueError(
            f"`comparisons['query']` must be row positions of `X` (0 to {n_queries - 1}); got "
            f"{int(outside.sum())} outside, e.g. {int(query_values[outside][0])}."
        )
    table["query"] = query_values

    for column in ("model", "opponent"):
        values = table[column]
        present = ~_is_missing(values)
        if column == "model" and not present.all():
            raise ValueError(
                f"`comparisons['model']` must name a model on every row; got "
                f"{int((~present).sum())} missing."
            )
        if models is not None:
            known = set(models)
            unknown = sorted(
                {repr(v) for v in values[present] if not (isinstance(v, str) and v in known)}
            )
            if unknown:
                raise ValueError(
                    f"`comparisons[{column!r}]` must hold names from `models` {list(models)!r}; "
                    f"got {len(unknown)} other value(s), e.g. {', '.join(unknown[:3])}."
                )
        not_str = [v for v in values[present] if not isinstance(v, str)]
        if not_str:
            raise TypeError(
                f"`comparisons[{column!r}]` must hold model names (str); got "
                f"{type(not_str[0]).__name__} {not_str[0]!r}."
            )
        table[column] = values.astype(object).where(present, None)

    has_opponent = table["opponent"].notna().to_numpy()
    if kind == "pairwise" and not has_opponent.all():
        raise ValueError(
            "`comparisons` must name an `opponent` on every row when kind='pairwise'; got "
            f"{int((~has_opponent).sum())} row(s) without one."
        )
    if kind == "pointwise" and has_opponent.any():
        raise ValueError(
            "`comparisons` must have no `opponent` (missing on every row) when kind='pointwise'; "
            f"got {int(has_opponent.sum())} row(s) with one."
        )
    if has_opponent.all():
        kind = "pairwise"
        same = (table["model"] == table["opponent"]).to_numpy()
        if same.any():
            raise ValueError(
                "`comparisons` must compare two different models on a pairwise row; got "
                f"{int(same.sum())} row(s) with model == opponent, e.g. "
                f"{table.loc[same, 'model'].iloc[0]!r}."
            )
    elif not has_opponent.any():
        kind = "pointwise"
    else:
        raise ValueError(
            "`comparisons` must be all pairwise (an `opponent` on every row) or all pointwise "
            f"(no `opponent`); got {int(has_opponent.sum())} pairwise and "
            f"{int((~has_opponent).sum())} pointwise rows. Their labels are on different "
            "scales: fit them separately."
        )

    label = table["label"]
    if not pd.api.types.is_numeric_dtype(label.dtype) or pd.api.types.is_bool_dtype(label.dtype):
        raise TypeError(f"`comparisons['label']` must be numeric; got dtype {label.dtype}.")
    label_values = label.to_numpy(dtype=np.float64, na_value=np.nan)
    bad = ~np.isfinite(label_values)
    if bad.any():
        raise ValueError(
            f"`comparisons['label']` must be finite; got {int(bad.sum())} NaN or infinite value(s)."
        )
    table["label"] = label_values

    gold = table["gold"]
    if not pd.api.types.is_bool_dtype(gold.dtype):
        raise TypeError(
            "`comparisons['gold']` must be boolean (True = gold-standard label); got dtype "
            f"{gold.dtype}. If 1 marks gold labels, pass `comparisons['gold'] == 1`."
        )
    if gold.isna().any():
        raise ValueError(
            f"`comparisons['gold']` must not be missing; got {int(gold.isna().sum())} missing."
        )
    table["gold"] = gold.to_numpy(dtype=bool)
    n_gold = int(table["gold"].sum())
    for count, what in ((n_gold, "gold-standard"), (table.shape[0] - n_gold, "preference-based")):
        if both_sources and count < 2:
            raise ValueError(f"`comparisons` must have at least 2 {what} labels; got {count}.")
    return table, kind


def model_names(table: pd.DataFrame) -> tuple[str, ...]:
    """Every model named in the table, sorted (the fixed order of a router's ``models_``)."""
    return tuple(sorted(set(table["model"]) | set(table["opponent"].dropna())))


def to_pairs(table: pd.DataFrame, kind: str, models: tuple[str, ...], reference: str) -> Pairs:
    """The canonical comparisons of a validated table (see the module docstring).

    Pointwise: grades are averaged per (query, source, gold, model), where ``source`` is the
    optional column of that name (e.g. one annotator); within each (query, source, gold)
    group every graded model is compared with the group's anchor (the reference when graded,
    else the first model in ``models`` order), label = grade difference. A model graded alone
    in its group carries no comparison and is dropped.
    """
    index = {name: k for k, name in enumerate(models)}
    if kind == "pairwise":
        first = table["model"].map(index).to_numpy(dtype=np.int64)
        second = table["opponent"].map(index).to_numpy(dtype=np.int64)
        label = table["label"].to_numpy(dtype=np.float64)
        query = table["query"].to_numpy(dtype=np.int64)
        gold = table["gold"].to_numpy(dtype=bool)
    else:
        keys = ["query", "source", "gold"] if "source" in table.columns else ["query", "gold"]
        grades = table.groupby([*keys, "model"], sort=True, observed=True)["label"].mean()
        grades = grades.reset_index()
        grades["k"] = grades["model"].map(index)
        ref = index[reference]
        rows = []
        for _, group in grades.groupby(keys, sort=True, observed=True):
            if group.shape[0] < 2:
                continue
            ks = group["k"].to_numpy()
            values = group["label"].to_numpy()
            anchor = int(np.flatnonzero(ks == ref)[0]) if (ks == ref).any() else int(np.argmin(ks))
            others = np.arange(ks.size) != anchor
            q = int(group["query"].iloc[0])
            g = bool(group["gold"].iloc[0])
            for k, value in zip(ks[others], values[others], strict=True):
                rows.append((q, int(k), int(ks[anchor]), float(value - values[anchor]), g))
        if not rows:
            raise ValueError(
                "`comparisons` holds pointwise grades but no query has two models graded by the "
                "same source: nothing compares the models."
            )
        query, first, second, label, gold = (np.array(column) for column in zip(*rows, strict=True))
        query, first, second = (a.astype(np.int64) for a in (query, first, second))
        label, gold = label.astype(np.float64), gold.astype(bool)
    flip = first > second
    first, second = np.where(flip, second, first), np.where(flip, first, second)
    label = np.where(flip, -label, label)
    return Pairs(query, first, second, label, gold, models, kind)


def pair_coding(first: np.ndarray, second: np.ndarray, n_models: int) -> np.ndarray:
    """The ``(n, n_models)`` coding of comparisons: +1 for ``first``, -1 for ``second``."""
    coding = np.zeros((first.size, n_models))
    rows = np.arange(first.size)
    coding[rows, first] = 1.0
    coding[rows, second] = -1.0
    return coding


@dataclass(frozen=True)
class GoldCoverage:
    """How many labels of each source every model and every pair has.

    ``per_model``: index = model; columns ``gold_labels``, ``gold_queries``,
    ``preference_labels``, ``preference_queries``. ``per_pair``: index = (model, opponent)
    with model before opponent in name order; columns ``gold_labels``, ``preference_labels``.
    Counts are of comparisons after pointwise grades were paired (see :func:`to_pairs`).
    """

    per_model: pd.DataFrame
    per_pair: pd.DataFrame

    def thin_models(self, minimum: int) -> list[str]:
        """Models with fewer than ``minimum`` gold-standard comparisons."""
        counts = self.per_model["gold_labels"]
        return [str(name) for name in counts.index[counts < minimum]]

    def thin_pairs(self, minimum: int) -> list[tuple[str, str]]:
        """Pairs with fewer than ``minimum`` gold-standard comparisons (never compared too)."""
        counts = self.per_pair["gold_labels"]
        return [(str(a), str(b)) for a, b in counts.index[counts < minimum]]

    def to_markdown(self) -> str:
        """Both tables as markdown."""
        from ._format import markdown_table

        return (
            "Gold coverage per model\n\n"
            + markdown_table(self.per_model.reset_index())
            + "\n\nGold coverage per pair\n\n"
            + markdown_table(self.per_pair.reset_index())
        )

    def __str__(self) -> str:
        return self.to_markdown()


def gold_coverage(pairs: Pairs) -> GoldCoverage:
    """Count the gold-standard and preference-based comparisons per model and per pair."""
    models = pairs.models
    per_model = {}
    for k, name in enumerate(models):
        involved = (pairs.first == k) | (pairs.second == k)
        gold, pref = involved & pairs.gold, involved & ~pairs.gold
        per_model[name] = {
            "gold_labels": int(gold.sum()),
            "gold_queries": int(np.unique(pairs.query[gold]).size),
            "preference_labels": int(pref.sum()),
            "preference_queries": int(np.unique(pairs.query[pref]).size),
        }
    per_pair = {}
    for i, j in combinations(range(len(models)), 2):
        rows = (pairs.first == i) & (pairs.second == j)
        per_pair[(models[i], models[j])] = {
            "gold_labels": int((rows & pairs.gold).sum()),
            "preference_labels": int((rows & ~pairs.gold).sum()),
        }
    model_table = pd.DataFrame.from_dict(per_model, orient="index").rename_axis("model")
    pair_table = pd.DataFrame.from_dict(per_pair, orient="index")
    pair_table.index = pd.MultiIndex.from_tuples(pair_table.index, names=["model", "opponent"])
    return GoldCoverage(model_table, pair_table)
