"""Saving and loading fitted routers in a format that loads without running code from the file.

A router file is a zip archive (:mod:`._archive`) of a JSON header (format, router class, the
versions of :data:`RECORDED_PACKAGES` that wrote it, the parameters that could not be saved,
a SHA-256 digest) and a payload in skops' safe format (:mod:`._save_load`).

What is saved, and what is not
    * The router model (``router_model_``) whole. A LightGBM model travels as LightGBM's own
      text model, which is data, not code.
    * For a :class:`~metarouter_econml.MetaRouter` with a CATE learner, the final CATE model of
      its EconML estimator only; a loaded router holds a read-only stand-in with ``effect`` and
      ``const_marginal_effect`` that gives the same bits (:mod:`._standin`). Learners
      ``"causal_forest"`` and ``"forest_dr"`` cannot be saved (their EconML forests are not
      rebuildable by skops); ``save`` says so.
    * The public fitted attributes, including ``propensity_`` (one float per training row, the
      record of overlap); never the training data.
    * The parameters whose types are all trusted. The others (e.g. a custom nuisance model)
      are None on the loaded router, which warns: it predicts, routes and estimates the bias as
      the saved one, but refitting it would use the defaults for them.

Safety
    Loading never unpickles: skops builds only skops' default-trusted types (builtins, numpy,
    scikit-learn estimators) and :data:`TRUSTED_TYPES`. A modified or corrupted file fails the
    digest (a guard against accidents and casual edits, not a signature). Tree models store raw
    indices that their prediction code follows unchecked, so every one is audited before use
    (:mod:`._audit`, :mod:`._lightgbm_text`). Load files from sources you trust all the same.

This package never imports the routers: :func:`load_router` is handed the router classes.
"""

from ._archive import RECORDED_PACKAGES, current_versions
from ._save_load import TRUSTED_TYPES, load_router, save_router

__all__ = ["RECORDED_PACKAGES", "TRUSTED_TYPES", "current_versions", "load_router", "save_router"]
