"""OverRule (Oberst et al., AISTATS 2020) through DoWhy: readable rules for the overlap region.

OverRule has two stages: label each row as overlapping or not from a propensity score, then
learn Boolean rules that describe the overlapping rows. Here the first stage *is* the
propensity check of :func:`~metarouter_econml.diagnostics.assess_overlap` (its cross-fitted
P(gold | x) on all features and its bounds), so OverRule and that check never disagree about
which rows are extreme; OverRule only adds a description of them. The rules are learnt by DoWhy's
OverRule rule learner (``BCSRulesetEstimator``, as DoWhy's ``OverruleAnalyzer`` uses it) on a
few readable inputs: the leading principal components and, when it exists, the feature along
which the uncovered rows differ most from the gold rows. The learner runs in a separate,
isolated Python process that is killed after a time bound (:func:`run_overrule`); a timeout or
an error is recorded in the :class:`OverRuleResult` and never raised.
"""

from __future__ import annotations

import json
import os
import pickle
import signal
import subprocess
import sys
import tempfile
import time
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

#: The rules "describe the gap" when they leave out more than this share of the flagged rows.
DESCRIBES_GAP = 0.5


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
    overlapping: np.ndarray,
    bounds: tuple[float, float],
    components: int,
    standardize: bool,
    feature: int | None,
    feature_reason: str,
    timeout: float,
    seed: int,
) -> OverRuleResult:
    """Learn OverRule's rules for the rows the propensity check counts as overlapping.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Validated features.
    gold : ndarray of bool
        Gold-standard rows.
    names : list of str
        Feature names.
    overlapping : ndarray of bool
        The propensity check's labels: True where P(gold | x) lies within ``bounds``.
    bounds : (float, float)
        The propensity check's bounds (recorded, and shown with the rules).
    components : int
        Leading principal components requested; reduced to the number of features (and rows)
        when the data have fewer, which the result records.
    standardize : bool
        Standardise the features before the PCA.
    feature : int or None
        Index of a feature given to the rule learner beside the components (None: none).
    feature_reason : str
        Why that feature was chosen, in words.
    timeout : float
        Seconds after which the rule learner's process is killed.
    seed : int
        Seed of the PCA.

    Returns
    -------
    OverRuleResult
        ``status`` ``"all_overlap"`` (no row flagged: no rule needed, no process started),
        ``"rules"``, ``"timeout"`` or ``"error"``.
    """
    used = min(int(components), X.shape[1], X.shape[0])
    scores, pca, _ = principal_components(X, used, standardize=standardize, random_state=seed)
    columns = [f"PC{i + 1}" for i in range(used)]
    inputs = scores
    feature_name = None
    if feature is not None:
        feature_name = names[feature]
        label = feature_name if feature_name not in columns else f"{feature_name} (feature)"
        inputs = np.column_stack([scores, X[:, feature]])
        columns.append(label)
    loadings = pd.DataFrame(
        pca.components_.T, index=pd.Index(names, name="feature"), columns=columns[:used]
    )
    overlapping = np.asarray(overlapping, dtype=bool)
    flagged = ~overlapping
    common = {
        "inputs": tuple(columns),
        "components": used,
        "components_requested": int(components),
        "feature": feature_name,
        "feature_reason": feature_reason if feature_name is not None else "",
        "explained_variance_ratio": tuple(float(v) for v in pca.explained_variance_ratio_),
        "loadings": loadings,
        "standardized": standardize,
        "bounds": (float(bounds[0]), float(bounds[1])),
        "config": dict(OVERRULE_CONFIG),
        "timeout": float(timeout),
        "n_flagged": int(flagged.sum()),
    }
    if not flagged.any():
        inside = np.ones(X.shape[0], dtype=bool)
        inside.setflags(write=False)
        return OverRuleResult(
            status="all_overlap",
            message=(
                "No row has an extreme propensity, so the overlap region is every row and no "
                "rule was needed."
            ),
            rules=(),
            rule_coverage=(),
            seconds=0.0,
            inside=inside,
            share_inside=1.0,
            share_inside_gold=1.0,
            share_inside_preference=1.0,
            share_flagged_inside=float("nan"),
            **common,
        )
    payload = {
        "inputs": inputs,
        "columns": columns,
        "labels": overlapping,
        "config": dict(OVERRULE_CONFIG),
    }
    status, outcome, seconds = _run_in_subprocess(payload, timeout)
    if status != "ok":
        nan = float("nan")
        return OverRuleResult(
            status=status,
            message=outcome,
            rules=(),
            rule_coverage=(),
            seconds=seconds,
            inside=None,
            share_inside=nan,
            share_inside_gold=nan,
            share_inside_preference=nan,
            share_flagged_inside=nan,
            **common,
        )
    inside = np.asarray(outcome["inside"], dtype=bool)
    inside.setflags(write=False)
    rules = tuple(_rule_text(rule) for rule in outcome["rules"])
    coverage = tuple(float(_rule_mask(rule, inputs, columns).mean()) for rule in outcome["rules"])
    flagged_inside = float(inside[flagged].mean())
    if flagged_inside <= DESCRIBES_GAP:
        message = (
            f"The {len(rules)} rule(s) leave out {1 - flagged_inside:.0%} of the "
            f"{int(flagged.sum())} rows the propensity check flags as extreme: they describe "
            "where gold and preference rows overlap."
        )
    else:
        message = (
            f"The rule(s) still hold {flagged_inside:.0%} of the {int(flagged.sum())} rows the "
            f"propensity check flags as extreme: on {_list(columns)} the extreme rows cannot be "
            "told apart, so the gap lies along directions these inputs do not carry. Trust the "
            "propensity check, which sees every feature."
        )
    return OverRuleResult(
        status="rules",
        message=message,
        rules=rules,
        rule_coverage=coverage,
        seconds=seconds,
        inside=inside,
        share_inside=float(inside.mean()),
        share_inside_gold=float(inside[gold].mean()),
        share_inside_preference=float(inside[~gold].mean()),
        share_flagged_inside=flagged_inside,
        **common,
    )


def _list(names) -> str:
    names = [str(n) for n in names]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _rule_text(rule) -> str:
    return " and ".join(f"{f} {op} {v:.3f}" if op else str(f) for f, op, v in rule)


_OPS = {
    "<=": np.less_equal,
    "<": np.less,
    ">": np.greater,
    ">=": np.greater_equal,
    "==": np.equal,
}


def _rule_mask(rule, inputs: np.ndarray, columns: list[str]) -> np.ndarray:
    mask = np.ones(inputs.shape[0], dtype=bool)
    for f, op, v in rule:
        mask &= _OPS[op](inputs[:, columns.index(f)], v)
    return mask


def worker_path() -> list[str]:
    """Directories the OverRule process appends to its isolated import path.

    The process runs with ``python -I``: its import path is the interpreter's own (standard
    library, site-packages and the ``.pth`` files there, which include an editable install of
    this package), without the working directory, the script's directory, ``PYTHONPATH`` or the
    user's site-packages. Appended after those: the caller's absolute ``sys.path`` entries
    (where dependencies found through ``PYTHONPATH`` live) and the directory holding the
    ``metarouter_econml`` package (computed from its ``__file__``), except the caller's working
    directory and relative entries such as ``""``, which name it. Appended last, no entry can
    shadow a module the interpreter finds itself.
    """
    cwd = os.path.realpath(os.getcwd())
    package_root = str(Path(__file__).resolve().parents[2])
    entries = []
    for entry in [*sys.path, package_root]:
        if not isinstance(entry, str) or not os.path.isabs(entry):
            continue
        if os.path.realpath(entry) == cwd or entry in entries:
            continue
        entries.append(entry)
    return entries


def _run_in_subprocess(payload: dict, timeout: float) -> tuple[str, Any, float]:
    """Run ``_overrule_worker.py`` in a fresh, isolated Python process, killed after ``timeout``.

    A plain subprocess, not ``multiprocessing``: the "spawn" start method re-imports the
    caller's ``__main__`` script (running a script without an ``if __name__ == "__main__"``
    guard twice), and "fork" after the propensity model's thread pools have started can
    deadlock (GNU OpenMP is not fork-safe).

    The caller's working directory can hold anything (``metarouter report`` is run in a data
    folder), so the process must not import from it: it is started as ``python -I`` (isolated
    mode: neither the working directory nor the script's directory is put on ``sys.path``) on
    the worker's file, which appends :func:`worker_path` to its import path before importing
    anything but the standard library; its working directory is a fresh private temporary
    directory.

    Returns ``("ok", result, seconds)``, or ``("timeout" | "error", message, seconds)``.
    """
    start = time.perf_counter()
    script = str(Path(__file__).resolve().with_name("_overrule_worker.py"))
    # a single-threaded worker: at these sizes thread pools only add start-up overhead
    env = dict(os.environ)
    env.update(OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    try:
        with tempfile.TemporaryDirectory(prefix="metarouter-overrule-") as tmp:
            in_path, out_path = os.path.join(tmp, "in.pkl"), os.path.join(tmp, "out.pkl")
            with open(in_path, "wb") as handle:
                pickle.dump(payload, handle)
            proc = subprocess.Popen(
                [sys.executable, "-I", script, in_path, out_path, json.dumps(worker_path())],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                cwd=tmp,
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
