"""Gold coverage among many models: positivity per model and per pair, before any fit."""

from __future__ import annotations

import pandas as pd

from .._comparisons import GoldCoverage, check_comparisons, model_names, to_pairs
from .._comparisons import gold_coverage as _count

__all__ = ["gold_coverage"]


def gold_coverage(comparisons: pd.DataFrame, *, reference: str | None = None) -> GoldCoverage:
    """Count gold-standard and preference-based comparisons per model and per pair.

    The multi-model counterpart of :func:`assess_overlap`: the judge's bias on a model (a pair)
    can be estimated only where gold labels of it exist. A model or pair with no or few gold
    comparisons leaves :class:`~metarouter_econml.MultiMetaRouter` with little to correct the
    judge by: its penalised estimate then shrinks toward no correction, and the judge's labels
    of that model are taken nearly as they are. ``MultiMetaRouter.fit`` warns about such models
    (``min_gold``) and keeps
    the same table in ``coverage_``.

    Parameters
    ----------
    comparisons : DataFrame
        The long table of :meth:`MultiMetaRouter.fit` (``query``, ``model``, ``opponent``,
        ``label``, ``gold``; optional ``source``).
    reference : str, optional
        Only for pointwise grades, which are counted as comparisons against the reference
        (default: the first model in name order), as the router pairs them.

    Returns
    -------
    GoldCoverage
        ``per_model`` (``gold_labels``, ``gold_queries``, ``preference_labels``,
        ``preference_queries``), ``per_pair`` (``gold_labels``, ``preference_labels``),
        ``thin_models(minimum)``, ``thin_pairs(minimum)``, ``to_markdown()``.

    Examples
    --------
    >>> from metarouter_econml.datasets import make_multi_routing_data
    >>> from metarouter_econml.diagnostics import gold_coverage
    >>> data = make_multi_routing_data(n_queries=300, n_models=3, few_gold_models=["m2"],
    ...                                random_state=0)
    >>> split = data.split(n_test=50, n_gold=60, random_state=0)
    >>> coverage = gold_coverage(split.comparisons_train)
    >>> coverage.thin_models(10)
    ['m2']
    """
    n_queries = int(comparisons["query"].max()) + 1 if "query" in comparisons else 0
    table, kind = check_comparisons(comparisons, max(n_queries, 1), both_sources=False)
    models = model_names(table)
    reference = models[0] if reference is None else reference
    if reference not in models:
        raise ValueError(f"`reference` must be one of {list(models)}; got {reference!r}.")
    return _count(to_pairs(table, kind, models, reference))
