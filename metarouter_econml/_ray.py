"""The optional Ray backend (``pip install 'metarouter-econml[ray]'``), imported only on request.

Two things run on Ray: EconML's cross-fitting folds (``MetaRouter(use_ray=True)`` passes EconML's
own ``use_ray`` through) and the splits of :func:`~metarouter_econml.evaluation.run_protocol`
(``use_ray=True``), one task per split. Both start a local Ray instance when none is running, as
EconML does; to use a cluster, call ``ray.init(address=...)`` first.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any


def import_ray(feature: str):
    """Return the ``ray`` module, or raise an ImportError that says how to install it."""
    try:
        import ray
    except ImportError:
        raise ImportError(
            f"{feature} needs Ray, which is not installed: pip install 'metarouter-econml[ray]'."
        ) from None
    return ray


def ordered_ray_results(
    function: Callable,
    shared: Sequence[Any],
    per_task: Sequence[tuple],
    kwargs: dict,
    *,
    feature: str,
) -> Iterator[Any]:
    """Run ``function(*shared, *task, **kwargs)`` for every ``task`` as Ray tasks; yield in order.

    The ``shared`` arguments (e.g. a dataset) go to Ray's object store once, not once per task.
    An exception raised inside a task is re-raised as itself (not wrapped in Ray's
    ``RayTaskError``), and the tasks not yet collected are cancelled.
    """
    ray = import_ray(feature)
    if not ray.is_initialized():
        ray.init()
    remote = ray.remote(function)
    shared_refs = [ray.put(value) for value in shared]
    refs = [remote.remote(*shared_refs, *task, **kwargs) for task in per_task]
    collected = 0
    try:
        for ref in refs:
            try:
                yield ray.get(ref)
            except ray.exceptions.RayTaskError as exc:
                cause = getattr(exc, "cause", None)
                if isinstance(cause, Exception):
                    raise cause from None
                raise
            collected += 1
    finally:
        for ref in refs[collected:]:
            ray.cancel(ref)
