"""Diagnostics of the Meta-Router's bias estimate: overlap checks, refutations, the report."""

from ._diagnose import diagnose
from ._display import OverlapDisplay, ProjectionDisplay
from ._figures import ReportFigure
from ._overlap import assess_overlap
from ._overlap_result import OverlapResult, OverRuleResult
from ._refute import RefutationResult, refute_bias
from ._report import DiagnosticReport

__all__ = [
    "DiagnosticReport",
    "OverRuleResult",
    "OverlapDisplay",
    "OverlapResult",
    "ProjectionDisplay",
    "RefutationResult",
    "ReportFigure",
    "assess_overlap",
    "diagnose",
    "refute_bias",
]
