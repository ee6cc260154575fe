"""Diagnostics of the Meta-Router's bias estimate: overlap checks, refutations, the report.

Among many models, :func:`gold_coverage` counts the gold-standard and preference-based
comparisons per model and per pair (positivity per model; ``MultiMetaRouter.coverage_``).

Constants for callers that check options before fitting (the command line does):

- :data:`REFUTERS`: the refuter names :func:`diagnose` and :func:`refute_bias` accept, in the
  order their seeds are drawn (``diagnose`` runs all of them by default).
- :data:`DEFAULT_N_SIMULATIONS`: the refits per refuter of :func:`diagnose`.
"""

from .._compat import warning_filters_kept

with warning_filters_kept():  # dependencies' first imports add process-wide filters; undo them
    from .._comparisons import GoldCoverage
    from ._coverage import gold_coverage
    from ._diagnose import DEFAULT_N_SIMULATIONS, diagnose
    from ._display import OverlapDisplay, ProjectionDisplay
    from ._figures import ReportFigure
    from ._overlap import assess_overlap
    from ._overlap_result import OverlapResult, OverRuleResult, UncoveredRegion
    from ._refute import REFUTERS, RefutationResult, refute_bias
    from ._report import DiagnosticReport

__all__ = [
    "DEFAULT_N_SIMULATIONS",
    "REFUTERS",
    "DiagnosticReport",
    "GoldCoverage",
    "OverRuleResult",
    "OverlapDisplay",
    "OverlapResult",
    "ProjectionDisplay",
    "RefutationResult",
    "ReportFigure",
    "UncoveredRegion",
    "assess_overlap",
    "diagnose",
    "gold_coverage",
    "refute_bias",
]
