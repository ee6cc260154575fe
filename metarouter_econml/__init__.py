"""metarouter_econml: cost-aware LLM routers from gold-standard and preference-based evaluations.

The Meta-Router (Zhang, Xie, Yang, Wu, arXiv 2509.25535) treats the evaluation mechanism as a
treatment, estimates the bias of preference labels as a conditional average treatment effect with
EconML, debiases the preference labels and trains a router on them.

The routers are imported on first use (``from metarouter_econml import MetaRouter``), so that
``import metarouter_econml`` and the command line's ``--version`` and ``--help`` stay light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = [
    "GoldOnlyRouter",
    "MeanShiftRouter",
    "MetaRouter",
    "MultiMetaRouter",
    "PooledRouter",
    "PreferenceOnlyRouter",
    "__version__",
    "load",
]

if TYPE_CHECKING:  # what the lazy names are, for type checkers and IDEs
    from ._routers import (
        GoldOnlyRouter,
        MeanShiftRouter,
        MetaRouter,
        MultiMetaRouter,
        PooledRouter,
        PreferenceOnlyRouter,
        load,
    )


def __getattr__(name: str) -> Any:
    if name in __all__:
        from ._compat import warning_filters_kept

        with warning_filters_kept():  # dependencies' imports add process-wide filters; undo them
            from . import _routers
        value = getattr(_routers, name)
        globals()[name] = value  # later lookups skip this function
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
