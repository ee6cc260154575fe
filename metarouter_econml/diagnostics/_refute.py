"""Refutation of the Meta-Router's bias estimate with DoWhy's refuters.

The Meta-Router estimates the bias ``Delta(x)`` of preference labels as the CATE of the evaluation
source (``T = 1`` for gold-standard rows). :func:`refute_bias` refits the router's EconML
estimator through DoWhy (see ``_dowhy_bridge.py``) and runs DoWhy's refuters on the mean bias.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from numbers import Integral
from types import MappingProxyType, SimpleNamespace

import numpy as np
import pandas as pd
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from .._routers import MetaRouter
from .._validation import (
    Int,
    Real,
    Seed,
    check_aligned,
    check_features,
    check_gold_mask,
    check_labels,
    check_params,
    head,
)
from . import _dowhy_bridge

__all__ = ["REFUTERS", "RefutationResult", "refute_bias"]

#: Refuters :func:`refute_bias` can run, in the order their seeds are drawn.
REFUTERS = ("placebo", "random_common_cause", "data_subset", "bootstrap")

#: Significance level of every verdict (DoWhy's own ``is_statistically_significant`` threshold).
ALPHA = 0.05

_TABLE_COLUMNS = [
    "refuter",
    "dowhy_method",
    "original",
    "refuted",
    "refuted_sd",
    "refuted_min",
    "refuted_max",
    "p_value",
    "n_simulations",
    "seconds",
    "verdict",
    "note",
]

_WHAT = {
    "placebo": "Permuting the gold flags (a placebo treatment)",
    "random_common_cause": "Adding a random covariate as a common cause",
    "data_subset": "Refitting on random subsets of {fraction:.0%} of the rows",
    "bootstrap": "Refitting on bootstrap resamples of the rows",
}


@dataclass(frozen=True, eq=False)
class RefutationResult:
    """Outcome of :func:`refute_bias`: one row per refuter, with a verdict in plain words.

    All estimates are mean biases on the preference (PB) scale, i.e. means of
    ``Delta_hat(x) = E[Y | gold, x] - E[Y | preference, x]`` with gold labels rescaled by the
    router's ``scale_``.

    Attributes
    ----------
    table : DataFrame
        One row per refuter with columns ``refuter``, ``dowhy_method``, ``original`` (DoWhy's
        estimate on the data), ``refuted`` (mean of the refuted estimates over the simulations),
        ``refuted_sd``, ``refuted_min``, ``refuted_max`` (their spread; DoWhy 0.14 reports no
        interval for these refuters), ``p_value`` (DoWhy's), ``n_simulations``, ``seconds``,
        ``verdict`` (``"pass"``/``"fail"``) and ``note``.
    estimate : float
        DoWhy's estimate: the mean bias over the rows used (``target_units="ate"``): all rows, or
        those inside the overlap region for a router fitted with ``overlap="trim"``.
    estimate_preference : float
        The mean bias over the preference rows used: the average correction debiasing adds.
    router_estimate : float
        Mean of ``router.estimate_bias(X)`` over the rows used; equals ``estimate`` when ``X``
        are the rows the router was fitted on.
    learner : str
        The router's learner (``learner_``).
    n_samples, n_gold : int
        Rows used, and how many of them are gold-standard rows.
    n_outside_overlap : int
        Preference rows left out because the router (``overlap="trim"``) fitted its estimator only
        inside the overlap region; 0 otherwise.
    simulations : mapping of str to ndarray
        The refuted estimate of every simulation, per refuter.
    dowhy_results : mapping of str to dict
        DoWhy's ``refutation_result`` per refuter (``p_value``, ``is_statistically_significant``).
    feature_names : mapping of str to str
        The column names DoWhy saw (``x0``, ...) mapped to the user's feature names.
    alpha : float
        Significance level of the verdicts.
    """

    table: pd.DataFrame
    estimate: float
    estimate_preference: float
    router_estimate: float
    learner: str
    n_samples: int
    n_gold: int
    n_outside_overlap: int
    simulations: Mapping[str, np.ndarray] = field(repr=False)
    dowhy_results: Mapping[str, dict] = field(repr=False)
    feature_names: Mapping[str, str] = field(repr=False)
    alpha: float = ALPHA

    @property
    def ok(self) -> bool:
        """True when every refuter passed."""
        return bool((self.table["verdict"] == "pass").all())

    def summary(self) -> pd.DataFrame:
        """Return a copy of the table indexed by refuter."""
        return self.table.set_index("refuter")

    def __str__(self) -> str:
        lines = [
            f"Refutation of the bias estimate (learner {self.learner!r}, {self.n_samples} rows, "
            f"{self.n_gold} gold; preference scale)"
        ]
        if self.n_outside_overlap:
            lines.append(
                f"{self.n_outside_overlap} preference rows outside the overlap region left out "
                "(the router fitted its estimator without them)"
            )
        lines.append(
            f"mean bias: {self.estimate:.4g} over the rows used (router's own: "
            f"{self.router_estimate:.4g}), {self.estimate_preference:.4g} over their PB rows"
        )
        header = "\n".join(lines)
        columns = ["refuter", "original", "refuted", "refuted_sd", "p_value", "n_simulations"]
        shown = self.table[columns + ["seconds", "verdict"]]
        notes = "\n".join(f"- {row.refuter}: {row.note}" for row in self.table.itertuples())
        failed = self.table.loc[self.table["verdict"] != "pass", "refuter"].tolist()
        if failed:
            status = f"{len(failed)} of {len(self.table)} refuters failed: {', '.join(failed)}."
        else:
            status = f"All {len(self.table)} refuters passed."
        body = shown.to_string(index=False, float_format=lambda v: f"{v:.4g}")
        return f"{header}\n{body}\n{notes}\n{status}"


def refute_bias(
    router,
    X,
    y,
    gold,
    *,
    refuters=REFUTERS,
    n_simulations: int = 20,
    subset_fraction: float = 0.8,
    random_state=None,
) -> RefutationResult:
    """Refute the Meta-Router's bias with DoWhy's placebo, common-cause and resampling tests.

    The router's EconML estimator configuration (same learner, models, folds and seed) is refitted
    through DoWhy on ``(X, y, gold)``; its mean bias is the *original* estimate, equal to the mean
    of ``router.estimate_bias(X)`` on the rows the router was fitted on. Each refuter then changes
    the data ``n_simulations`` times and refits the whole estimator each time. For a router fitted
    with ``overlap="trim"`` only the rows its estimator saw are used (GS rows and PB rows inside
    the overlap region).

    Parameters
    ----------
    router : MetaRouter
        A fitted Meta-Router whose bias was estimated by an EconML learner
        (``cate_estimator_`` is not None).
    X : array-like or DataFrame of shape (n_samples, n_features)
        The training features, with the columns the router was fitted on.
    y : array-like of shape (n_samples,)
        The training labels: GS gains on gold rows, PB labels elsewhere (the GS rows are
        multiplied by ``router.scale_``, as in ``fit``).
    gold : array-like of bool, shape (n_samples,)
        True for gold-standard rows.
    refuters : sequence of {"placebo", "random_common_cause", "data_subset", "bootstrap"}
        Which refuters to run, in this order (a single name may be given as a string).

        - ``"placebo"``: DoWhy's ``placebo_treatment_refuter`` with ``placebo_type="permute"``:
          the gold flags are shuffled across rows, so the estimated bias should collapse to zero.
        - ``"random_common_cause"``: ``random_common_cause`` adds an independent normal column as
          a common cause (EconML's ``W``); the estimate should not move.
        - ``"data_subset"``: ``data_subset_refuter`` refits on random subsets of
          ``subset_fraction`` of the rows.
        - ``"bootstrap"``: ``bootstrap_refuter`` refits on resamples with replacement (with
          ``required_variables=False``: DoWhy's optional measurement noise on the covariates is
          drawn from numpy's global generator and could not be seeded).
    n_simulations : int, default=20
        Refits per refuter, at least 2. Every simulation refits the whole estimator, so the cost
        grows linearly with it (the ``seconds`` column reports the time of each refuter). The
        refuted estimates' spread, on which DoWhy's p-value rests, is estimated more precisely
        with more simulations; below 100 DoWhy uses a normal approximation (see Notes).
    subset_fraction : float in (0, 1), default=0.8
        Share of rows kept by ``"data_subset"``.
    random_state : int, RandomState or None, default=None
        Seeds the refuters: one ``numpy.random.RandomState`` is derived per refuter (in the fixed
        order of :data:`REFUTERS`, so a refuter's draws do not depend on which others run) and
        passed to DoWhy with ``n_jobs=1``. The same seed gives the same table (except
        ``seconds``). The estimator itself keeps the router's seed.

    Returns
    -------
    RefutationResult

    Raises
    ------
    TypeError
        If ``router`` is not a :class:`~metarouter_econml.MetaRouter`.
    sklearn.exceptions.NotFittedError
        If ``router`` is not fitted.
    ValueError
        If the router has no CATE estimator (e.g. ``learner="auto"`` fell back to a baseline),
        a refuter name is unknown or repeated, or ``n_simulations``/``subset_fraction`` are out
        of range (``TypeError`` when they are not numbers), or the inputs do not match the
        router's features or each other.

    Notes
    -----
    **p-values.** For each refuter DoWhy fits a normal distribution to the refuted estimates
    (fewer than 100 simulations; from 100 on it uses a two-sided percentile test) and reports the
    one-tailed probability beyond the value tested. ``p <= 0.05`` is DoWhy's
    ``is_statistically_significant``: the tested value lies outside the central 90 % of the
    refuted estimates (a two-sided 10 % test). The p-value describes where one value falls in the
    spread of the refuted estimates; it is not a test of their mean, and more simulations do not
    make it stricter.

    **Verdicts** (``alpha = 0.05``, DoWhy's threshold):

    - ``"placebo"`` passes when zero is consistent with the placebo estimates (DoWhy tests 0, not
      the original estimate, against their distribution): ``p > 0.05``. A failure means the
      estimator finds a "bias" even when the gold flags are random. A pass does not say the
      original bias is real: the note says whether the original estimate lies outside the
      placebo spread (more than 2 of their standard deviations from their mean). A rule relative to
      the original (``|placebo| < k |original|``) is not used because it fails whenever the true
      bias is zero.
    - ``"random_common_cause"``, ``"data_subset"``, ``"bootstrap"`` pass when the original estimate
      is consistent with the refuted estimates: ``p > 0.05``. Expect about one failure in ten per
      refuter by chance alone.
    - When all refuted estimates are equal (zero spread) DoWhy's p-value is undefined; the refuter
      passes only if they equal the tested value.

    Examples
    --------
    >>> from metarouter_econml import MetaRouter
    >>> from metarouter_econml.datasets import make_routing_data
    >>> from metarouter_econml.diagnostics import refute_bias
    >>> split = make_routing_data(700, 6, bias="constant", random_state=0).split(
    ...     n_test=100, n_gold=100, random_state=0)
    >>> router = MetaRouter(random_state=0).fit(split.X_train, split.y_train, gold=split.gold_train)
    >>> result = refute_bias(router, split.X_train, split.y_train, split.gold_train,
    ...                      refuters="placebo", n_simulations=2, random_state=0)
    >>> print(result.table["refuter"].tolist(), result.table["n_simulations"].tolist())
    ['placebo'] [2]
    """
    check_router(router, _WHY_REFUTE)
    _check_estimator(router)
    names = check_refuters(refuters, allow_empty=False)
    params = check_refutation_params(n_simulations, subset_fraction, random_state)
    X_arr = check_features(router, X, reset=False)
    n = X_arr.shape[0]
    y_arr = check_labels(y, n_rows=n)
    gold_arr = check_gold_mask(gold, n_rows=n)
    check_aligned(X, y, "y")
    check_aligned(X, gold, "gold")
    bias = np.asarray(router.estimate_bias(X), dtype=np.float64)
    return refutations(router, X, X_arr, y_arr, gold_arr, bias=bias, refuters=names, **params)


def refutations(
    router: MetaRouter,
    X,
    X_arr: np.ndarray,
    y: np.ndarray,
    gold: np.ndarray,
    *,
    bias: np.ndarray,
    refuters: tuple[str, ...],
    n_simulations: int,
    subset_fraction: float,
    random_state,
) -> RefutationResult:
    """:func:`refute_bias` on validated inputs (see there).

    ``X`` is the caller's feature matrix, handed only to the router's own methods; ``X_arr`` is
    its validated array, ``bias`` the router's ``estimate_bias`` on those rows.
    """
    n_gold = int(gold.sum())
    mismatch = (n_gold, gold.size - n_gold) != (router.n_gold_, router.n_preference_)
    if mismatch:
        warnings.warn(
            f"The router was fitted on {router.n_gold_} gold and {router.n_preference_} preference "
            f"rows; got {n_gold} and {gold.size - n_gold}. Refuting its estimator "
            "configuration on these rows: the original estimate will differ from the router's own. "
            "Pass the training data to refute the fitted router.",
            UserWarning,
            stacklevel=3,
        )
    y_pb = np.where(gold, y * router.scale_, y)
    rows = _rows_the_estimator_saw(router, X, gold, training=not mismatch)
    X_arr, y_pb, gold = X_arr[rows], y_pb[rows], gold[rows]
    n_gold = int(gold.sum())

    rng = check_random_state(random_state)
    draws = rng.randint(np.iinfo(np.int32).max, size=len(REFUTERS))
    seeds = dict(zip(REFUTERS, draws, strict=True))

    estimator = _unfitted_cate_estimator(router, n_gold, int(gold.size) - n_gold)
    fit = _dowhy_bridge.fit_dowhy(X_arr, y_pb, gold, estimator)
    original = fit.value
    table_rows, simulations, dowhy_results = [], {}, {}
    for name in refuters:
        start = time.perf_counter()
        refutation, sims = _dowhy_bridge.refute(
            fit,
            name,
            n_simulations=n_simulations,
            random_state=np.random.RandomState(seeds[name]),
            subset_fraction=subset_fraction,
        )
        seconds = time.perf_counter() - start
        p_value = _p_value(refutation)
        verdict, note = _verdict(name, original, sims, p_value, subset_fraction)
        table_rows.append(
            {
                "refuter": name,
                "dowhy_method": _dowhy_bridge.REFUTER_METHODS[name],
                "original": original,
                "refuted": float(np.mean(sims)),
                "refuted_sd": float(np.std(sims)),
                "refuted_min": float(np.min(sims)),
                "refuted_max": float(np.max(sims)),
                "p_value": p_value,
                "n_simulations": n_simulations,
                "seconds": seconds,
                "verdict": verdict,
                "note": note,
            }
        )
        sims.setflags(write=False)
        simulations[name] = sims
        dowhy_results[name] = _plain_result(refutation)

    user_names = getattr(router, "feature_names_in_", None)
    if user_names is None:
        user_names = fit.effect_modifiers
    mapping = dict(zip(fit.effect_modifiers, (str(n) for n in user_names), strict=True))
    return RefutationResult(
        table=pd.DataFrame.from_records(table_rows, columns=_TABLE_COLUMNS),
        estimate=original,
        estimate_preference=float(np.mean(fit.cate[~gold])),
        router_estimate=float(np.mean(bias[rows])),
        learner=str(router.learner_),
        n_samples=int(X_arr.shape[0]),
        n_gold=n_gold,
        n_outside_overlap=int(rows.size - rows.sum()),
        simulations=MappingProxyType(simulations),
        dowhy_results=MappingProxyType(dowhy_results),
        feature_names=MappingProxyType(mapping),
    )


# -- validation ----------------------------------------------------------------------------------
_WHY_REFUTE = "refutation needs its CATE estimator of the bias"

_RULES = {
    "n_simulations": Int(
        low=2, what="refits per refuter: DoWhy's test needs the spread of the refuted estimates"
    ),
    "subset_fraction": Real(0, 1, low_open=True, high_open=True),
    "random_state": Seed(),
}


def check_refutation_params(n_simulations, subset_fraction, random_state) -> dict:
    """Validate ``n_simulations``, ``subset_fraction`` and ``random_state``; return them by name."""
    values = SimpleNamespace(
        n_simulations=n_simulations, subset_fraction=subset_fraction, random_state=random_state
    )
    return check_params(values, _RULES)


def check_refuters(refuters, *, allow_empty: bool) -> tuple[str, ...]:
    """The refuter names as a tuple: a name or a sequence of distinct names from :data:`REFUTERS`.

    With ``allow_empty``, None and an empty sequence give ``()`` (no refutation).
    """
    if refuters is None and allow_empty:
        return ()
    if isinstance(refuters, str):
        refuters = (refuters,)
    try:
        names = tuple(refuters)
    except TypeError:
        kind = type(refuters).__name__
        message = f"`refuters` must be a sequence of names from {REFUTERS}; got {kind}."
        raise TypeError(message) from None
    if not names:
        if allow_empty:
            return ()
        raise ValueError(f"`refuters` must name at least one of {REFUTERS}; got an empty sequence.")
    unknown = [name for name in names if not (isinstance(name, str) and name in REFUTERS)]
    if unknown:
        raise ValueError(f"`refuters` must be names from {REFUTERS}; got unknown {head(unknown)}.")
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ValueError(f"`refuters` must not repeat a name; got {head(repeated)} more than once.")
    return names


def check_router(router, why: str) -> None:
    """Refuse anything but a fitted :class:`~metarouter_econml.MetaRouter`; ``why`` says why."""
    if not isinstance(router, MetaRouter):
        raise TypeError(
            f"`router` must be a fitted MetaRouter; got {type(router).__name__}: {why}."
        )
    check_is_fitted(router, "router_model_")


def _check_estimator(router: MetaRouter) -> None:
    """Refuse a router without a CATE estimator (``learner="auto"`` fell back to a baseline)."""
    if router.cate_estimator_ is None:
        reason = ""
        if isinstance(router.learner, str) and router.learner == "auto":
            reason = (
                f' learner="auto" fell back to the baseline {router.learner_!r}: '
                f"{router.auto_reason_} Refit with an explicit CATE learner (e.g. "
                'learner="r") to refute its estimate.'
            )
        raise ValueError(
            "`router` has no CATE estimator (`cate_estimator_` is None; learner_ is "
            f"{router.learner_!r}): refutation needs a bias estimated by an EconML learner.{reason}"
        )


def _rows_the_estimator_saw(router: MetaRouter, X, gold: np.ndarray, *, training: bool):
    """Rows to refit on: all of them, or those inside the overlap region for ``overlap="trim"``.

    A trimmed router fitted its CATE estimator on the GS rows and the PB rows inside the overlap
    region only (``overlap_mask_``, known for the training rows); for other rows the region is
    read from ``router.in_overlap``.
    """
    mask = getattr(router, "overlap_mask_", None)
    if mask is None:
        return np.ones(gold.shape[0], dtype=bool)
    if training:
        return np.asarray(mask, dtype=bool).copy()
    return np.asarray(router.in_overlap(X), dtype=bool) | gold


# -- estimation ----------------------------------------------------------------------------------
def _unfitted_cate_estimator(router: MetaRouter, n_gold: int, n_preference: int):
    """Rebuild the router's EconML estimator, unfitted: same learner, models, folds and seed.

    The recipe is the router's own (``MetaRouter._unfitted_cate``). The seed is read back from
    the fitted estimator (``random_state``), so this works whatever ``router.random_state`` was
    (an int, a RandomState already advanced, or None). A user-supplied EconML estimator is
    deep-copied from the unfitted ``router.learner``.
    """
    learner = router.learner if not isinstance(router.learner, str) else router.learner_
    seed = getattr(router.cate_estimator_, "random_state", None)
    if not isinstance(seed, Integral):  # a user-supplied estimator: deep-copied, seed unused
        seed = 0
    estimator, _ = router._unfitted_cate(learner, n_gold, n_preference, int(seed))
    return estimator


# -- verdicts ------------------------------------------------------------------------------------
def _p_value(refutation) -> float:
    result = getattr(refutation, "refutation_result", None)
    if not result or result.get("p_value") is None:
        return float("nan")
    return float(result["p_value"])


def _plain_result(refutation) -> dict:
    result = getattr(refutation, "refutation_result", None) or {}
    plain = {}
    for key, value in result.items():
        plain[key] = value.item() if isinstance(value, np.generic) else value
    return plain


def _verdict(name: str, original: float, sims: np.ndarray, p_value: float, fraction: float):
    """Return ``("pass" | "fail", note)`` for one refuter; see :func:`refute_bias` for the rules."""
    mean, sd = float(np.mean(sims)), float(np.std(sims))
    tested = 0.0 if name == "placebo" else original
    what = _WHAT[name].format(fraction=fraction)
    moved = (
        f"{what} moved the mean bias from {original:.4g} to {mean:.4g} "
        f"(sd {sd:.3g} over {sims.size} refits)"
    )
    if np.isnan(p_value):
        passed = bool(np.allclose(sims, tested, rtol=1e-9, atol=1e-12))
        evidence = "the refuted estimates do not vary, so DoWhy's p-value is undefined"
    else:
        passed = p_value > ALPHA
        evidence = f"p = {p_value:.3g}"
    if name == "placebo":
        if not passed:
            return "fail", (
                f"{moved}; zero is outside the placebo estimates ({evidence}): the estimator "
                "finds a bias even when the gold flags are random, so it picks up something other "
                "than the source of the labels (overfitting, leakage or too few gold rows)."
            )
        note = f"{moved}; zero is consistent with the placebo estimates ({evidence})."
        if sd > 0 and abs(original - mean) > 2 * sd:
            note += " The original estimate lies outside the placebo spread, as a real bias should."
        else:
            note += (
                " But the original estimate is itself within 2 sd of the placebo estimates: this "
                "bias is not distinguishable from what shuffled gold flags produce."
            )
        return "pass", note
    if passed:
        return "pass", f"{moved}; the original estimate is consistent with them ({evidence})."
    return "fail", (
        f"{moved}; the original estimate is outside their spread ({evidence}): the bias estimate "
        "is sensitive to this perturbation, so treat it with caution (more gold rows help)."
    )
