"""Saving and loading fitted routers in a format that loads without running code from the file.

A router file is a zip archive (:mod:`._archive`) of a JSON header (format and format version,
router class, the versions of :data:`RECORDED_PACKAGES` that wrote it, the parameters that could
not be saved, a SHA-256 digest) and a payload in skops' safe format (:mod:`._save_load`). Files
of format versions 1 and 2 load; a file is written in the oldest version that holds it.

What is saved, and what is not
    * The router model (``router_model_``) whole. A LightGBM model travels as LightGBM's own
      text model, which is data, not code. Router, CATE and overlap models must be of the
      types whose fitted state :mod:`._models` checks (LightGBM, scikit-learn trees and
      forests, linear models, pipelines of ``StandardScaler`` and one of these, unweighted
      ``VotingRegressor`` averages of these); ``save`` refuses others.
    * For a :class:`~metarouter_econml.MetaRouter` with a CATE learner, the final stage of its
      EconML estimator only: the final CATE model and, if EconML standardised the features
      first, its fitted ``StandardScaler`` featurizer (other featurizers are refused). A loaded
      router holds a read-only stand-in with ``effect`` and ``const_marginal_effect`` that gives
      the same bits (:mod:`._standin`). The forests of learners ``"causal_forest"`` and
      ``"forest_dr"``, whose Cython trees skops cannot rebuild, are saved as the plain arrays of
      their point estimate and evaluated with numpy (:mod:`._forest`); no EconML type is built
      on load.
    * For a :class:`~metarouter_econml.MultiMetaRouter` (:mod:`._multi`): its parameters and
      fitted attributes, ``coverage_`` and ``router_model_scores_`` as exact tables (dtypes
      and indexes kept), its router model (checked as a router model of ``n_features_in_``
      plus K features, the pair coding), and of its bias estimators (``bias_estimator_``,
      ``pair_bias_``) only the intercept vector and coefficient matrix of the final stage of
      the linear learners ("lasso", "ridge", "linear"); a loaded router holds read-only
      stand-ins that evaluate them in EconML's floating-point operations, so ``estimate_bias``
      gives the same bits. The thin pairs' float shifts are kept as they are. ``save`` refuses
      a bias estimator of ``learner="forest"``. With two models, ``two_model_router_`` is
      nested: its payload is that of a MetaRouter or PooledRouter file, checked as one on load.
      The load-time rules (models, reference, kind, structure against the bias attributes
      present, coefficient shapes, pair keys) are those of :func:`._multi.check_multi`. Such a
      file is of format version 1 (2 if its two-model router needs it); earlier releases
      refuse it by its class name.
    * The public fitted attributes, including ``propensity_`` (one float per training row, the
      record of overlap); never the training data.
    * The parameters whose types are all trusted. The others (e.g. a custom nuisance model)
      are None on the loaded router, which warns: it predicts, routes and estimates the bias as
      the saved one, but refitting it would use the defaults for them.

Safety
    Loading never unpickles: skops builds only skops' default-trusted types (builtins, numpy,
    scikit-learn estimators) and :data:`TRUSTED_TYPES`. A modified or corrupted file fails the
    digest (a guard against accidents and casual edits, not a signature). Load files from
    sources you trust all the same. Before a router is returned:

    * the path must be a regular file, checked before it is opened (:func:`._archive.check_path`);
    * the file and the payload, both zip archives, are read within size limits, member by member
      and in chunks, so a zip bomb is refused before it is inflated (:mod:`._archive`,
      :mod:`._payload`); JSON that nests too deeply is refused;
    * tree models store raw indices that their prediction code follows unchecked, so every one
      is audited (:mod:`._audit`, :mod:`._lightgbm_text`, and for EconML forests
      :func:`._forest.check_forest`, within a cap on trees and nodes); the router, CATE and
      overlap models
      must be of checked types with consistent fitted state, and give finite predictions
      (probabilities in [0, 1]) on a row of zeros (:mod:`._models`);
    * every call into skops runs under
      :func:`metarouter_econml._compat.skops_module_lookup_without_imports`, so that skops'
      lookup of the module of a scipy function reads module namespaces and imports nothing (a
      user's ``beta.py`` is not run). The lookup that skops runs while ``skops.io`` is first
      imported, on entering that block, is not covered by it.

    ``save`` checks the payload and the models in the same way, so it never writes a file that
    ``load`` would refuse for them.

This package never imports the routers: :func:`load_router` is handed the router classes.
"""

from ._archive import RECORDED_PACKAGES, current_versions
from ._save_load import TRUSTED_TYPES, load_router, save_router

__all__ = ["RECORDED_PACKAGES", "TRUSTED_TYPES", "current_versions", "load_router", "save_router"]
