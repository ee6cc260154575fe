"""Evaluating routers among many models over repeated splits: frontiers, AIQ, pairwise accuracy.

:func:`run_multi_protocol` draws ``n_splits`` splits of a
:class:`~metarouter_econml.datasets.MultiRoutingDataset` (test queries, a few gold-standard
training queries, preference-based training queries), fits every method on the training
comparisons and scores it on the test queries:

- with a known quality per model (a generator): the cost-quality curve of the router (every
  cost weight, :func:`cost_quality_curve`), its AIQ, the quality reached at fixed budgets
  and the share of the oracle's AIQ gain over the best fixed mix of models it recovers;
- always: the pairwise accuracy, the share of test comparisons with a clear gold verdict
  (mean gold label not 0) whose winner the router ranks higher. On real data (PandaLM) this
  is the only score, since no per-model quality of a test query is known.

Methods: ``"meta_shared"`` (the default :class:`MultiMetaRouter`), ``"meta_independent"``
(one bias function per pair), ``"per_pair_meta"`` (an independent two-model
:class:`MetaRouter` for every model against the reference), ``"pooled"`` (the union of all
labels, RouteLLM-style), ``"gold_only"``, ``"preference_only"`` and ``"all_gold"`` (gold
labels on every training query: the ceiling). Every single model, random routing at matched
cost (the fixed-mix hull) and the oracle that knows the quality enter as reference lines.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.utils import check_random_state

from .._comparisons import check_comparisons, to_pairs
from .._format import markdown_table
from .._routers import MetaRouter, MultiMetaRouter
from .._validation import Int
from ..datasets import MultiRoutingDataset
from ._frontier import cost_quality_curve, fixed_mix_curve, oracle_curve, oracle_share

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = [
    "MULTI_PROTOCOL_METHODS",
    "MultiProtocolResult",
    "pairwise_accuracy",
    "run_multi_protocol",
]

#: Methods :func:`run_multi_protocol` knows, the default first.
MULTI_PROTOCOL_METHODS = (
    "meta_shared",
    "meta_independent",
    "per_pair_meta",
    "pooled",
    "gold_only",
    "preference_only",
    "all_gold",
)
_N_BUDGETS = 11  # quality is read at this many budgets from the cheapest to the dearest model


class _PerPairMetaRouters:
    """Independent two-model Meta-Routers: model k against the reference, each on its pair alone.

    Comparisons of two non-reference models are not used (nothing links them without a
    structure). The pairs are those of the multi-model router (``_comparisons.to_pairs``:
    pointwise grades are compared within a query and source). A pair with fewer than 2 labels
    of either source gets no router and a quality of 0.
    """

    def __init__(self, random_state: int) -> None:
        self.random_state = random_state

    def fit(self, X: np.ndarray, comparisons: pd.DataFrame, models, reference: str):
        self.models_, self.reference_ = list(models), reference
        table, kind = check_comparisons(comparisons, X.shape[0])
        pairs = to_pairs(table, kind, tuple(self.models_), reference)
        ref = self.models_.index(reference)
        self.routers_: dict[str, Any] = {}
        for k, model in enumerate(self.models_):
            if k == ref:
                continue
            rows = np.flatnonzero(
                ((pairs.first == k) & (pairs.second == ref))
                | ((pairs.first == ref) & (pairs.second == k))
            )
            label = np.where(pairs.first[rows] == k, pairs.label[rows], -pairs.label[rows])
            gold = pairs.gold[rows]
            if gold.sum() < 2 or (~gold).sum() < 2:  # a two-model router needs both sources
                self.routers_[model] = None
                continue
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # few gold rows: expected here
                self.routers_[model] = MetaRouter(random_state=self.random_state).fit(
                    X[pairs.query[rows]], label, gold=gold
                )
        return self

    def predict(self, X: np.ndarray) -> pd.DataFrame:
        quality = pd.DataFrame(0.0, index=range(X.shape[0]), columns=self.models_)
        for model, router in self.routers_.items():
            if router is not None:
                quality[model] = router.predict(X)
        return quality


def _fit_method(method: str, split, seed: int):
    """Fit one method on a split's training comparisons; return a fitted predictor."""
    X = split.X_train.to_numpy(dtype=np.float64)
    train = split.comparisons_train
    if method == "per_pair_meta":
        return _PerPairMetaRouters(seed).fit(X, train, split.models, split.models[0])
    if method in ("meta_shared", "meta_independent"):
        structure = "shared" if method == "meta_shared" else "independent"
        return MultiMetaRouter(structure=structure, random_state=seed).fit(X, train)
    if method == "gold_only":
        train = train[train["gold"]]
    elif method == "preference_only":
        train = train[~train["gold"]]
    elif method == "all_gold":
        train = split.oracle_comparisons_train
    return MultiMetaRouter(structure="none", random_state=seed).fit(X, train)


def pairwise_accuracy(predictions: pd.DataFrame, comparisons: pd.DataFrame) -> float:
    """Share of comparisons with a clear gold verdict whose winner the predictions rank higher.

    Labels of one (query, model, opponent) are averaged (e.g. three annotators); comparisons
    whose mean label is 0 (a tie) are skipped; a predicted tie counts as half right. Pointwise
    grades are first paired: the better-graded of two models of a query wins.

    Parameters
    ----------
    predictions : DataFrame of shape (n_queries, n_models)
        A router's estimated quality per model (``MultiMetaRouter.predict``); row ``q`` is
        the query ``q`` of ``comparisons`` (rows are matched by position).
    comparisons : DataFrame
        Gold-standard comparisons of those queries (e.g. ``split.comparisons_test``).

    Returns
    -------
    float
        NaN when no comparison has a clear verdict.

    Examples
    --------
    >>> import pandas as pd
    >>> scores = pd.DataFrame({"a": [0.0, 0.0], "b": [1.0, -1.0]})
    >>> votes = pd.DataFrame({"query": [0, 1], "model": ["b", "b"], "opponent": ["a", "a"],
    ...                       "label": [1.0, 1.0], "gold": [True, True]})
    >>> pairwise_accuracy(scores, votes)
    0.5
    """
    table = comparisons
    if table["opponent"].isna().all():  # pointwise: every pair of graded models of a query
        grades = table.groupby(["query", "model"], observed=True)["label"].mean().reset_index()
        paired = grades.merge(grades, on="query", suffixes=("", "_other"))
        paired = paired[paired["model"] < paired["model_other"]]
        table = pd.DataFrame(
            {
                "query": paired["query"],
                "model": paired["model"],
                "opponent": paired["model_other"],
                "label": paired["label"] - paired["label_other"],
            }
        )
    verdict = table.groupby(["query", "model", "opponent"], observed=True)["label"].mean()
    verdict = verdict[verdict != 0].reset_index()
    if verdict.empty:
        return float("nan")
    values = predictions.to_numpy()
    column = {name: k for k, name in enumerate(predictions.columns)}
    rows = verdict["query"].to_numpy(dtype=np.int64)
    gap = (
        values[rows, verdict["model"].map(column).to_numpy()]
        - values[rows, verdict["opponent"].map(column).to_numpy()]
    )
    agree = np.sign(gap) == np.sign(verdict["label"].to_numpy())
    return float(np.mean(np.where(gap == 0, 0.5, agree)))


def _split_scores(method: str, predictions: pd.DataFrame, split, budgets) -> dict:
    scores = {"pairwise_accuracy": pairwise_accuracy(predictions, split.comparisons_test)}
    if split.quality_test is None:
        return scores
    quality = split.quality_test.reset_index(drop=True)
    predictions = predictions.reset_index(drop=True)[list(quality.columns)]
    curve = cost_quality_curve(predictions, quality, split.costs)
    mix = fixed_mix_curve(quality, split.costs)
    oracle = oracle_curve(quality, split.costs)
    scores["aiq"] = curve.aiq
    scores["oracle_share"] = oracle_share(curve.aiq, mix.aiq, oracle.aiq)
    for budget in budgets:
        scores[f"quality@{budget:.4g}"] = curve.quality_at_budget(budget)
    return scores


def _reference_scores(split, budgets) -> dict:
    """Scores of the fixed mix and of the oracle on a split with known quality."""
    quality = split.quality_test.reset_index(drop=True)
    mix = fixed_mix_curve(quality, split.costs)
    oracle = oracle_curve(quality, split.costs)
    result = {}
    for name, curve in (("fixed_mix", mix), ("oracle", oracle)):
        scores = {"aiq": curve.aiq, "oracle_share": 0.0 if name == "fixed_mix" else 1.0}
        for budget in budgets:
            scores[f"quality@{budget:.4g}"] = curve.quality_at_budget(budget)
        result[name] = scores
    return result


@dataclass(frozen=True)
class MultiProtocolResult:
    """Per-split scores of every method of :func:`run_multi_protocol`.

    Attributes
    ----------
    scores : DataFrame
        One row per (split, method, metric): columns ``split``, ``method``, ``metric``,
        ``value``. Metrics: ``pairwise_accuracy`` always; with known quality also ``aiq``,
        ``oracle_share`` and ``quality@<budget>`` (mean quality reachable at that mean cost).
    budgets : tuple of float
        The budgets of the ``quality@`` metrics.
    methods : tuple of str
        The fitted methods, in order (``fixed_mix`` and ``oracle`` are reference lines).
    dataset : str
        The data set's name.
    """

    scores: pd.DataFrame
    budgets: tuple[float, ...]
    methods: tuple[str, ...]
    dataset: str

    @property
    def n_splits(self) -> int:
        return int(self.scores["split"].nunique())

    def table(self, metric: str) -> pd.DataFrame:
        """Split x method table of one metric."""
        known = sorted(self.scores["metric"].unique())
        if metric not in known:
            raise ValueError(f"`metric` must be one of {known}; got {metric!r}.")
        rows = self.scores[self.scores["metric"] == metric]
        return rows.pivot(index="split", columns="method", values="value")

    def summary(self, metric: str | None = None, reference: str | None = None) -> pd.DataFrame:
        """Mean of ``metric`` per method and its paired difference from ``reference``.

        Parameters
        ----------
        metric : str, optional
            Default: ``"aiq"`` when the quality is known, else ``"pairwise_accuracy"``.
        reference : str, optional
            Default: the first method. ``diff`` is method minus reference per split, with its
            standard error ``diff_se`` and a 95% t-interval ``diff_low``/``diff_high``.
        """
        if metric is None:
            metric = "aiq" if "aiq" in set(self.scores["metric"]) else "pairwise_accuracy"
        table = self.table(metric)
        reference = self.methods[0] if reference is None else reference
        if reference not in table.columns:
            raise ValueError(
                f"`reference` must be one of {list(table.columns)}; got {reference!r}."
            )
        order = [m for m in (*self.methods, "fixed_mix", "oracle") if m in table.columns]
        n = table.shape[0]
        t = stats.t.ppf(0.975, n - 1) if n > 1 else float("nan")
        rows = {}
        for method in order:
            diff = table[method] - table[reference]
            se = float(diff.std(ddof=1) / np.sqrt(n)) if n > 1 else float("nan")
            rows[method] = {
                "mean": float(table[method].mean()),
                "se": float(table[method].std(ddof=1) / np.sqrt(n)) if n > 1 else float("nan"),
                "diff": float(diff.mean()),
                "diff_se": se,
                "diff_low": float(diff.mean() - t * se),
                "diff_high": float(diff.mean() + t * se),
            }
        result = pd.DataFrame.from_dict(rows, orient="index").rename_axis("method")
        result.attrs.update({"metric": metric, "reference": reference, "n_splits": n})
        return result

    def to_markdown(self, metric: str | None = None, reference: str | None = None) -> str:
        """The summary as a markdown table (with its metric, reference and split count)."""
        summary = self.summary(metric, reference)
        head = (
            f"{self.dataset}: {summary.attrs['metric']} over {summary.attrs['n_splits']} "
            f"splits; diff = method - {summary.attrs['reference']} (paired, 95% t-interval)"
        )
        return head + "\n\n" + markdown_table(summary.reset_index().round(4))

    def __str__(self) -> str:
        return self.to_markdown()

    def plot(self, ax: Axes | None = None, methods=None) -> Axes:
        """Mean quality at each budget per method (±1.96 SE over splits): the mean frontier.

        Needs known quality (a generator). The fixed mix and the oracle are drawn dashed.
        """
        if not self.budgets:
            raise ValueError(
                "`plot` needs the quality per model of the test queries (a generator); this "
                f"result ({self.dataset}) has only pairwise accuracy. Use `summary()`."
            )
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(6, 4))
        methods = list(self.methods) if methods is None else list(methods)
        for method in [*methods, "fixed_mix", "oracle"]:
            means, halves = [], []
            for budget in self.budgets:
                values = self.table(f"quality@{budget:.4g}")[method]
                means.append(values.mean())
                halves.append(1.96 * values.std(ddof=1) / np.sqrt(len(values)))
            means_arr, halves_arr = np.array(means), np.nan_to_num(np.array(halves))
            style = "--" if method in ("fixed_mix", "oracle") else "-"
            line = ax.plot(self.budgets, means_arr, style, label=method)[0]
            ax.fill_between(
                self.budgets,
                means_arr - halves_arr,
                means_arr + halves_arr,
                color=line.get_color(),
                alpha=0.15,
            )
        ax.set_xlabel("mean cost per query (budget)")
        ax.set_ylabel("mean gold-standard quality")
        ax.set_title(f"{self.dataset}: cost-quality frontier ({self.n_splits} splits)")
        ax.legend(fontsize="small")
        return ax


def split_sizes(n_queries: int, n_test: int | None, n_gold: int | None) -> tuple:
    """Test and gold-standard training queries per split; None means the defaults.

    20% of the queries are test queries; 5% of the training queries (at least 10) are gold.

    Examples
    --------
    >>> split_sizes(170, None, None)
    (34, 10)
    >>> split_sizes(2000, 500, None)
    (500, 75)
    """
    if n_test is None:
        n_test = max(1, int(round(0.2 * n_queries)))
    if n_gold is None and isinstance(n_test, int):
        n_gold = max(10, int(round(0.05 * (n_queries - n_test))))
    return n_test, n_gold


def run_multi_protocol(
    data: MultiRoutingDataset,
    *,
    methods=MULTI_PROTOCOL_METHODS,
    n_splits: int = 20,
    n_test: int | None = None,
    n_gold: int | None = None,
    random_state=0,
) -> MultiProtocolResult:
    """Fit and score every method on ``n_splits`` random splits of a multi-model data set.

    Parameters
    ----------
    data : MultiRoutingDataset
        From :func:`~metarouter_econml.datasets.make_multi_routing_data` or
        :func:`~metarouter_econml.datasets.load_pandalm_routing`.
    methods : sequence of str, default=MULTI_PROTOCOL_METHODS
        Any of :data:`MULTI_PROTOCOL_METHODS`; the first is the reference of the summary.
    n_splits : int, default=20
    n_test : int, optional
        Test queries per split; default 20% of the queries.
    n_gold : int, optional
        Gold-standard training queries per split; default 5% of the training queries (at
        least 10).
    random_state : int, RandomState or None, default=0
        Seeds the splits and every router; the same seed gives the same result.

    Returns
    -------
    MultiProtocolResult

    Examples
    --------
    >>> from metarouter_econml.datasets import make_multi_routing_data
    >>> from metarouter_econml.evaluation import run_multi_protocol
    >>> data = make_multi_routing_data(n_queries=400, n_models=3, random_state=0)
    >>> result = run_multi_protocol(data, methods=("meta_shared", "pooled"), n_splits=2)
    >>> list(result.summary().index)
    ['meta_shared', 'pooled', 'fixed_mix', 'oracle']
    """
    if not isinstance(data, MultiRoutingDataset):
        raise TypeError(
            f"`data` must be a MultiRoutingDataset; got {type(data).__name__}. Build one with "
            "make_multi_routing_data or load_pandalm_routing."
        )
    if isinstance(methods, str):
        methods = (methods,)
    methods = tuple(methods)
    unknown = [m for m in methods if m not in MULTI_PROTOCOL_METHODS]
    if unknown or not methods or len(set(methods)) != len(methods):
        raise ValueError(
            f"`methods` must be distinct names from {list(MULTI_PROTOCOL_METHODS)}; got "
            f"{list(methods)}."
        )
    n_splits = Int(low=1, what="number of splits").check(n_splits, "n_splits")
    n_queries = data.X.shape[0]
    n_test, n_gold = split_sizes(n_queries, n_test, n_gold)
    n_test = Int(low=1, what="number of test queries").check(n_test, "n_test")
    n_gold = Int(low=2, what="number of gold-standard queries").check(n_gold, "n_gold")
    if n_test + n_gold >= n_queries:
        raise ValueError(
            f"`n_test` + `n_gold` must leave preference-based training queries: got {n_test} + "
            f"{n_gold} of {n_queries} queries."
        )
    costs = np.array([data.costs[name] for name in data.models], dtype=np.float64)
    known = data.quality is not None
    budgets = (
        tuple(float(b) for b in np.linspace(costs.min(), costs.max(), _N_BUDGETS)) if known else ()
    )
    rng = check_random_state(random_state)
    rows = []
    for split_id in range(n_splits):
        seed = int(rng.randint(np.iinfo(np.int32).max))
        split = data.split(n_test=n_test, n_gold=n_gold, random_state=seed)
        X_test = split.X_test.to_numpy(dtype=np.float64)
        for method in methods:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # thin gold per model: expected
                router = _fit_method(method, split, seed)
            predictions = router.predict(X_test)[list(split.models)]
            for metric, value in _split_scores(method, predictions, split, budgets).items():
                rows.append((split_id, method, metric, value))
        if known:
            for method, scores in _reference_scores(split, budgets).items():
                rows.extend((split_id, method, metric, value) for metric, value in scores.items())
    scores = pd.DataFrame(rows, columns=["split", "method", "metric", "value"])
    return MultiProtocolResult(scores, budgets, methods, getattr(data, "name", "data"))
