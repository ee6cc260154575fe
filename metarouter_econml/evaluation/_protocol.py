"""The Meta-Router paper's evaluation protocol: many random splits, every method, one table.

Zhang et al. (arXiv:2509.25535) evaluate routers over 200 random splits of 5,000 queries: 500
test queries, ``n`` gold-standard (GS) training queries and all others preference-based (PB).
Every method is fitted on the training rows of each split and scored on its test rows by the
efficiency-gain curve; the curves are averaged over splits. :func:`run_protocol` runs that loop
(in parallel over splits), adds RouteLLM's metrics, and returns a :class:`ProtocolResult`
with per-split tables, a summary with uncertainty and paired comparisons, and the paper's
Figure 1-style plot.
"""

from __future__ import annotations

import html
import math
import numbers
import sys
import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.base import BaseEstimator, clone
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from .._format import markdown_table
from .._ray import ordered_ray_results
from .._routers import (
    GoldOnlyRouter,
    MeanShiftRouter,
    MetaRouter,
    PooledRouter,
    PreferenceOnlyRouter,
)
from .._validation import AnyOf, Bool, Estimator, Int, Options, Real, check_n_jobs
from ..datasets import RoutingDataset
from ._curves import _check_ratios, efficiency_gain_curve, routellm_metrics
from ._plotting import plot_mean_curves

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from numpy.typing import ArrayLike

__all__ = ["PROTOCOL_METHODS", "ProtocolResult", "run_protocol"]


class _RandomRouter(BaseEstimator):
    """Random routing: predicted gains drawn uniformly from [0, 1), independently of the query.

    Its efficiency gain is 0 in expectation at every ratio (the curve's reference line), so
    over many splits it shows how much a method's mean curve moves by chance alone.

    Parameters
    ----------
    random_state : int, numpy.random.RandomState or None, default=None
        Seed of the predictions. An int seeds a PCG64 generator (not the Mersenne Twister the
        split uses with the same seed), so predictions are unrelated to the split's draw.

    Examples
    --------
    >>> import numpy as np
    >>> router = _RandomRouter(random_state=0).fit(np.zeros((3, 2)), np.zeros(3), gold=None)
    >>> router.predict(np.zeros((3, 2))).shape
    (3,)
    """

    def __init__(self, *, random_state=None):
        self.random_state = random_state

    def fit(self, X, y, *, gold):
        """Record the number of features; nothing is learnt."""
        self.n_features_in_ = int(np.shape(X)[1])
        return self

    def predict(self, X) -> np.ndarray:
        """Uniform random gains, the same for the same seed and number of queries."""
        check_is_fitted(self, "n_features_in_")
        seed = self.random_state
        if seed is None or isinstance(seed, numbers.Integral):
            rng: Any = np.random.default_rng(None if seed is None else int(seed))
        else:
            rng = check_random_state(seed)
        return rng.uniform(size=int(np.shape(X)[0]))


@dataclass(frozen=True)
class _Method:
    """An unfitted router and the labels it is trained on (``"observed"`` or ``"gold"``)."""

    router: Any
    labels: str = "observed"


#: Registry of the paper's methods: name -> factory of the unfitted method.
_REGISTRY: dict[str, Callable[[], _Method]] = {
    "meta_r": lambda: _Method(MetaRouter(learner="r")),
    "meta_dr": lambda: _Method(MetaRouter(learner="dr")),
    "meta_auto": lambda: _Method(MetaRouter(learner="auto")),
    "pooled": lambda: _Method(PooledRouter()),
    "mean_shift": lambda: _Method(MeanShiftRouter()),
    "preference_only": lambda: _Method(PreferenceOnlyRouter()),
    "gold_only": lambda: _Method(GoldOnlyRouter()),
    # Oracle: GS labels on every training row, already on the GS scale.
    "all_gold": lambda: _Method(PooledRouter(gold_scale="none"), labels="gold"),
    "random": lambda: _Method(_RandomRouter()),
}

#: Names accepted in ``run_protocol(methods=[...])``, in the order they are run.
PROTOCOL_METHODS: tuple[str, ...] = tuple(_REGISTRY)

#: Methods run by default: all but ``"meta_auto"``, which refits four candidate routers in
#: every cross-validation fold.
_DEFAULT_METHODS = tuple(name for name in PROTOCOL_METHODS if name != "meta_auto")

#: Names of the RouteLLM metrics, NaN when the test gains do not sum to a positive number.
_ROUTELLM_KEYS = ("apgr", "cpt50", "cpt80")

#: Columns of ``ProtocolResult.metrics`` before any ``extra_metrics``.
_METRIC_COLUMNS = (
    "split",
    "seed",
    "method",
    "auc",
    "peak",
    "peak_ratio",
    *_ROUTELLM_KEYS,
    "fit_seconds",
    "n_warnings",
)

#: Parameter rules of :func:`run_protocol` and :class:`ProtocolResult`.
_N_SPLITS = Int(low=1)
_VERBOSE = Int(low=0)
_LEVEL = Real(0, 1, low_open=True, high_open=True)
_BAND = Options(("quantile", "mean"))
_DIGITS = Int(low=0)
_PROTOCOL_NORMALIZER = AnyOf((Options(("split",)), Real(0, low_open=True)), none=True)
_ROUTER = Estimator(("fit", "predict"), kind="an unfitted router")


def _resolve_methods(methods: Any) -> dict[str, _Method]:
    """Validate ``methods`` and return display name -> method, in run order."""
    if methods is None:
        return {name: _REGISTRY[name]() for name in _DEFAULT_METHODS}
    if isinstance(methods, Mapping):
        if not methods:
            raise ValueError("`methods` must name at least one method; got an empty dict.")
        resolved = {}
        for name, router in methods.items():
            if not isinstance(name, str):
                raise TypeError(
                    f"`methods` keys must be display names (str); got {type(name).__name__}."
                )
            if isinstance(router, str):  # a display name for a registry method
                if router not in _REGISTRY:
                    raise ValueError(
                        f"`methods[{name!r}]` must be an unfitted router or a name from "
                        f"{list(PROTOCOL_METHODS)}; got {router!r}."
                    )
                resolved[name] = _REGISTRY[router]()
                continue
            resolved[name] = _Method(_ROUTER.check(router, f"methods[{name!r}]"))
        return resolved
    if isinstance(methods, str) or not isinstance(methods, (list, tuple)):
        raise TypeError(
            "`methods` must be None, a list of method names or a dict {display name: router}; "
            f"got {type(methods).__name__}."
        )
    if not methods:
        raise ValueError("`methods` must name at least one method; got an empty list.")
    unknown = [name for name in methods if name not in _REGISTRY]
    if unknown:
        raise ValueError(
            f"`methods` must be names from {list(PROTOCOL_METHODS)}; got unknown {unknown!r}."
        )
    duplicated = sorted({name for name in methods if methods.count(name) > 1})
    if duplicated:
        raise ValueError(f"`methods` must not repeat a name; got {duplicated!r} twice.")
    return {name: _REGISTRY[name]() for name in methods}


def _seeded_clone(router: Any, seed: int) -> Any:
    """Return an unfitted copy of ``router``, with ``random_state=seed`` if it has one."""
    router = clone(router, safe=False)  # deep copy for objects without get_params
    if hasattr(router, "get_params") and "random_state" in router.get_params(deep=False):
        router.set_params(random_state=seed)
    return router


def _check_extra_metrics(extra_metrics: Any) -> dict[str, Callable[..., Any]]:
    """Validate ``extra_metrics`` and return it as a plain dict (empty for None)."""
    if extra_metrics is None:
        return {}
    if not isinstance(extra_metrics, Mapping):
        raise TypeError(
            "`extra_metrics` must be None or a dict {column name: metric(router, split, "
            f"predicted)}}; got {type(extra_metrics).__name__}."
        )
    checked = {}
    for name, metric in extra_metrics.items():
        if not isinstance(name, str):
            raise TypeError(
                f"`extra_metrics` keys must be column names (str); got {type(name).__name__}."
            )
        if name in _METRIC_COLUMNS:
            raise ValueError(
                f"`extra_metrics` keys must not be a standard column of `metrics` "
                f"{list(_METRIC_COLUMNS)}; got {name!r}."
            )
        if not callable(metric):
            raise TypeError(
                f"`extra_metrics[{name!r}]` must be a callable metric(router, split, predicted); "
                f"got {type(metric).__name__}."
            )
        checked[name] = metric
    return checked


def _extra_value(name: str, metric: Callable[..., Any], router: Any, split: Any, predicted: Any):
    """Call one extra metric and return its value as a float."""
    value = metric(router, split, predicted)
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(
            f"`extra_metrics[{name!r}]` must return a real number; got {type(value).__name__}."
        )
    return float(value)


def _run_split(
    dataset: RoutingDataset,
    split_id: int,
    seed: int,
    *,
    methods: dict[str, _Method],
    n_test: int,
    n_gold: int,
    ratios: np.ndarray,
    normalizer: float | None,
    stop_at_nonpositive: bool,
    gold_from: Any = None,
    extra_metrics: Mapping[str, Callable[..., Any]] | None = None,
) -> tuple[list[pd.DataFrame], list[dict[str, Any]], list[dict[str, Any]]]:
    """Fit and score every method on split ``split_id``; everything random follows ``seed``.

    Warnings raised while a router is fitted or predicts are recorded (under the active
    warning filters) instead of shown, and returned as rows.
    """
    split = dataset.split(n_test=n_test, n_gold=n_gold, random_state=seed, gold_from=gold_from)
    test_total = float(np.sum(split.gain_test))
    extra_metrics = extra_metrics or {}
    curves: list[pd.DataFrame] = []
    metrics: list[dict[str, Any]] = []
    caught_rows: list[dict[str, Any]] = []
    for name, method in methods.items():
        router = _seeded_clone(method.router, seed)
        y = split.gold_gain_train if method.labels == "gold" else split.y_train
        try:
            with warnings.catch_warnings(record=True) as caught:
                start = time.perf_counter()
                router.fit(split.X_train, y, gold=split.gold_train)
                fit_seconds = time.perf_counter() - start
                predicted = router.predict(split.X_test)
            curve = efficiency_gain_curve(
                split.gain_test,
                predicted,
                ratios=ratios,
                normalizer=normalizer,
                stop_at_nonpositive=stop_at_nonpositive,
            )
            if test_total > 0:
                routellm = routellm_metrics(split.gain_test, predicted)
            else:  # only reachable with an explicit normaliser
                routellm = dict.fromkeys(_ROUTELLM_KEYS, math.nan)
            extra = {
                key: _extra_value(key, metric, router, split, predicted)
                for key, metric in extra_metrics.items()
            }
        except (ValueError, TypeError) as exc:
            raise type(exc)(f"method {name!r} on split {split_id} (seed {seed}): {exc}") from exc
        curves.append(
            pd.DataFrame(
                {"split": split_id, "method": name, "ratio": curve.ratios, "gain": curve.gains}
            )
        )
        metrics.append(
            {
                "split": split_id,
                "seed": seed,
                "method": name,
                "auc": curve.auc,
                "peak": curve.peak,
                "peak_ratio": curve.peak_ratio,
                **routellm,
                "fit_seconds": fit_seconds,
                "n_warnings": len(caught),
                **extra,
            }
        )
        caught_rows.extend(
            {
                "split": split_id,
                "method": name,
                "category": record.category.__name__,
                "message": str(record.message),
            }
            for record in caught
        )
    return curves, metrics, caught_rows


def _describe_gold_from(gold_from: Any) -> str | None:
    """A short, address-free description of ``gold_from`` for ``settings``."""
    if gold_from is None:
        return None
    if callable(gold_from):
        return f"callable {getattr(gold_from, '__qualname__', type(gold_from).__name__)}"
    mask = np.asarray(gold_from)
    return f"mask: {int(np.count_nonzero(mask))} of {mask.size} rows eligible"


def _warning_table(rows: list[dict[str, Any]], order: list[str]) -> pd.DataFrame:
    """Count recorded warnings per method and category, with one example message."""
    columns = ["method", "category", "count", "n_splits", "example"]
    if not rows:
        dtypes = {"count": np.int64, "n_splits": np.int64}
        return pd.DataFrame({c: pd.Series(dtype=dtypes.get(c, object)) for c in columns})
    raw = pd.DataFrame.from_records(rows)
    raw["method"] = pd.Categorical(raw["method"], categories=order, ordered=True)
    table = (
        raw.groupby(["method", "category"], observed=True, sort=True)
        .agg(
            count=("message", "size"),
            n_splits=("split", "nunique"),
            example=("message", "first"),
        )
        .reset_index()
    )
    table["method"] = table["method"].astype(str)
    return table[columns]


def run_protocol(
    dataset: RoutingDataset,
    *,
    methods: list[str] | tuple[str, ...] | Mapping[str, Any] | None = None,
    n_test: int = 500,
    n_gold: int = 100,
    n_splits: int = 200,
    gold_from: Any = None,
    ratios: ArrayLike | None = None,
    normalizer: float | str | None = None,
    stop_at_nonpositive: bool = False,
    extra_metrics: Mapping[str, Callable[..., Any]] | None = None,
    n_jobs: int | None = None,
    use_ray: bool = False,
    random_state: Any = None,
    verbose: int = 1,
) -> ProtocolResult:
    """Run the Meta-Router paper's evaluation protocol over many random splits.

    For each of ``n_splits`` splits ``dataset.split(n_test=n_test, n_gold=n_gold,
    random_state=seed_s, gold_from=gold_from)`` draws ``n_test`` test rows, ``n_gold`` GS
    training rows and makes all other rows PB training rows. Every method is cloned, given
    ``random_state=seed_s`` (when it has that parameter), fitted on the training rows and
    scored on the test rows by :func:`~metarouter_econml.evaluation.efficiency_gain_curve`
    (with ``ratios``, ``normalizer`` and ``stop_at_nonpositive``) and
    :func:`~metarouter_econml.evaluation.routellm_metrics` (and any ``extra_metrics``).

    The seeds ``seed_0, ..., seed_{n_splits-1}`` are drawn once, up front, from
    ``check_random_state(random_state)``, and are stored in ``result.settings["seeds"]`` and
    the ``seed`` column of ``result.metrics``. Split ``s`` is therefore reproducible on its
    own (``dataset.split(..., random_state=seed_s)`` and a router with
    ``random_state=seed_s``), and results do not depend on ``n_jobs`` or ``use_ray``.

    Parameters
    ----------
    dataset : RoutingDataset
        Queries with a GS gain and a PB label for every row.
    methods : list of str or dict, optional
        Which routers to compare. A list of names from :data:`PROTOCOL_METHODS` (also used as
        display names):

        - ``"meta_r"``, ``"meta_dr"``, ``"meta_auto"``: :class:`~metarouter_econml.MetaRouter`
          with ``learner="r"``, ``"dr"`` and ``"auto"``;
        - ``"pooled"``, ``"mean_shift"``, ``"preference_only"``, ``"gold_only"``: the
          baselines :class:`~metarouter_econml.PooledRouter`, ``MeanShiftRouter``,
          ``PreferenceOnlyRouter`` and ``GoldOnlyRouter``;
        - ``"all_gold"``: the oracle, ``PooledRouter(gold_scale="none")`` fitted on the GS
          gain of every training row (``split.gold_gain_train``);
        - ``"random"``: random routing, predictions drawn uniformly from a per-split
          generator (its curve is 0 in expectation).

        Or a dict ``{display name: unfitted router or registry name}``: routers are any objects
        with ``fit(X, y, gold=...)`` and ``predict(X)`` (user routers too), cloned for every
        split and fitted on the observed labels ``split.y_train`` (picklable when
        ``n_jobs != 1``); a registry name (e.g. ``{"all-gold (oracle)": "all_gold"}``) runs that
        method under the display name. None (default) runs every registry method except
        ``"meta_auto"``, which refits four candidate routers in every cross-validation fold.
    n_test : int, default=500
        Test rows per split.
    n_gold : int, default=100
        GS training rows per split.
    n_splits : int, default=200
        Number of random splits (the paper's value).
    gold_from : array-like of bool, callable or None, default=None
        Which rows may become GS training rows, passed to
        :meth:`~metarouter_econml.datasets.RoutingDataset.split` (e.g. ``lambda X: X["pc6"] <
        0`` to simulate a positivity violation; picklable when ``n_jobs != 1``). None: any
        non-test row, the paper's protocol. The test rows of split ``s`` do not depend on it.
    ratios : array-like, optional
        Shares of test queries sent to the primary; defaults to the paper's 61 points in
        ``[0.2, 0.8]``.
    normalizer : float, "split" or None, default=None
        Divisor of the efficiency gains. None is the paper's choice and the library's
        convention (argued in the Notes of
        :func:`~metarouter_econml.evaluation.efficiency_gain_curve`): the mean GS gain of the
        whole dataset times ``n_test`` (the expected gain of sending every test query to the
        primary), one number for all splits, which must be > 0. ``"split"`` divides by each
        split's own total test GS gain (the default of
        :func:`~metarouter_econml.evaluation.efficiency_gain_curve`): noisier, not comparable
        with the default's numbers, and it fails when a small test set happens to have a total
        <= 0. A positive number is used as given.
    stop_at_nonpositive : bool, default=False
        Stop each curve (NaN) where the router's predictions turn non-positive, as in the
        paper's figure.
    extra_metrics : dict of str to callable, optional
        More per-split scores, as ``{column name: metric}``: ``metric(router, split,
        predicted)`` gets the fitted router, the :class:`~metarouter_econml.datasets.RoutingSplit`
        and the router's predictions on ``split.X_test``, and returns a real number, recorded
        in that column of ``result.metrics`` (after the standard columns). For example the rank
        correlation with a known truth, ``lambda router, split, predicted:
        scipy.stats.spearmanr(predicted, split.psi_test)[0]``. Picklable when ``n_jobs != 1``
        (joblib's and Ray's pickling handle lambdas). Warnings they raise are not recorded.
    n_jobs : int, optional
        Splits run in parallel with joblib (``None`` means 1 unless inside a
        ``joblib.parallel_config`` context; ``-1`` all cores). Warnings are recorded per
        worker, so use a process-based backend (joblib's default), not threads.
    use_ray : bool, default=False
        Run the splits as Ray tasks instead (one task per split; needs the ``[ray]`` extra).
        A local Ray instance is started when none is running; call ``ray.init(address=...)``
        first to use a cluster, whose workers need ``metarouter-econml`` installed (e.g. through
        a ``runtime_env``). The dataset is sent to Ray's object store once. ``n_jobs`` must then
        be None: Ray's resources decide the parallelism.
    random_state : int, numpy.random.RandomState or None, default=None
        Seed of the per-split seeds.
    verbose : int, default=1
        ``0`` is silent; otherwise a tqdm progress bar over splits is shown on stderr when
        stderr is a terminal.

    Returns
    -------
    ProtocolResult
        Per-split curves and metrics, recorded warnings and the settings.

    Raises
    ------
    TypeError
        If ``dataset`` is not a :class:`~metarouter_econml.datasets.RoutingDataset`, or an
        argument has the wrong type.
    ValueError
        If a method name is unknown, a count is too small (``n_splits < 1``, ``n_gold < 2``,
        ...), the sizes leave fewer than 2 PB rows, or ``ratios``/``normalizer`` are invalid.
        Errors raised while fitting or scoring a method name the method and the split.

    Notes
    -----
    Warnings raised while a router fits or predicts (e.g. extreme propensities) are recorded
    inside each split with ``warnings.catch_warnings(record=True)`` under the active filters,
    not shown; ``result.fit_warnings`` counts them per method and category and
    ``result.metrics["n_warnings"]`` per split.

    Examples
    --------
    >>> from metarouter_econml.datasets import make_routing_data
    >>> from metarouter_econml.evaluation import run_protocol
    >>> data = make_routing_data(600, 6, random_state=0)
    >>> result = run_protocol(data, methods=["gold_only", "all_gold", "random"], n_test=150,
    ...                       n_gold=40, n_splits=2, random_state=0, verbose=0)
    >>> result.metrics[["split", "method"]].values.tolist()  # doctest: +NORMALIZE_WHITESPACE
    [[0, 'gold_only'], [0, 'all_gold'], [0, 'random'],
     [1, 'gold_only'], [1, 'all_gold'], [1, 'random']]
    >>> list(result.summary(reference="random")["method"])
    ['gold_only', 'all_gold', 'random']
    """
    from joblib import Parallel, delayed
    from tqdm.auto import tqdm

    if not isinstance(dataset, RoutingDataset):
        raise TypeError(f"`dataset` must be a RoutingDataset; got {type(dataset).__name__}.")
    resolved = _resolve_methods(methods)
    n_splits = _N_SPLITS.check(n_splits, "n_splits")
    rng = check_random_state(random_state)
    seeds = [int(s) for s in rng.randint(np.iinfo(np.int32).max, size=n_splits)]
    # Check the sizes (and `gold_from`) here, once, rather than in every worker.
    dataset.split(n_test=n_test, n_gold=n_gold, random_state=seeds[0], gold_from=gold_from)
    rho = _check_ratios(ratios)
    normalizer = _PROTOCOL_NORMALIZER.check(normalizer, "normalizer")
    split_normalizer: float | None
    if normalizer is None:
        split_normalizer = float(np.mean(dataset.gold_gain)) * n_test
        if not split_normalizer > 0:
            raise ValueError(
                "The default `normalizer` is the mean gold-standard gain of the dataset times "
                f"`n_test`, which must be > 0; got {split_normalizer!r}. Pass a positive number."
            )
    elif normalizer == "split":
        split_normalizer = None
    else:
        split_normalizer = float(normalizer)
    stop = Bool().check(stop_at_nonpositive, "stop_at_nonpositive")
    extra = _check_extra_metrics(extra_metrics)
    n_jobs = check_n_jobs(n_jobs)
    use_ray = Bool().check(use_ray, "use_ray")
    if use_ray and n_jobs is not None:
        raise ValueError(
            "`n_jobs` must be None with `use_ray=True` (Ray decides the parallelism); "
            f"got {n_jobs!r}."
        )
    verbose = _VERBOSE.check(verbose, "verbose")

    split_kwargs = {
        "n_test": n_test,
        "n_gold": n_gold,
        "ratios": rho,
        "normalizer": split_normalizer,
        "stop_at_nonpositive": stop,
        "gold_from": gold_from,
        "extra_metrics": extra,
    }
    if use_ray:
        outputs = ordered_ray_results(
            _run_split,
            (dataset,),
            list(enumerate(seeds)),
            {"methods": resolved, **split_kwargs},
            feature="run_protocol(use_ray=True)",
        )
    else:
        tasks = (
            delayed(_run_split)(dataset, s, seed, methods=resolved, **split_kwargs)
            for s, seed in enumerate(seeds)
        )
        outputs = Parallel(n_jobs=n_jobs, return_as="generator")(tasks)
    curve_frames: list[pd.DataFrame] = []
    metric_rows: list[dict[str, Any]] = []
    warning_rows: list[dict[str, Any]] = []
    # disable=None: tqdm shows the bar only when stderr is a terminal.
    with tqdm(
        total=n_splits,
        desc="splits",
        unit="split",
        file=sys.stderr,
        disable=None if verbose else True,
    ) as bar:
        for curves, metrics, caught in outputs:
            curve_frames.extend(curves)
            metric_rows.extend(metrics)
            warning_rows.extend(caught)
            bar.update()

    names = list(resolved)
    curves_frame = pd.concat(curve_frames, ignore_index=True)
    curves_frame["ratio"] = curves_frame["ratio"].round(10)  # 0.4000000000000001 -> 0.4
    settings = {
        "dataset": dataset.name,
        "n_samples": len(dataset),
        "n_features": dataset.n_features,
        "methods": names,
        "routers": {name: repr(method.router) for name, method in resolved.items()},
        "oracle_methods": [name for name, m in resolved.items() if m.labels == "gold"],
        "n_test": n_test,
        "n_gold": n_gold,
        "n_splits": n_splits,
        "gold_from": _describe_gold_from(gold_from),
        "random_state": random_state
        if random_state is None or isinstance(random_state, int)
        else repr(random_state),
        "seeds": seeds,
        "ratios": [round(float(r), 10) for r in rho],  # as in `curves`
        "normalizer": "split" if split_normalizer is None else split_normalizer,
        "stop_at_nonpositive": stop,
        "extra_metrics": list(extra),
        "n_jobs": n_jobs,
        "use_ray": bool(use_ray),
    }
    return ProtocolResult(
        curves=curves_frame,
        metrics=pd.DataFrame.from_records(metric_rows),
        fit_warnings=_warning_table(warning_rows, names),
        settings=settings,
    )


def _fmt(value: float, digits: int) -> str:
    return "–" if value is None or not np.isfinite(value) else f"{value:.{digits}f}"


@dataclass(frozen=True, eq=False)
class ProtocolResult:
    """Results of :func:`run_protocol`: per-split curves and metrics, and how they were made.

    ``str(result)`` and :meth:`to_markdown` give the summary as text; in a notebook, a cell
    ending with the result shows the same table as HTML.

    Parameters
    ----------
    curves : pandas.DataFrame
        Tidy efficiency-gain curves, columns ``split``, ``method``, ``ratio``, ``gain``.
    metrics : pandas.DataFrame
        One row per split and method: ``split``, ``seed``, ``method``, ``auc``, ``peak``,
        ``peak_ratio`` (of that split's curve), ``apgr``, ``cpt50``, ``cpt80`` (RouteLLM's
        metrics), ``fit_seconds`` and ``n_warnings`` (warnings recorded while fitting), then one
        column per ``extra_metrics`` entry.
    fit_warnings : pandas.DataFrame
        Recorded warnings per method and category: ``count``, ``n_splits`` (splits with at
        least one) and an ``example`` message.
    settings : dict
        Dataset name and size, methods and their routers, ``n_test``, ``n_gold``,
        ``n_splits``, ``gold_from`` (None, or a short description), ``random_state``, the
        per-split ``seeds``, ``ratios``, ``normalizer`` (the number used, or ``"split"`` for
        each split's total test gain), ``stop_at_nonpositive``, the ``extra_metrics`` names,
        ``n_jobs`` and ``use_ray``.
    """

    curves: pd.DataFrame
    metrics: pd.DataFrame
    fit_warnings: pd.DataFrame
    settings: dict[str, Any]

    @property
    def methods(self) -> list[str]:
        """Display names of the methods, in the order they were run."""
        return [str(name) for name in pd.unique(self.metrics["method"])]

    @property
    def n_splits(self) -> int:
        """Number of splits."""
        return int(self.metrics["split"].nunique())

    def _default_reference(self) -> str | None:
        methods = self.methods
        return "pooled" if "pooled" in methods else (methods[0] if methods else None)

    def _check_methods(self, names: Any, argument: str) -> list[str]:
        known = self.methods
        unknown = [name for name in names if name not in known]
        if unknown:
            raise ValueError(
                f"`{argument}` must be among the methods run {known}; got {unknown!r}."
            )
        return list(names)

    # -- tables ------------------------------------------------------------------------------------

    def mean_curves(self, *, level: float = 0.95, band: str = "quantile") -> pd.DataFrame:
        """Mean efficiency-gain curve of each method over splits, with a band.

        Parameters
        ----------
        level : float, default=0.95
            Coverage of the band.
        band : {"quantile", "mean"}, default="quantile"
            ``"quantile"``: the central ``level`` quantile range of the per-split gains (how
            much one split varies); ``"mean"``: a t-interval for the mean curve.

        Returns
        -------
        pandas.DataFrame
            Columns ``method``, ``ratio``, ``mean``, ``lower``, ``upper``, ``n_splits`` (splits
            whose curve is defined at that ratio; stopped curves are NaN beyond their end and
            left out of the mean there).
        """
        level = _LEVEL.check(level, "level")
        band = _BAND.check(band, "band")
        alpha = 1 - level
        curves = self.curves.copy()
        curves["method"] = pd.Categorical(curves["method"], categories=self.methods, ordered=True)
        grouped = curves.groupby(["method", "ratio"], observed=True, sort=True)["gain"]
        table = grouped.agg(mean="mean", sd="std", n_splits="count")
        if band == "quantile":
            table["lower"] = grouped.quantile(alpha / 2)
            table["upper"] = grouped.quantile(1 - alpha / 2)
        else:
            n = table["n_splits"].to_numpy()
            with np.errstate(divide="ignore", invalid="ignore"):
                half = stats.t.ppf(1 - alpha / 2, n - 1) * table["sd"].to_numpy() / np.sqrt(n)
            table["lower"] = table["mean"] - half
            table["upper"] = table["mean"] + half
        table = table.reset_index()
        table["method"] = table["method"].astype(str)
        return table[["method", "ratio", "mean", "lower", "upper", "n_splits"]]

    def summary(self, reference: str | None = "pooled", level: float = 0.95) -> pd.DataFrame:
        """One row per method: AUC with its uncertainty, peak, RouteLLM metrics, paired difference.

        Parameters
        ----------
        reference : str or None, default="pooled"
            Method the others are compared with (RouteLLM-style pooling by default); None
            leaves the comparison columns NaN.
        level : float, default=0.95
            Coverage of the AUC band and of the paired interval.

        Returns
        -------
        pandas.DataFrame
            In run order, columns:

            - ``method``, ``n_splits`` (splits with a finite AUC);
            - ``auc``: mean over splits of each split's AUC (mean gain over the ratio range),
              ``auc_se`` its standard error, ``auc_low``/``auc_high`` the central ``level``
              quantile range of the per-split AUCs (e.g. 2.5% and 97.5%);
            - ``peak``, ``peak_ratio``: the maximum of the *mean* curve (as read off the
              paper's figure) and where it is reached;
            - ``apgr``, ``cpt50``, ``cpt80``: means over splits of RouteLLM's metrics (splits
              whose test gains do not sum to > 0 have none and are left out). They are
              relative to each split's own total gain, so on small test sets they are
              heavy-tailed; compare medians from ``metrics`` if a few splits dominate;
            - ``diff_auc``: mean over splits of ``auc(method) - auc(reference)`` on the same
              split, with a paired t-interval ``diff_low``/``diff_high`` (Student t with
              ``n - 1`` degrees of freedom over the per-split differences; NaN with one split);
              an interval above 0 says the method beats the reference on these data;
            - ``fit_seconds``: mean fit time.

        Raises
        ------
        ValueError
            If ``reference`` was not run or ``level`` is not in (0, 1).
        """
        level = _LEVEL.check(level, "level")
        if reference is not None:
            self._check_methods([reference], "reference")
        alpha = 1 - level
        peaks = self.mean_curves(level=level)
        auc = self.metrics.pivot(index="split", columns="method", values="auc")
        rows = []
        for name in self.methods:
            values = auc[name].to_numpy(dtype=float)
            finite = values[np.isfinite(values)]
            n = finite.size
            part = self.metrics[self.metrics["method"] == name]
            curve = peaks[peaks["method"] == name]
            means = curve["mean"].to_numpy(dtype=float)
            has_peak = bool(np.isfinite(means).any())
            i = int(np.nanargmax(means)) if has_peak else 0
            row: dict[str, Any] = {
                "method": name,
                "n_splits": n,
                "auc": float(finite.mean()) if n else math.nan,
                "auc_se": float(finite.std(ddof=1) / math.sqrt(n)) if n > 1 else math.nan,
                "auc_low": float(np.quantile(finite, alpha / 2)) if n else math.nan,
                "auc_high": float(np.quantile(finite, 1 - alpha / 2)) if n else math.nan,
                "peak": float(means[i]) if has_peak else math.nan,
                "peak_ratio": float(curve["ratio"].iloc[i]) if has_peak else math.nan,
            }
            for key in _ROUTELLM_KEYS:
                row[key] = float(part[key].mean())
            row.update(dict.fromkeys(("diff_auc", "diff_low", "diff_high"), math.nan))
            if reference is not None:
                diffs = values - auc[reference].to_numpy(dtype=float)
                diffs = diffs[np.isfinite(diffs)]
                if diffs.size:
                    row["diff_auc"] = float(diffs.mean())
                if diffs.size > 1:
                    half = stats.t.ppf(1 - alpha / 2, diffs.size - 1) * (
                        diffs.std(ddof=1) / math.sqrt(diffs.size)
                    )
                    row["diff_low"] = row["diff_auc"] - float(half)
                    row["diff_high"] = row["diff_auc"] + float(half)
            row["fit_seconds"] = float(part["fit_seconds"].mean())
            rows.append(row)
        return pd.DataFrame.from_records(rows)

    def _shown(self, reference: str | None, level: float, digits: int) -> pd.DataFrame:
        """The summary as formatted text columns, as :meth:`to_markdown` shows it."""
        digits = _DIGITS.check(digits, "digits")
        summary = self.summary(reference=reference, level=level)
        pct = f"{100 * level:g}%"

        def f(value: float) -> str:
            return _fmt(value, digits)

        shown = pd.DataFrame({"method": summary["method"]})
        shown["AUC ± SE"] = [
            f(a) if not np.isfinite(se) else f"{f(a)} ± {f(se)}"
            for a, se in zip(summary["auc"], summary["auc_se"], strict=True)
        ]
        shown[f"AUC {pct} band"] = [
            f"[{f(lo)}, {f(hi)}]"
            for lo, hi in zip(summary["auc_low"], summary["auc_high"], strict=True)
        ]
        shown["peak (ratio)"] = [
            f"{f(p)} ({_fmt(r, 2)})"
            for p, r in zip(summary["peak"], summary["peak_ratio"], strict=True)
        ]
        shown["APGR"] = summary["apgr"].map(f)
        shown["CPT(50%)"] = summary["cpt50"].map(f)
        shown["CPT(80%)"] = summary["cpt80"].map(f)
        if reference is not None:
            shown[f"ΔAUC vs {reference} [{pct} CI]"] = [
                "(reference)" if name == reference else f"{f(d)} [{f(lo)}, {f(hi)}]"
                for name, d, lo, hi in zip(
                    summary["method"],
                    summary["diff_auc"],
                    summary["diff_low"],
                    summary["diff_high"],
                    strict=True,
                )
            ]
        shown["fit (s)"] = summary["fit_seconds"].map("{:.2f}".format)
        shown["splits"] = summary["n_splits"].astype(str)
        return shown

    def _warning_lines(self) -> list[str]:
        """One line per method and category of recorded warnings."""
        return [
            f"{row.method}: {row.category} x{row.count} in {row.n_splits} split(s), e.g. "
            f'"{" ".join(str(row.example).split())[:160]}"'
            for row in self.fit_warnings.itertuples(index=False)
        ]

    def to_markdown(
        self, reference: str | None = "pooled", level: float = 0.95, *, digits: int = 3
    ) -> str:
        """Render the summary as a markdown table, followed by the recorded warnings if any.

        Parameters
        ----------
        reference : str or None, default="pooled"
            Method the AUC differences are computed against (see :meth:`summary`).
        level : float, default=0.95
            Coverage of the band and intervals.
        digits : int, default=3
            Decimals shown.

        Returns
        -------
        str
            Markdown text; one table row per method.
        """
        text = markdown_table(self._shown(reference, level, digits))
        lines = self._warning_lines()
        if lines:
            text += "\n\nWarnings recorded while fitting:\n\n" + "\n".join(
                f"- {line}" for line in lines
            )
        return text

    def _repr_html_(self) -> str:
        """The header and the summary table as HTML, shown by Jupyter for a result cell.

        The table is :meth:`to_markdown`'s (same columns and numbers), compared with
        ``"pooled"`` when it was run (else with the first method), followed by the recorded
        warnings.
        """
        shown = self._shown(self._default_reference(), 0.95, 3)
        parts = [
            f"<p><strong>{html.escape(self._header())}</strong></p>",
            shown.to_html(index=False, escape=True, border=0),
        ]
        lines = self._warning_lines()
        if lines:
            items = "".join(f"<li>{html.escape(line)}</li>" for line in lines)
            parts.append(f"<p>Warnings recorded while fitting:</p><ul>{items}</ul>")
        return "\n".join(parts)

    # -- plot --------------------------------------------------------------------------------------

    def plot(
        self,
        ax: Axes | None = None,
        *,
        band: bool = True,
        methods: list[str] | None = None,
        level: float = 0.95,
    ) -> Axes:
        """Mean efficiency gain against the share of queries sent to the primary (paper's Figure 1).

        Parameters
        ----------
        ax : matplotlib.axes.Axes, optional
            Axes to draw on; a new figure is created if None.
        band : bool, default=True
            Shade the central ``level`` quantile range of the per-split curves.
        methods : list of str, optional
            Methods to draw, in this order; all by default.
        level : float, default=0.95
            Coverage of the band.

        Returns
        -------
        matplotlib.axes.Axes
            The axes drawn on.
        """
        band = Bool().check(band, "band")
        level = _LEVEL.check(level, "level")
        names = self.methods if methods is None else self._check_methods(methods, "methods")
        title = f"mean over {self.n_splits} splits"
        if band:
            title += f"; bands: central {100 * level:g}% of splits"
        return plot_mean_curves(
            self.mean_curves(level=level),
            names,
            oracles=set(self.settings.get("oracle_methods", [])),
            ax=ax,
            band=band,
            title=title,
        )

    # -- text --------------------------------------------------------------------------------------

    def _header(self) -> str:
        s = self.settings
        return (
            f"ProtocolResult: dataset {s.get('dataset', '?')!r}, {self.n_splits} splits "
            f"(n_test={s.get('n_test', '?')}, n_gold={s.get('n_gold', '?')}, "
            f"random_state={s.get('random_state', '?')})"
        )

    def __str__(self) -> str:
        return f"{self._header()}\n\n{self.to_markdown(reference=self._default_reference())}"

    def __repr__(self) -> str:
        return f"ProtocolResult(n_splits={self.n_splits}, methods={self.methods!r})"
