"""Evaluating cost-aware routers: efficiency-gain curves, the paper's protocol, gold-aware scoring.

A router ranks queries by the predicted gold-standard (GS) gain of the primary model over the
alternative. This package scores that ranking on held-out GS labels:

- :func:`efficiency_gain_curve` (the Meta-Router paper's metric, Zhang et al.,
  arXiv:2509.25535) and :func:`routellm_metrics` (RouteLLM's APGR and CPT) score one set of
  test queries;
- :func:`run_protocol` repeats the paper's evaluation over many random splits of a
  :class:`~metarouter_econml.datasets.RoutingDataset` and returns a :class:`ProtocolResult`;
- :func:`make_gold_scorer` builds a scikit-learn scorer that scores on the GS rows only, for
  ``cross_val_score`` and ``GridSearchCV`` with metadata routing.

Efficiency gains follow one convention everywhere: they are divided by the mean GS gain of the
whole data set times the number of queries scored (the paper's constant); see the Notes of
:func:`efficiency_gain_curve`.

The work lives in private modules, each importing only those before it: ``_plotting`` (drawing),
``_curves`` (the metrics and their input checks), then ``_scoring`` (the scorer) and
``_protocol`` (the repeated splits, which fit routers); the last two do not import each other.
"""

from .._compat import warning_filters_kept

with warning_filters_kept():  # dependencies' first imports add process-wide filters; undo them
    from ._curves import EfficiencyGainCurve, efficiency_gain_curve, routellm_metrics
    from ._protocol import PROTOCOL_METHODS, ProtocolResult, run_protocol
    from ._scoring import GOLD_SCORER_METRICS, make_gold_scorer

__all__ = [
    "GOLD_SCORER_METRICS",
    "PROTOCOL_METHODS",
    "EfficiencyGainCurve",
    "ProtocolResult",
    "efficiency_gain_curve",
    "make_gold_scorer",
    "routellm_metrics",
    "run_protocol",
]
