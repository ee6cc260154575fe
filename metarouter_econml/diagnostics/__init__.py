"""Diagnostics of the Meta-Router's bias estimate."""

from ._display import OverlapDisplay, ProjectionDisplay
from ._overlap import OverlapResult, OverRuleResult, assess_overlap
from ._refute import RefutationResult, refute_bias
from ._report import DiagnosticReport, ReportFigure, diagnose

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
