"""Loading a saved router: the routers layer hands its classes to the file format."""

from __future__ import annotations

import os

from .._persist import load_router
from ._base import BaseRouter
from ._baselines import GoldOnlyRouter, MeanShiftRouter, PooledRouter, PreferenceOnlyRouter
from ._meta import MetaRouter
from ._multi import MultiMetaRouter

__all__ = ["ROUTER_CLASSES", "load"]

ROUTER_CLASSES: dict[str, type[BaseRouter] | type[MultiMetaRouter]] = {
    cls.__name__: cls
    for cls in (
        GoldOnlyRouter,
        MeanShiftRouter,
        MetaRouter,
        MultiMetaRouter,
        PooledRouter,
        PreferenceOnlyRouter,
    )
}


def load(path: str | os.PathLike[str]) -> BaseRouter | MultiMetaRouter:
    """Load a router saved with ``router.save(path)``, without running code from the file.

    The file is refused unless it is an intact router file: a zip archive holding a header
    (format, versions, digest) and a skops payload whose types are all trusted (skops' defaults
    and :data:`metarouter_econml._persist.TRUSTED_TYPES`). Its trees are checked before use.

    Parameters
    ----------
    path : str or path-like
        File written by :meth:`MetaRouter.save` (or the ``save`` of a baseline router, or
        :meth:`MultiMetaRouter.save`).

    Returns
    -------
    router : BaseRouter or MultiMetaRouter
        A MetaRouter, GoldOnlyRouter, PreferenceOnlyRouter, PooledRouter, MeanShiftRouter or
        MultiMetaRouter.
        It is the router as saved: ``predict``, ``route``, ``threshold_for_ratio`` (for a
        MultiMetaRouter, ``cost_weight_for_budget``) and ``estimate_bias`` give bit-identical
        results under the same library versions. On a loaded :class:`MetaRouter`,
        ``cate_estimator_`` is a read-only stand-in with ``effect(X)`` and
        ``const_marginal_effect(X)`` (the final CATE model only: no nuisance models, no
        inference); on a loaded :class:`MultiMetaRouter`, ``bias_estimator_`` and the
        estimators in ``pair_bias_`` are read-only stand-ins with ``const_marginal_effect(Z)``
        (the intercept and coefficients of the final stage), and ``two_model_router_`` is
        loaded as a MetaRouter or PooledRouter file. A loaded router is for prediction, routing
        and bias estimation;
        refitting it works but parameters that could not be saved (reported by a warning) are
        then None.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If the file is not a router file (another zip, a pickle, a bare skops file), fails its
        integrity check (modified or corrupted), or holds a malformed router.
    TypeError
        If the payload contains a type that is not trusted.

    Warns
    -----
    UserWarning
        If it was saved under other versions of Python or of the recorded packages (named in
        the message), or with parameters that could not be saved.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from metarouter_econml import GoldOnlyRouter, load
    >>> from metarouter_econml.datasets import make_routing_data
    >>> data = make_routing_data(600, 6, random_state=0)
    >>> split = data.split(n_test=100, n_gold=80, random_state=0)
    >>> router = GoldOnlyRouter(random_state=0)
    >>> router = router.fit(split.X_train, split.y_train, gold=split.gold_train)
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "router.mr"
    >>> router.save(path)
    >>> bool((load(path).predict(split.X_test) == router.predict(split.X_test)).all())
    True
    """
    return load_router(path, ROUTER_CLASSES)
