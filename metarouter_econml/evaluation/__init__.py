"""Evaluating cost-aware routers: efficiency-gain curves, the paper's protocol, gold-aware scoring.

A router ranks queries by the predicted gold-standard (GS) gain of the primary model over the
alternative. This package scores that ranking on held-out GS labels:

- :func:`efficiency_gain_curve` (the Meta-Router paper's metric, Zhang et al.,
  arXiv:2509.25535) and :func:`routellm_metrics` (RouteLLM's APGR and CPT) score one set of
  test queries;
- :func:`run_protocol` repeats the paper's evaluation over many random splits of a
  :class:`~metarouter_econml.datasets.RoutingDataset` and returns a :class:`ProtocolResult`;
- :func:`make_gold_scorer` builds a scikit-learn scorer that scores on the GS rows only, for
  ``cross_val_score`` and ``GridSearchCV`` with metadata routing;
- for routers choosing among several models, :func:`cost_quality_curve` sweeps the cost weight
  exactly and returns a :class:`CostQualityCurve` (mean cost and true quality of every routing,
  its hull, RouterBench's :func:`aiq`), compared with :func:`fixed_mix_curve` (random routing
  in fixed proportions) and :func:`oracle_curve` by :func:`oracle_share`, and drawn by
  :func:`plot_frontier`; :func:`run_multi_protocol` repeats that over many splits of a
  :class:`~metarouter_econml.datasets.MultiRoutingDataset` for every multi-model method and
  returns a :class:`MultiProtocolResult`.

Efficiency gains follow one convention everywhere: they are divided by the mean GS gain of the
whole data set times the number of queries scored (the paper's constant); see the Notes of
:func:`efficiency_gain_curve`.

The work lives in private modules, each importing only those before it: ``_plotting`` (drawing),
``_curves`` (the metrics and their input checks), then ``_scoring`` (the scorer) and
``_protocol`` (the repeated splits, which fit routers); the last two do not import each other.
``_frontier`` (the multi-model cost-quality curves) imports only ``_plotting``;
``_multi_protocol`` (the multi-model splits, which fit routers) imports ``_frontier``.
"""

from .._compat import warning_filters_kept

with warning_filters_kept():  # dependencies' first imports add process-wide filters; undo them
    from ._curves import EfficiencyGainCurve, efficiency_gain_curve, routellm_metrics
    from ._frontier import (
        CostQualityCurve,
        aiq,
        cost_quality_curve,
        fixed_mix_curve,
        oracle_curve,
        oracle_share,
        plot_frontier,
    )
    from ._multi_protocol import (
        MULTI_PROTOCOL_METHODS,
        MultiProtocolResult,
        pairwise_accuracy,
        run_multi_protocol,
    )
    from ._protocol import PROTOCOL_METHODS, ProtocolResult, run_protocol
    from ._scoring import GOLD_SCORER_METRICS, make_gold_scorer

__all__ = [
    "GOLD_SCORER_METRICS",
    "MULTI_PROTOCOL_METHODS",
    "PROTOCOL_METHODS",
    "CostQualityCurve",
    "EfficiencyGainCurve",
    "MultiProtocolResult",
    "ProtocolResult",
    "aiq",
    "cost_quality_curve",
    "efficiency_gain_curve",
    "fixed_mix_curve",
    "make_gold_scorer",
    "oracle_curve",
    "oracle_share",
    "pairwise_accuracy",
    "plot_frontier",
    "routellm_metrics",
    "run_multi_protocol",
    "run_protocol",
]
