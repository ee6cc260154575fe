"""The active-labelling simulation: gold labels added round by round, strategies paired."""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.utils import check_random_state

from .._validation import Int, NJobs, Options, Real, nullable
from ..evaluation import efficiency_gain_curve
from ._select import STRATEGIES, draw_gold_round

__all__ = ["ActiveProtocolResult", "run_active_protocol"]

_PROPENSITIES = ("known", "estimated")


def _default_router(n_bootstrap: int):
    from .._routers import MetaRouter

    return MetaRouter(n_bootstrap=n_bootstrap)


def _run_strategy(
    strategy: str,
    split: Any,
    router: Any,
    *,
    n_initial: int,
    batch: int,
    n_rounds: int,
    propensity: str,
    uniform_share: float,
    cost_weight,
    normalizer: float,
    seed: int,
) -> list[dict[str, Any]]:
    """One strategy on one split: fit, score, select ``batch`` more, ``n_rounds`` times."""
    rng = check_random_state(seed)
    X, gold = split.X_train, split.gold_train.copy()
    n_train = gold.size
    # P(gold) of every row by design: the initial gold rows are a uniform draw
    selected = np.full(n_train, n_initial / n_train)
    rows = []
    for round_ in range(n_rounds + 1):
        y = np.where(gold, split.gold_gain_train, split.preference_label_train)
        fitted = clone(router)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            start = time.perf_counter()
            if propensity == "known":  # every strategy, so that round 0 is the same fit
                fitted.fit(X, y, gold=gold, gold_probability=selected)
            else:
                fitted.fit(X, y, gold=gold)
            seconds = time.perf_counter() - start
            predicted = fitted.predict(split.X_test)
        curve = efficiency_gain_curve(split.gain_test, predicted, normalizer=normalizer)
        rows.append(
            {
                "strategy": strategy,
                "round": round_,
                "n_gold": int(gold.sum()),
                "auc": curve.auc,
                "fit_seconds": seconds,
                "n_warnings": len(caught),
            }
        )
        if round_ == n_rounds:
            break
        picked, selected = draw_gold_round(
            fitted,
            X,
            gold,
            batch,
            strategy,
            gold_probability=selected,
            cost_weight=cost_weight,
            uniform_share=uniform_share,
            random_state=rng,
        )
        gold[picked] = True
    return rows


def _run_split(data: Any, split_id: int, seed: int, base: Any, run: dict) -> list[dict]:
    """Every strategy on split ``split_id``; everything random follows ``seed``."""
    split = data.split(n_test=run["n_test"], n_gold=run["n_initial"], random_state=seed)
    seeded = clone(base).set_params(random_state=seed)
    rows = []
    for strategy in run["strategies"]:
        for row in _run_strategy(
            strategy,
            split,
            seeded,
            n_initial=run["n_initial"],
            batch=run["batch"],
            n_rounds=run["n_rounds"],
            propensity=run["propensity"],
            uniform_share=run["uniform_share"],
            cost_weight=run["cost_weight"],
            normalizer=run["normalizer"],
            seed=seed,
        ):
            rows.append({"split": split_id, "seed": seed, **row})
    return rows


def run_active_protocol(
    data: Any,
    strategies: tuple[str, ...] = ("random", "auto"),
    *,
    n_initial: int = 25,
    batch: int = 25,
    n_rounds: int = 6,
    n_splits: int = 20,
    n_test: int | None = None,
    router: Any = None,
    n_bootstrap: int = 30,
    propensity: str = "known",
    uniform_share: float = 0.2,
    cost_weight: float | None = None,
    n_jobs: int | None = None,
    random_state: Any = 0,
) -> ActiveProtocolResult:
    """Simulate active gold labelling on a :class:`~metarouter_econml.datasets.RoutingDataset`.

    Each split draws ``n_test`` test queries and ``n_initial`` random gold rows among the rest
    (every other training row keeps only its preference label). Every strategy then starts from
    the same split and, ``n_rounds`` times, fits the router, scores it on the test queries
    (efficiency-gain AUC, the library's convention for the normaliser), and asks
    :func:`select_gold_queries`'s rule for ``batch`` more gold labels, which the dataset reveals.
    So strategies are compared on the same test queries and initial gold rows (paired), at
    every number of gold labels ``n_initial + k * batch``.

    The chance of every row to have been chosen is tracked by design (``1 - prod(1 - q_r)`` over
    the rounds, ``q_r`` the round's inclusion probability, the same rule applied to rows already
    drawn) and, with ``propensity="known"``, passed to ``fit`` as ``gold_probability``;
    ``"estimated"`` lets the router cross-fit ``P(gold | x)`` as usual. Every strategy is fitted
    the same way (random selection, too, with its constant known probability), so the first
    round's routers are the same for all.

    Parameters
    ----------
    data : RoutingDataset
    strategies : tuple of str, default=("random", "auto")
        Any of ``"random"``, ``"bias"``, ``"decision"``, ``"overlap"``, ``"auto"``.
    n_initial, batch, n_rounds : int, default=25, 25, 6
        Initial random gold rows, gold labels added per round, number of rounds.
    n_splits : int, default=20
    n_test : int or None, default=None
        Test queries per split; None means 10% of the rows.
    router : MetaRouter or None, default=None
        The router refitted at every round (cloned, ``random_state`` set per split); None means
        ``MetaRouter(n_bootstrap=n_bootstrap)``. It needs ``n_bootstrap`` for every strategy but
        ``"random"`` and ``"overlap"``.
    n_bootstrap : int, default=30
        Bootstrap replicates of the default router.
    propensity : {"known", "estimated"}, default="known"
    uniform_share : float in (0, 1], default=0.2
        See :func:`select_gold_queries`.
    cost_weight : float or None, default=None
        See :func:`select_gold_queries`.
    n_jobs : int or None, default=None
        Splits run in parallel processes (joblib); None means 1. Results do not depend on it.
    random_state : int, RandomState or None, default=0
        Seed of the splits, the routers and the draws.

    Returns
    -------
    ActiveProtocolResult

    Examples
    --------
    >>> from metarouter_econml.active import run_active_protocol
    >>> from metarouter_econml.datasets import make_routing_data
    >>> data = make_routing_data(n_samples=600, n_features=6, random_state=0)
    >>> result = run_active_protocol(data, ("random", "bias"), n_initial=30, batch=15,
    ...                              n_rounds=1, n_splits=1, n_bootstrap=5)
    >>> result.metrics[["strategy", "n_gold"]].drop_duplicates().shape
    (4, 2)
    """
    from ..datasets import RoutingDataset

    if not isinstance(data, RoutingDataset):
        raise TypeError(f"`data` must be a RoutingDataset; got {type(data).__name__}.")
    if isinstance(strategies, str) or not all(isinstance(s, str) for s in strategies):
        raise TypeError(f"`strategies` must be a tuple of strategy names; got {strategies!r}.")
    strategies = tuple(Options(STRATEGIES).check(s, "strategies") for s in strategies)
    if not strategies or len(set(strategies)) != len(strategies):
        raise ValueError(f"`strategies` must name distinct strategies; got {strategies!r}.")
    n_initial = Int(low=2).check(n_initial, "n_initial")
    batch = Int(low=1).check(batch, "batch")
    n_rounds = Int(low=0).check(n_rounds, "n_rounds")
    n_splits = Int(low=1).check(n_splits, "n_splits")
    n_bootstrap = Int(low=2).check(n_bootstrap, "n_bootstrap")
    n_test = nullable(Int(low=1)).check(n_test, "n_test")
    propensity = Options(_PROPENSITIES).check(propensity, "propensity")
    uniform_share = Real(0, 1, low_open=True).check(uniform_share, "uniform_share")
    n_test = max(1, len(data) // 10) if n_test is None else n_test
    final_gold = n_initial + batch * n_rounds
    if n_test + final_gold + 2 > len(data):
        raise ValueError(
            f"`n_test` + `n_initial` + `batch` * `n_rounds` must leave at least 2 preference "
            f"rows of the {len(data)}; got {n_test} + {final_gold}."
        )
    base = _default_router(n_bootstrap) if router is None else router
    normalizer = float(np.mean(data.gold_gain)) * n_test
    if not normalizer > 0:
        raise ValueError(
            "The normaliser (mean gold gain times n_test) must be > 0; got "
            f"{normalizer!r}: the efficiency gain is not defined on this dataset."
        )
    n_jobs = NJobs().check(n_jobs, "n_jobs")
    seeds = check_random_state(random_state).randint(0, 2**31 - 1, size=n_splits)
    settings_of_run = {
        "strategies": strategies,
        "n_test": n_test,
        "n_initial": n_initial,
        "batch": batch,
        "n_rounds": n_rounds,
        "propensity": propensity,
        "uniform_share": uniform_share,
        "cost_weight": cost_weight,
        "normalizer": normalizer,
    }
    from joblib import Parallel, delayed

    per_split = Parallel(n_jobs=1 if n_jobs is None else n_jobs)(
        delayed(_run_split)(data, split_id, int(seed), base, settings_of_run)
        for split_id, seed in enumerate(seeds)
    )
    rows = [row for split_rows in per_split for row in split_rows]
    settings = {
        "dataset": data.name,
        "n_samples": len(data),
        "strategies": strategies,
        "n_initial": n_initial,
        "batch": batch,
        "n_rounds": n_rounds,
        "n_splits": n_splits,
        "n_test": n_test,
        "router": repr(base),
        "propensity": propensity,
        "uniform_share": uniform_share,
        "cost_weight": cost_weight,
        "random_state": random_state,
    }
    return ActiveProtocolResult(pd.DataFrame(rows), settings)


@dataclass(frozen=True)
class ActiveProtocolResult:
    """Results of :func:`run_active_protocol`.

    Parameters
    ----------
    metrics : pandas.DataFrame
        One row per split, strategy and round: ``split``, ``seed``, ``strategy``, ``round``,
        ``n_gold``, ``auc`` (efficiency-gain AUC on the split's test queries), ``fit_seconds``
        and ``n_warnings``.
    settings : dict
        The arguments of the run.
    """

    metrics: pd.DataFrame
    settings: dict

    def summary(self, reference: str = "random") -> pd.DataFrame:
        """Mean AUC per strategy and number of gold labels, and the paired difference.

        Columns: ``strategy``, ``n_gold``, ``auc`` (mean), ``auc_se``, ``diff`` (mean paired
        difference against ``reference`` on the same splits), ``diff_low``/``diff_high`` (its
        95% t-interval; NaN with one split) and ``n_splits``.
        """
        from scipy import stats

        if reference not in set(self.metrics["strategy"]):
            raise ValueError(
                f"`reference` must be one of the strategies run, "
                f"{sorted(set(self.metrics['strategy']))}; got {reference!r}."
            )
        wide = self.metrics.pivot_table(index=["split", "n_gold"], columns="strategy", values="auc")
        rows = []
        for strategy in self.settings["strategies"]:
            for n_gold, group in wide.groupby(level="n_gold"):
                values = group[strategy].to_numpy()
                diff = values - group[reference].to_numpy()
                n = values.size
                se = float(np.std(diff, ddof=1) / np.sqrt(n)) if n > 1 else float("nan")
                half = float(stats.t.ppf(0.975, n - 1) * se) if n > 1 else float("nan")
                rows.append(
                    {
                        "strategy": strategy,
                        "n_gold": int(n_gold),
                        "auc": float(values.mean()),
                        "auc_se": float(np.std(values, ddof=1) / np.sqrt(n))
                        if n > 1
                        else float("nan"),
                        "diff": float(diff.mean()),
                        "diff_low": float(diff.mean() - half),
                        "diff_high": float(diff.mean() + half),
                        "n_splits": n,
                    }
                )
        return pd.DataFrame(rows)

    def labels_to_match(self, strategy: str, target_gold: int, reference: str = "random") -> float:
        """Fewest gold labels at which ``strategy`` matches ``reference`` at ``target_gold``.

        The mean AUC curve of ``strategy`` is interpolated linearly between rounds; NaN if it
        never reaches ``reference``'s mean AUC at ``target_gold`` gold labels. It is the first
        crossing of a noisy mean curve: where the curves are flat, even ``reference`` itself
        can reach its own value before ``target_gold`` (report its number next to the
        strategy's), and a strategy can cross early by chance; read it with
        :meth:`summary`'s paired intervals.
        """
        table = self.summary(reference)
        goal = table[(table.strategy == reference) & (table.n_gold == target_gold)]["auc"]
        if goal.empty:
            raise ValueError(
                f"`target_gold` must be one of the gold counts run, "
                f"{sorted(set(table.n_gold))}; got {target_gold!r}."
            )
        curve = table[table.strategy == strategy].sort_values("n_gold")
        counts, aucs = curve["n_gold"].to_numpy(float), curve["auc"].to_numpy()
        level = float(goal.iloc[0])
        above = np.flatnonzero(aucs >= level)
        if above.size == 0:
            return float("nan")
        k = above[0]
        if k == 0:
            return float(counts[0])
        frac = (level - aucs[k - 1]) / (aucs[k] - aucs[k - 1])
        return float(counts[k - 1] + frac * (counts[k] - counts[k - 1]))

    def plot(self, ax=None, reference: str = "random"):
        """Mean efficiency-gain AUC against the number of gold labels, one line per strategy.

        Bands are +/- 1.96 standard errors of the mean. Returns the matplotlib Axes.
        """
        import matplotlib.pyplot as plt

        table = self.summary(reference)
        if ax is None:
            _, ax = plt.subplots(figsize=(6, 4))
        for strategy, group in table.groupby("strategy", sort=False):
            ax.plot(group["n_gold"], group["auc"], marker="o", label=strategy)
            band = 1.96 * group["auc_se"].fillna(0.0)
            ax.fill_between(group["n_gold"], group["auc"] - band, group["auc"] + band, alpha=0.2)
        ax.set_xlabel("gold labels")
        ax.set_ylabel("efficiency-gain AUC (test)")
        ax.set_title(f"Active gold labelling ({self.settings['n_splits']} splits)")
        ax.legend()
        return ax

    def to_markdown(self, reference: str = "random") -> str:
        """The summary as a Markdown table."""
        table = self.summary(reference)
        lines = [
            "| strategy | gold | AUC | ± SE | vs " + reference + " [95% CI] |",
            "|---|---:|---:|---:|---|",
        ]
        for row in table.itertuples():
            lines.append(
                f"| {row.strategy} | {row.n_gold} | {row.auc:.4f} | {row.auc_se:.4f} | "
                f"{row.diff:+.4f} [{row.diff_low:+.4f}, {row.diff_high:+.4f}] |"
            )
        return "\n".join(lines)
