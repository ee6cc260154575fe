"""Which queries deserve a gold label: active selection of gold-standard queries.

Gold-standard labels are the Meta-Router's scarce input; the paper leaves open which queries
should get them (Zhang et al., arXiv 2509.25535, Appendix A.4). This package chooses them from
the router's own uncertainty:

- :func:`select_gold_queries` scores the queries that have only preference labels by a
  strategy (``"random"``, ``"bias"``, ``"decision"``, ``"overlap"``, ``"auto"``) and draws the
  next batch with known inclusion probabilities (a randomised design, so that ``P(gold | x)``
  is known and positive everywhere; ``MetaRouter.fit(..., gold_probability=...)`` uses it);
- :func:`draw_gold_round` makes the same draw on all training rows and also returns the
  design's probability of every row by now (candidates and rows already gold), to pass to
  ``fit`` once the new gold labels are in;
- :func:`run_active_protocol` simulates rounds of selection on a dataset whose gold labels are
  all known, and compares strategies on the same splits (:class:`ActiveProtocolResult`).

The intervals behind the scores are :meth:`MetaRouter.predict_interval` and
:meth:`MetaRouter.estimate_bias_interval` (fit with ``n_bootstrap``).
"""

from .._compat import warning_filters_kept

with warning_filters_kept():  # dependencies' first imports add process-wide filters; undo them
    from ._protocol import ActiveProtocolResult, run_active_protocol
    from ._select import STRATEGIES, draw_gold_round, select_gold_queries

__all__ = [
    "STRATEGIES",
    "ActiveProtocolResult",
    "draw_gold_round",
    "run_active_protocol",
    "select_gold_queries",
]
