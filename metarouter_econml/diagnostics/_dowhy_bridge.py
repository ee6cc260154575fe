"""The one place that adapts DoWhy's EconML bridge (dowhy 0.14) to the Meta-Router's (Y, T, X).

Everything DoWhy-specific lives here: the DataFrame DoWhy sees, the ``CausalModel``, the
identified estimand, the estimate through ``dowhy.causal_estimators.econml.Econml`` and the
refuters. The caller hands over validated arrays and an *unfitted* EconML estimator; it never
touches DoWhy objects itself. The DoWhy quirks handled are described where they are handled.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .._compat import import_dowhy_quietly
from .._validation import default_feature_names

TREATMENT = "gold_source"
OUTCOME = "label_pb_scale"

#: Short refuter names used by the package -> DoWhy method names.
REFUTER_METHODS = {
    "placebo": "placebo_treatment_refuter",
    "random_common_cause": "random_common_cause",
    "data_subset": "data_subset_refuter",
    "bootstrap": "bootstrap_refuter",
}


#: Errors of a refit that mean the refuter cannot run on these data (a resample without gold rows
#: in a cross-fitting fold, a single-class fold, a singular matrix), not a bug.
DATA_ERRORS = (ValueError, AttributeError, IndexError, ArithmeticError, np.linalg.LinAlgError)


class RefuterCannotRun(Exception):
    """A refuter stopped because a refit failed on its perturbed data.

    Parameters
    ----------
    refuter : str
        The refuter's short name.
    cause : Exception
        The refit's error (one of :data:`DATA_ERRORS`).
    completed : ndarray
        The refuted estimates of the simulations completed before it.
    """

    def __init__(self, refuter: str, cause: BaseException, completed: np.ndarray) -> None:
        super().__init__(f"{refuter}: {type(cause).__name__}: {cause}")
        self.refuter = refuter
        self.cause = cause
        self.completed = completed


def safe_feature_names(n_features: int) -> list[str]:
    """Return the column names DoWhy sees: ``x0, ..., x{n_features - 1}``."""
    return default_feature_names(n_features)


class _Recorder:
    """A list of estimates shared by every deep copy of the wrapper that holds it.

    DoWhy keeps only the mean of the refuted estimates and a p-value. The refuters deep-copy the
    estimator wrapper once per simulation; the copies share this recorder, so every estimate is
    kept and the spread of the refuted estimates can be reported.
    """

    def __init__(self) -> None:
        self.values: list[float] = []

    def __deepcopy__(self, memo):
        return self


def _import_dowhy():
    import_dowhy_quietly()  # DoWhy's import would otherwise replace sys.displayhook
    from dowhy import CausalModel
    from dowhy.causal_estimator import estimate_effect
    from dowhy.causal_estimators.econml import Econml

    return CausalModel, estimate_effect, Econml


@functools.cache
def _recording_econml_class():
    _, _, Econml = _import_dowhy()

    class RecordingEconml(Econml):
        """DoWhy's EconML wrapper that also records the value of every estimate it makes."""

        def estimate_effect(self, data, *args, **kwargs):
            estimate = super().estimate_effect(data, *args, **kwargs)
            recorder = getattr(self, "_recorder", None)
            if recorder is not None:
                recorder.values.append(float(np.ravel(estimate.value)[0]))
            return estimate

    return RecordingEconml


@dataclass
class DowhyFit:
    """A fitted DoWhy model of the bias: data, model, estimand and the EconML estimate."""

    data: pd.DataFrame
    model: Any  # dowhy.CausalModel
    estimand: Any  # dowhy's IdentifiedEstimand
    estimate: Any  # dowhy's CausalEstimate
    effect_modifiers: list
    recorder: _Recorder

    @property
    def value(self) -> float:
        """DoWhy's estimate: the mean CATE over all rows (``target_units="ate"``)."""
        return float(np.ravel(self.estimate.value)[0])

    @property
    def cate(self) -> np.ndarray:
        """Per-row CATEs of the fitted estimator on the fitted rows."""
        return np.ravel(np.asarray(self.estimate.cate_estimates, dtype=np.float64))

    def effect(self, X: np.ndarray) -> np.ndarray:
        """CATEs of the DoWhy-fitted estimator on ``X`` (columns in the order of the fit).

        The features are passed as a DataFrame with the safe names, and DoWhy selects the
        columns by name, so the column order cannot be scrambled.
        """
        frame = pd.DataFrame(np.asarray(X, dtype=np.float64), columns=self.effect_modifiers)
        return np.ravel(self.estimate.estimator.effect(frame)).astype(np.float64)


def build_frame(X: np.ndarray, y: np.ndarray, gold: np.ndarray) -> tuple[pd.DataFrame, list[str]]:
    """Return the DataFrame DoWhy sees (copies of the inputs) and the feature column names.

    DoWhy builds a causal graph from column names, so the features get safe names
    ``x0, x1, ...`` (in the caller's order); the treatment and outcome columns are named so that
    they cannot clash with the columns DoWhy's refuters add (``placebo``, ``w_random``).
    """
    names = safe_feature_names(X.shape[1])
    frame = pd.DataFrame(np.array(X, dtype=np.float64, copy=True), columns=names)
    frame[TREATMENT] = np.asarray(gold, dtype=bool).astype(np.int64)
    frame[OUTCOME] = np.array(y, dtype=np.float64, copy=True)
    return frame, names


def fit_dowhy(X: np.ndarray, y: np.ndarray, gold: np.ndarray, econml_estimator) -> DowhyFit:
    """Fit ``econml_estimator`` (unfitted) through DoWhy on the pooled rows, ``T = gold``.

    - **Effect modifiers only.** The features are EconML's ``X`` (``effect_modifiers``), not also
      ``common_causes``: EconML already adjusts for ``X`` in its nuisance models, and giving both
      doubles the columns (``[X, W]`` with ``W = X``); without effect modifiers DoWhy's EconML
      wrapper fails (``X=None``). The identified backdoor set is therefore empty; that is
      bookkeeping, the adjustment happens inside EconML.
    - **Column order.** The effect-modifier names are passed explicitly, in the caller's order,
      to the module-level ``dowhy.causal_estimator.estimate_effect``
      (``CausalModel.estimate_effect`` would read them from the graph, in set order), so the
      estimator sees the columns in the router's order and its CATEs equal the router's for the
      same seed.
    - **No method-name string.** ``CausalModel.estimate_effect`` only takes a method name
      (``"backdoor.econml.dml.NonParamDML"``) and builds the EconML class from it (deprecated);
      ``Econml(identified_estimand, econml_estimator=instance)`` with the module-level
      ``estimate_effect`` avoids that. It needs ``method_params={}`` (``None`` crashes in 0.14:
      ``argument of type 'NoneType' is not iterable``).
    - **Target units.** ``Econml.estimate_effect`` ignores the strings ``"att"``/``"atc"`` (only
      a DataFrame or a callable selects rows), so ``"ate"`` is used; means over subsets are read
      from the per-row CATEs.
    - **No sample weights**: through DoWhy they break the subset refuter and silently misalign
      in the bootstrap refuter.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Validated features.
    y : ndarray of shape (n_samples,)
        Labels on the preference scale (gold labels already rescaled).
    gold : ndarray of bool, shape (n_samples,)
        The treatment: True for gold-standard rows.
    econml_estimator : EconML estimator
        An unfitted estimator; it is fitted in place by DoWhy.

    Returns
    -------
    DowhyFit
    """
    CausalModel, estimate_effect, _ = _import_dowhy()
    frame, names = build_frame(X, y, gold)
    model = CausalModel(data=frame, treatment=TREATMENT, outcome=OUTCOME, effect_modifiers=names)
    estimand = model.identify_effect(proceed_when_unidentifiable=True)
    wrapper = _recording_econml_class()(estimand, econml_estimator=econml_estimator)
    recorder = _Recorder()
    wrapper._recorder = recorder
    estimate = estimate_effect(
        frame,
        [TREATMENT],
        [OUTCOME],
        "backdoor",
        wrapper,
        target_units="ate",
        effect_modifiers=names,
        method_params={},
    )
    recorder.values.clear()
    return DowhyFit(frame, model, estimand, estimate, names, recorder)


def refute(fit: DowhyFit, refuter: str, *, n_simulations: int, random_state, subset_fraction):
    """Run one DoWhy refuter on ``fit``; return DoWhy's result and the refuted estimates.

    - **Seeds.** Every refuter gets a ``numpy.random.RandomState`` (an int makes the subset and
      bootstrap refuters draw the same resample in every simulation) and ``n_jobs=1`` (with a
      seed and several workers every worker repeats the same draw). ``random_seed`` is never
      passed: DoWhy's base refuter turns it into a process-wide ``np.random.seed``.
    - **Bootstrap without added noise.** By default DoWhy's bootstrap refuter also adds
      measurement noise to every covariate, drawn from numpy's *global* generator, which cannot
      be seeded without changing process-wide state; ``required_variables=False`` turns it off,
      leaving a plain, seeded resampling bootstrap.

    Parameters
    ----------
    fit : DowhyFit
    refuter : {"placebo", "random_common_cause", "data_subset", "bootstrap"}
    n_simulations : int
        Number of refits.
    random_state : numpy.random.RandomState
        The refuter's generator (advanced in place).
    subset_fraction : float
        Share of rows kept by ``"data_subset"``.

    Returns
    -------
    refutation : dowhy.causal_refuter.CausalRefutation
    simulations : ndarray of shape (n_simulations,)
        The refuted estimate of each simulation, in order.

    Raises
    ------
    RefuterCannotRun
        When a refit fails with one of :data:`DATA_ERRORS` (e.g. EconML's ``AttributeError``
        "Provided crossfit folds contain training splits that don't contain all treatments" on a
        resample of very few gold rows). The fit is the same code as the original fit, which
        succeeded, so such an error comes from the perturbed data.
    """
    options = {"num_simulations": n_simulations, "random_state": random_state, "n_jobs": 1}
    if refuter == "placebo":
        options["placebo_type"] = "permute"
    elif refuter == "data_subset":
        options["subset_fraction"] = subset_fraction
    elif refuter == "bootstrap":
        options["required_variables"] = False
    fit.recorder.values.clear()
    # DoWhy's normal test divides by the spread of the refuted estimates; a zero spread gives a NaN
    # or infinite z-score, which the caller handles, so numpy's division warnings are silenced here.
    try:
        with np.errstate(divide="ignore", invalid="ignore"):
            result = fit.model.refute_estimate(
                fit.estimand,
                fit.estimate,
                method_name=REFUTER_METHODS[refuter],
                show_progress_bar=False,
                **options,
            )
    except DATA_ERRORS as exc:
        completed = np.asarray(fit.recorder.values, dtype=np.float64)
        fit.recorder.values.clear()
        raise RefuterCannotRun(refuter, exc, completed) from exc
    simulations = np.asarray(fit.recorder.values, dtype=np.float64)
    fit.recorder.values.clear()
    if simulations.size != n_simulations or not np.isclose(
        simulations.mean(), float(np.ravel(result.new_effect)[0]), rtol=1e-9, atol=1e-12
    ):
        raise RuntimeError(
            f"Recorded {simulations.size} refuted estimates for {n_simulations} simulations of "
            f"{refuter!r} that do not average to DoWhy's new effect; the DoWhy bridge needs "
            "updating for this DoWhy version."
        )
    return result, simulations
