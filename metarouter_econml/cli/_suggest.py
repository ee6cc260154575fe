"""``metarouter suggest``: which preference-only rows to send for gold labelling next.

DATA is read and checked exactly as ``report`` reads it (``_report.read_routing_table``).
The Meta-Router is fitted with bootstrap intervals on every row, and
``metarouter_econml.active.select_gold_queries`` scores the preference-only rows (the
candidates) and draws ``--budget`` of them with known inclusion probabilities. Each chosen row
is written with its gain and bias intervals and a reason computed from the same numbers the
strategy scored: the width of the bias interval (``bias``, and ``auto`` without a cost
weight), where the gain interval lies against the routing thresholds (``decision``), both
(``auto`` with ``--cost-weight``), the score ``1 / P(gold | x)`` relative to the candidates'
mean, read back from the inclusion probability since ``select_gold_queries`` does not return
its propensities (``overlap``), or the uniform draw (``random``, and any row whose inclusion
probability is less than twice the floor every candidate gets: its own score contributed less
than the uniform share did). The reasons follow ``select_gold_queries``' documented scores: a
change to a strategy there needs the same change in `_Reasons`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from metarouter_econml import MetaRouter
from metarouter_econml.active import select_gold_queries

from . import COST_WEIGHT_STRATEGIES
from ._common import check_input_file, check_output_file, list_written, show, unexposed, writing
from ._report import _named, _same_file, fit_telling_warnings, read_routing_table, say

#: One minus the level of the intervals written and explained: those behind the scores of
#: select_gold_queries (90%).
ALPHA = 0.1
#: The shares of candidates sent to the primary model whose thresholds the decision score
#: averages over when no --cost-weight is given (select_gold_queries' rule).
SHARES = (0.2, 0.8)
#: The columns of the --out file, in order.
COLUMNS = (
    "rank",
    "row",
    "strategy",
    "inclusion_probability",
    "psi",
    "psi_low",
    "psi_high",
    "bias",
    "bias_low",
    "bias_high",
    "reason",
)

#: The library's names for what DATA and --budget set.
RENAMED = {
    "data": "DATA",
    "path": "DATA",
    "n": "`--budget`",
    "X_pool": "the candidates (the preference-only rows of DATA)",
}
#: Parameters of MetaRouter that no option of ``suggest`` sets (their defaults apply).
UNEXPOSED = {
    **unexposed(
        MetaRouter,
        "Fit metarouter_econml.MetaRouter from Python to set it.",
        ["n_bootstrap", "n_jobs", "random_state"],
    ),
    **unexposed(
        select_gold_queries,
        "Call metarouter_econml.active.select_gold_queries from Python to set it.",
        [
            "router",
            "X_pool",
            "X_gold",
            "n",
            "strategy",
            "cost_weight",
            "uniform_share",
            "random_state",
            "return_probability",
        ],
    ),
}


def run(args: argparse.Namespace) -> int:
    """Fit the Meta-Router on DATA, choose ``--budget`` candidates and write them.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed ``suggest`` options.

    Returns
    -------
    int
        0: the file was written (every error raises).
    """
    path = check_input_file(args.data, "DATA")
    out = check_output_file(args.out, "--out")
    table = (
        None
        if args.probabilities_out is None
        else check_output_file(args.probabilities_out, "--probabilities-out")
    )
    _distinct_paths(path, out, table)
    if args.cost_weight is not None and args.strategy not in COST_WEIGHT_STRATEGIES:
        raise ValueError(
            f"--cost-weight is used only by --strategy {' and '.join(COST_WEIGHT_STRATEGIES)} "
            f"(the routing threshold of their score); got --strategy {args.strategy}."
        )
    frame, X, y, gold = read_routing_table(args, path)
    candidates = np.flatnonzero(~gold)
    _check_budget(args, candidates.size, len(frame), path)

    say(
        args,
        f"Read {len(frame)} rows ({int(gold.sum())} gold-standard, {candidates.size} "
        f"preference-only candidates) x {X.shape[1]} features from {path}.",
    )
    say(
        args,
        f"Fitting MetaRouter(n_bootstrap={args.n_bootstrap}, random_state={args.random_state}) ...",
    )
    router = MetaRouter(
        n_bootstrap=args.n_bootstrap, n_jobs=args.n_jobs, random_state=args.random_state
    )
    fit_telling_warnings(router, args, X, y, gold)
    say(
        args,
        f"Choosing {args.budget} of {candidates.size} candidates (strategy {args.strategy}) ...",
    )
    pool = X.iloc[candidates]
    # only "overlap" reads the gold rows (it cross-fits P(gold | x) on them and the candidates)
    gold_rows = {"X_gold": X.iloc[np.flatnonzero(gold)]} if args.strategy == "overlap" else {}
    positions, probability = _named(
        select_gold_queries,
        args,
        router,
        pool,
        args.budget,
        args.strategy,
        **gold_rows,
        cost_weight=args.cost_weight,
        uniform_share=args.uniform_share,
        random_state=args.random_state,
        return_probability=True,
    )
    picks = suggestions(
        router,
        pool,
        candidates,
        positions,
        probability,
        strategy=args.strategy,
        uniform_share=args.uniform_share,
        cost_weight=args.cost_weight,
    )
    with writing(out, "--out"):
        out.parent.mkdir(parents=True, exist_ok=True)
        picks.to_csv(out, index=False)
    written = [out]
    if table is not None:
        with writing(table, "--probabilities-out"):
            table.parent.mkdir(parents=True, exist_ok=True)
            pd.DataFrame({"row": candidates, "inclusion_probability": probability}).to_csv(
                table, index=False
            )
        written.append(table)
    if not args.quiet:
        show(_summary(args, path, out, table, len(frame), int(gold.sum()), candidates.size))
        list_written(written)
    return 0


def _check_budget(args: argparse.Namespace, n_candidates: int, n_rows: int, path: Path) -> None:
    """Refuse data without candidates, or a budget above their number, before any fit."""
    if n_candidates == 0:
        raise ValueError(
            f"DATA {str(path)!r} has no preference-only rows: the gold column "
            f"{args.gold_column!r} (--gold-column) is True on all {n_rows} rows, so there is no "
            "candidate to send for gold labelling."
        )
    if args.budget > n_candidates:
        raise ValueError(
            f"--budget {args.budget} is more than the {n_candidates} preference-only rows of "
            f"DATA {str(path)!r} (the candidates); choose at most {n_candidates}."
        )


def _distinct_paths(data: Path, out: Path, table: Path | None) -> None:
    """Refuse outputs that would overwrite DATA or each other."""
    for option, path in (("--out", out), ("--probabilities-out", table)):
        if path is not None and _same_file(path, data):
            raise ValueError(f"{option} {str(path)!r} is DATA itself; writing it would erase it.")
    if table is not None and _same_file(table, out):
        raise ValueError(
            f"--probabilities-out and --out must be different files; got {str(out)!r} twice."
        )


def _summary(
    args: argparse.Namespace,
    path: Path,
    out: Path,
    table: Path | None,
    n_rows: int,
    n_gold: int,
    n_candidates: int,
) -> str:
    """What was chosen, where it is, and how to pass the design's probabilities when refitting."""
    where = (
        f"all {n_candidates} candidates in {table}"
        if table is not None
        else f"the chosen rows in {out}; --probabilities-out writes it for all {n_candidates} "
        "candidates"
    )
    return (
        f"Chose {args.budget} of the {n_candidates} preference-only rows of {path} for "
        f"gold-standard labelling (strategy {args.strategy}, {args.n_bootstrap} bootstrap "
        f"replicates, random state {args.random_state}), best first in {out}.\n"
        "After labelling, refit with MetaRouter.fit(..., gold_probability=p), p being every "
        "row's chance of having been chosen for gold labelling: for the candidates "
        f"1 - (1 - p_before) * (1 - inclusion_probability) (inclusion_probability: {where}), "
        f"p_before = {n_gold}/{n_rows} = {n_gold / n_rows:.3g} for every row if the current "
        "gold rows are a uniform random sample. metarouter_econml.active.draw_gold_round "
        "gives p for every row, the rows already gold included."
    )


# -- the chosen rows and their reasons ----------------------------------------------------------
def suggestions(
    router: MetaRouter,
    pool: pd.DataFrame,
    candidates: np.ndarray,
    positions: np.ndarray,
    probability: np.ndarray,
    *,
    strategy: str,
    uniform_share: float,
    cost_weight: float | None,
) -> pd.DataFrame:
    """The chosen rows, best first, with their intervals and the reason each was drawn.

    Parameters
    ----------
    router : MetaRouter
        The router fitted (with ``n_bootstrap``) on every row of DATA.
    pool : pandas.DataFrame
        The candidates' features (the preference-only rows of DATA, in DATA's order).
    candidates : numpy.ndarray of int
        The row of DATA of each candidate.
    positions : numpy.ndarray of int
        The chosen positions in ``pool``, best first (``select_gold_queries``).
    probability : numpy.ndarray
        Every candidate's inclusion probability (``select_gold_queries``).
    strategy : str
        The strategy that scored the candidates.
    uniform_share : float
        ``select_gold_queries``' ``uniform_share``.
    cost_weight : float or None
        ``select_gold_queries``' ``cost_weight``.

    Returns
    -------
    pandas.DataFrame
        The columns `COLUMNS`, one row per chosen query.
    """
    psi = router.predict(pool)
    psi_low, psi_high = router.predict_interval(pool, alpha=ALPHA)
    bias = router.estimate_bias(pool)
    bias_low, bias_high = router.estimate_bias_interval(pool, alpha=ALPHA)
    threshold = (
        None
        if cost_weight is None
        else cost_weight * (router.cost_primary - router.cost_alternative)
    )
    explain = _Reasons(
        strategy=strategy,
        probability=probability,
        n=positions.size,
        uniform_share=uniform_share,
        psi=psi,
        psi_interval=(psi_low, psi_high),
        bias_width=bias_high - bias_low,
        threshold=threshold,
    )
    return pd.DataFrame(
        {
            "rank": np.arange(1, positions.size + 1),
            "row": candidates[positions],
            "strategy": strategy,
            "inclusion_probability": probability[positions],
            "psi": psi[positions],
            "psi_low": psi_low[positions],
            "psi_high": psi_high[positions],
            "bias": bias[positions],
            "bias_low": bias_low[positions],
            "bias_high": bias_high[positions],
            "reason": [explain(int(i)) for i in positions],
        },
        columns=list(COLUMNS),
    )


def _percent(share: float) -> str:
    """A share as a percentage for a reason: whole percents, one digit below 1%."""
    return f"{100 * share:.0f}%" if share >= 0.01 else f"{100 * share:.1g}%"


def _rank_phrase(values: np.ndarray, value: float, high: str, low: str) -> str:
    """Where ``value`` stands among the candidates: "widest 3%" or "narrowest 40%" of them."""
    n = values.size
    above = np.count_nonzero(values >= value) / n
    if above <= 0.5:
        return f"{high} {_percent(above)} of the candidates"
    return f"{low} {_percent(np.count_nonzero(values <= value) / n)} of the candidates"


class _Reasons:
    """Say, for one candidate, why it was drawn: the numbers its strategy scored.

    A non-random strategy's inclusion probability is ``n * ((1 - u) * score / total + u / N)``
    (capped at 1, the rest rescaled up): the score's part is smaller than the uniform part
    ``u * n / N`` exactly when the probability is below twice that floor (or, after rescaling,
    still smaller), and the row is then said to have been drawn mainly through the uniform
    share; a probability below ``n / N``, a uniform draw's, means a below-average score, and
    the row is said to have been drawn by chance.
    """

    def __init__(
        self,
        *,
        strategy: str,
        probability: np.ndarray,
        n: int,
        uniform_share: float,
        psi: np.ndarray,
        psi_interval: tuple[np.ndarray, np.ndarray],
        bias_width: np.ndarray,
        threshold: float | None,
    ) -> None:
        self.strategy = strategy
        self.probability = probability
        self.uniform = n / probability.size  # every candidate's chance in a uniform draw
        self.floor = uniform_share * self.uniform  # what the uniform share gives each candidate
        self.uniform_share = uniform_share
        self.flat = bool(np.ptp(probability) <= 1e-12 * max(1.0, float(np.max(probability))))
        self.psi = psi
        self.psi_low, self.psi_high = psi_interval
        self.bias_width = bias_width
        self.threshold = threshold
        self.capped = bool(np.any(probability >= 1 - 1e-12))

    def __call__(self, i: int) -> str:
        """The reason for the candidate at position ``i`` of the pool."""
        if self.strategy == "random":
            return (
                "drawn at random (strategy random: every candidate had the same chance, "
                f"{self.uniform:.3g})"
            )
        if self.uniform_share >= 1:
            return (
                "drawn at random (--uniform-share 1: the draw ignores the scores); ranked by "
                f"its score: {self._facts(i, high=False)}"
            )
        if self.flat:
            return (
                f"drawn at random: every candidate scored the same under strategy "
                f"{self.strategy}, so each had the same chance {self.uniform:.3g}; "
                f"{self._facts(i, high=False)}"
            )
        p = float(self.probability[i])
        if p < 2 * self.floor:
            return (
                f"drawn mainly through the uniform share of the design (inclusion probability "
                f"{p:.3g}, under twice the {self.floor:.3g} every candidate gets); its own "
                f"score is low: {self._facts(i, high=False)}"
            )
        if p < self.uniform:
            return (
                f"drawn by chance with a below-average score (inclusion probability {p:.3g}, "
                f"less than the {self.uniform:.3g} of a uniform draw): "
                f"{self._facts(i, high=False)}"
            )
        return self._facts(i, high=True)

    def _facts(self, i: int, *, high: bool) -> str:
        """What the strategy scored for candidate ``i``, in words."""
        if self.strategy == "bias":
            return self._bias(i)
        if self.strategy == "decision":
            return self._decision(i)
        if self.strategy == "auto":  # the bias score, times the decision score at a cost weight
            if self.threshold is None:
                return self._bias(i)
            return f"{self._bias(i)} and {self._decision(i)}"
        return self._overlap(i, high)

    def _bias(self, i: int) -> str:
        width = float(self.bias_width[i])
        where = _rank_phrase(self.bias_width, width, "widest", "narrowest")
        return f"bias interval {width:.3g} wide ({where})"

    def _decision(self, i: int) -> str:
        low, high = float(self.psi_low[i]), float(self.psi_high[i])
        interval = f"gain interval [{low:.3g}, {high:.3g}]"
        if self.threshold is not None:
            t = self.threshold
            if low <= t <= high:
                return f"{interval} straddles the routing threshold {t:.3g} (--cost-weight)"
            side = "above" if low > t else "below"
            return f"{interval} lies {side} the routing threshold {t:.3g} (--cost-weight)"
        # the thresholds inside [low, high] are those that send these shares to the primary
        first = max(float(np.mean(self.psi > high)), SHARES[0])
        last = min(float(np.mean(self.psi > low)), SHARES[1])
        considered = f"{SHARES[0]:.0%}-{SHARES[1]:.0%} of the candidates to the primary model"
        if first <= last:
            start, end = f"{first:.0%}", f"{last:.0%}"
            shares = start if start == end else f"{start}-{end}"
            return (
                f"{interval} straddles the routing thresholds that send {shares} of the "
                "candidates to the primary model"
            )
        side = "above" if last < SHARES[0] else "below"
        return f"{interval} lies {side} every routing threshold that sends {considered}"

    def _overlap(self, i: int, high: bool) -> str:
        """The overlap score ``1 / P(gold | x)`` relative to the candidates' mean.

        ``select_gold_queries`` keeps the propensities it cross-fits to itself; the ratio is
        read back from the inclusion probability, ``n / N * ((1 - u) * ratio + u)``, which is
        exact unless some candidate's probability was capped at 1 (the others are then
        rescaled, and only their chance relative to a uniform draw is said).
        """
        score = "its overlap score 1/P(gold | x)"
        p = float(self.probability[i])
        if self.uniform_share >= 1:
            return f"ranked by {score}"
        if p >= 1 - 1e-12:
            return f"few gold rows like it: {score} is so high that the draw was certain to take it"
        if self.capped:  # the ratio cannot be read back; the drawn-by-chance rows say theirs
            if not high:
                return f"ranked by {score}"
            return f"{score} gave it {p / self.uniform:.3g}x the chance of a uniform draw"
        ratio = (p / self.uniform - self.uniform_share) / (1 - self.uniform_share)
        few = "few gold rows like it: " if high and ratio >= 2 else ""
        return f"{few}{score} is {ratio:.3g}x the candidates' mean"
