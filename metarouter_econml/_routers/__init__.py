"""The routers (private; the public names are re-exported by ``metarouter_econml``).

- ``_base``: :class:`BaseRouter`, the shared fit/predict/route/save;
- ``_baselines``: gold-only, preference-only, pooled and mean-shift routers;
- ``_meta``: :class:`MetaRouter`; ``_auto``: its ``learner="auto"``;
- ``_multi``: :class:`MultiMetaRouter`, routing among many models;
- ``_load``: :func:`load`, the inverse of ``router.save``.
"""

from ._base import BaseRouter
from ._baselines import GoldOnlyRouter, MeanShiftRouter, PooledRouter, PreferenceOnlyRouter
from ._load import ROUTER_CLASSES, load
from ._meta import MetaRouter
from ._multi import MultiMetaRouter

__all__ = [
    "ROUTER_CLASSES",
    "BaseRouter",
    "GoldOnlyRouter",
    "MeanShiftRouter",
    "MetaRouter",
    "MultiMetaRouter",
    "PooledRouter",
    "PreferenceOnlyRouter",
    "load",
]
