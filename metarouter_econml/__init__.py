"""metarouter_econml: cost-aware LLM routers from gold-standard and preference-based evaluations.

The Meta-Router (Zhang, Xie, Yang, Wu, arXiv 2509.25535) treats the evaluation mechanism as a
treatment, estimates the bias of preference labels as a conditional average treatment effect with
EconML, debiases the preference labels and trains a router on them.
"""

from ._compat import warning_filters_kept

with warning_filters_kept():  # dependencies' imports add process-wide filters; undo them
    from ._routers import (
        GoldOnlyRouter,
        MeanShiftRouter,
        MetaRouter,
        PooledRouter,
        PreferenceOnlyRouter,
        load,
    )

__version__ = "0.1.0"

__all__ = [
    "GoldOnlyRouter",
    "MeanShiftRouter",
    "MetaRouter",
    "PooledRouter",
    "PreferenceOnlyRouter",
    "__version__",
    "load",
]
