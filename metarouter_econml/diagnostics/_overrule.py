"""OverRule (Oberst et al., AISTATS 2020) through DoWhy, on leading principal components.

OverRule learns readable rules describing the region where both sources occur. It runs in a
separate Python process that is killed after a time bound (:func:`run_overrule`); a timeout or
an error is recorded in the :class:`OverRuleResult` and never raised.
"""

from __future__ import annotations

import contextlib
import io
import os
import pickle
import signal
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.decomposition import PCA
from sklearn.utils import check_random_state

from .._validation import random_seed
from ._overlap_result import OverRuleResult

__all__ = ["OVERRULE_CONFIG", "principal_components", "run_overrule"]

#: OverRule's search settings, passed to DoWhy's ``OverlapConfig``: deciles as thresholds
#: (``num_thresh=9``, DoWhy's default) and a reduced column-generation search.
OVERRULE_CONFIG = {"num_thresh": 9, "iterMax": 3, "K": 10, "D": 10, "B": 5}

#: How the OverRule process imports its entry point (this module, by import path).
_WORKER = "from metarouter_econml.diagnostics._overrule import _worker_main; _worker_main()"


def principal_components(X: np.ndarray, n_components: int, *, standardize: bool, random_state):
    """Scores of the leading principal components of centred (or standardised) ``X``.

    Centred, not standardised, by default: the package's features are usually principal
    components of an embedding, and standardising them gives every column the same variance, so
    the "leading" components become an arbitrary rotation. ``standardize=True`` is for columns
    in unrelated units.

    Returns ``(scores, pca, scale)``; ``scale`` is the per-feature standard deviation used when
    ``standardize`` (constant features get 1), else ones.
    """
    center = X.mean(axis=0)
    if standardize:
        scale = X.std(axis=0)
        scale[scale == 0] = 1.0
    else:
        scale = np.ones(X.shape[1])
    pca = PCA(n_components=n_components, random_state=random_seed(check_random_state(random_state)))
    scores = pca.fit_transform((X - center) / scale)
    return scores, pca, scale


def run_overrule(
    X: np.ndarray,
    gold: np.ndarray,
    names: list[str],
    *,
    components: int,
    standardize: bool,
    eps: float,
    model,
    timeout: float,
    seed: int,
) -> OverRuleResult:
    """Learn OverRule's overlap rules on the leading principal components of validated ``X``.

    A row is labelled "overlapping" when its cross-fitted P(gold | components), from ``model``,
    lies in ``(eps, 1 - eps)``; OverRule then learns rules covering those rows. Only overlap
    rules are learnt (DoWhy's ``overlap_only``): support rules describe where data exist at all,
    not where the sources overlap. The fit runs in a separate process killed after ``timeout``
    seconds; a timeout or an error gives a result with ``status`` ``"timeout"`` or ``"error"``.
    """
    scores, pca, _ = principal_components(X, components, standardize=standardize, random_state=seed)
    columns = [f"PC{i + 1}" for i in range(components)]
    loadings = pd.DataFrame(
        pca.components_.T, index=pd.Index(names, name="feature"), columns=columns
    )
    payload = {"scores": scores, "gold": gold, "columns": columns, "eps": eps, "model": model}
    status, outcome, seconds = _run_in_subprocess(payload, timeout)
    common = {
        "components": components,
        "explained_variance_ratio": tuple(float(v) for v in pca.explained_variance_ratio_),
        "loadings": loadings,
        "standardized": standardize,
        "eps": float(eps),
        "config": dict(OVERRULE_CONFIG),
        "seconds": seconds,
        "timeout": float(timeout),
    }
    if status != "ok":
        nan = float("nan")
        return OverRuleResult(
            status=status,
            message=outcome,
            rules=(),
            rule_coverage=(),
            inside=None,
            share_inside=nan,
            share_inside_gold=nan,
            share_inside_preference=nan,
            **common,
        )
    inside = np.asarray(outcome["inside"], dtype=bool)
    inside.setflags(write=False)
    rules = tuple(_rule_text(rule) for rule in outcome["rules"])
    coverage = tuple(float(_rule_mask(rule, scores, columns).mean()) for rule in outcome["rules"])
    if outcome["rules"]:
        status = "rules"
        message = (
            f"OverRule learnt {len(rules)} rule(s) describing where both sources occur "
            f"({outcome['labelled_share']:.1%} of rows met the overlap criterion)."
        )
    else:
        status = "all_overlap"
        message = "Every row met OverRule's overlap criterion: no rule was needed."
    return OverRuleResult(
        status=status,
        message=message,
        rules=rules,
        rule_coverage=coverage,
        inside=inside,
        share_inside=float(inside.mean()),
        share_inside_gold=float(inside[gold].mean()),
        share_inside_preference=float(inside[~gold].mean()),
        **common,
    )


def _rule_text(rule) -> str:
    return " and ".join(f"{f} {op} {v:.3f}" if op else str(f) for f, op, v in rule)


_OPS = {
    "<=": np.less_equal,
    "<": np.less,
    ">": np.greater,
    ">=": np.greater_equal,
    "==": np.equal,
}


def _rule_mask(rule, scores: np.ndarray, columns: list[str]) -> np.ndarray:
    mask = np.ones(scores.shape[0], dtype=bool)
    for f, op, v in rule:
        mask &= _OPS[op](scores[:, columns.index(f)], v)
    return mask


def _run_in_subprocess(payload: dict, timeout: float) -> tuple[str, Any, float]:
    """Run :func:`_fit_overrule` in a fresh Python process killed after ``timeout`` seconds.

    A plain subprocess (``python -c``), not ``multiprocessing``: the "spawn" start method
    re-imports the caller's ``__main__`` script (running a script without an
    ``if __name__ == "__main__"`` guard twice), and "fork" after the propensity model's thread
    pools have started can deadlock (GNU OpenMP is not fork-safe).

    Returns ``("ok", result, seconds)``, or ``("timeout" | "error", message, seconds)``.
    """
    start = time.perf_counter()
    # The child finds this package where the parent did; appended last, the path shadows nothing.
    package_root = str(Path(__file__).resolve().parents[2])
    code = f"import sys; sys.path.append({package_root!r}); {_WORKER}"
    # a single-threaded worker: at these sizes thread pools only add start-up overhead
    env = dict(os.environ)
    env.update(OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    try:
        with tempfile.TemporaryDirectory(prefix="metarouter-overrule-") as tmp:
            in_path, out_path = os.path.join(tmp, "in.pkl"), os.path.join(tmp, "out.pkl")
            with open(in_path, "wb") as handle:
                pickle.dump(payload, handle)
            proc = subprocess.Popen(
                [sys.executable, "-c", code, in_path, out_path],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                env=env,
                start_new_session=os.name == "posix",
            )
            try:
                _, err = proc.communicate(timeout=timeout)
            except subprocess.TimeoutExpired:
                _kill(proc)
                seconds = time.perf_counter() - start
                return (
                    "timeout",
                    f"OverRule did not finish within overrule_timeout={timeout:g} s and was "
                    "stopped; the other checks are complete. Raise `overrule_timeout` or lower "
                    "`overrule_components` to get its rules.",
                    seconds,
                )
            seconds = time.perf_counter() - start
            if not os.path.exists(out_path):
                lines = err.decode(errors="replace").strip().splitlines()
                return (
                    "error",
                    f"OverRule's process ended (exit code {proc.returncode}) without a result "
                    f"({lines[-1] if lines else 'no message'}). The other checks are complete.",
                    seconds,
                )
            with open(out_path, "rb") as handle:
                status, outcome = pickle.load(handle)
    except Exception as exc:  # the report must survive any failure of the side process
        return (
            "error",
            f"OverRule could not be run ({type(exc).__name__}: {exc}); the other checks are "
            "complete.",
            time.perf_counter() - start,
        )
    if status != "ok":
        return "error", f"OverRule failed ({outcome}); the other checks are complete.", seconds
    return "ok", outcome, seconds


def _kill(proc: subprocess.Popen) -> None:
    """Kill the OverRule process (and its process group on POSIX: it is the group's leader)."""
    try:
        if os.name == "posix":
            os.killpg(proc.pid, signal.SIGKILL)
        else:
            proc.kill()
    except (ProcessLookupError, PermissionError):
        pass
    proc.communicate()


def _worker_main() -> None:
    """Entry point of the OverRule process: ``argv = [-c, input pickle, output pickle]``."""
    in_path, out_path = sys.argv[1], sys.argv[2]
    outcome: tuple[str, Any]
    try:
        with open(in_path, "rb") as handle:
            payload = pickle.load(handle)
    except Exception as exc:
        outcome = (
            "error",
            f"could not load its inputs: {type(exc).__name__}: {exc}; a `model_propensity` "
            "class defined in a notebook or a script's __main__ cannot be sent to another process",
        )
    else:
        try:
            outcome = ("ok", _fit_overrule(**payload))
        except Exception as exc:
            outcome = ("error", f"{type(exc).__name__}: {exc}")
    with open(out_path + ".part", "wb") as handle:
        pickle.dump(outcome, handle)
    os.replace(out_path + ".part", out_path)


def _fit_overrule(scores, gold, columns, eps, model) -> dict:
    """Learn OverRule's overlap rules with DoWhy: the one function that touches DoWhy's OverRule.

    Uses the public ``OverruleAnalyzer`` and ``OverlapConfig`` of
    ``dowhy.causal_refuters.assess_overlap_overrule`` with ``prop_estimator`` (the propensity
    check's model, instead of DoWhy's default random-forest grid search) and
    ``overlap_only=True``. It then reads attributes DoWhy does not document, which may change
    between versions: ``raw_overlap_set`` (rows meeting the criterion), ``overlap_indicator``
    (rows inside the learnt rules) and ``RS_overlap_estimator.rules()`` (the rules as
    ``(feature, operator, value)`` atoms). It avoids ``predict_overlap_support``: with
    ``overlap_only=True`` and every row overlapping, DoWhy 0.14 predicts with an unfitted rule
    estimator (``AttributeError: 'FeatureBinarizer' object has no attribute 'maps'``).
    DoWhy prints a line in that case; it is swallowed.
    """
    from dowhy.causal_refuters.assess_overlap_overrule import OverlapConfig, OverruleAnalyzer

    treatment = "_gold_source"
    frame = pd.DataFrame(np.asarray(scores), columns=columns)
    frame[treatment] = np.asarray(gold).astype(np.int64)
    analyzer = OverruleAnalyzer(
        backdoor_vars=list(columns),
        treatment_name=treatment,
        overlap_config=OverlapConfig(**OVERRULE_CONFIG),
        prop_estimator=model,
        overlap_eps=float(eps),
        overlap_only=True,
    )
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        analyzer.fit(frame)
    labelled = np.asarray(analyzer.raw_overlap_set, dtype=bool)
    if labelled.all():
        return {"rules": [], "inside": np.ones(len(frame), dtype=bool), "labelled_share": 1.0}
    rules = [
        [(str(f), str(op), float(v)) for f, op, v in rule]
        for rule in analyzer.RS_overlap_estimator.rules(as_str=False)
    ]
    inside = np.asarray(analyzer.overlap_indicator, dtype=bool)
    return {"rules": rules, "inside": inside, "labelled_share": float(labelled.mean())}
