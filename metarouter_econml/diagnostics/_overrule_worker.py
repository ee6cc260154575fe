"""The OverRule process: learn OverRule's overlap rules through DoWhy, run as a script.

:func:`~metarouter_econml.diagnostics._overrule.run_overrule` starts this file as a script in a
separate, isolated Python process (``python -I <this file> <inputs> <output> <import path>``).
It imports nothing from ``metarouter_econml``: the process needs only the standard library,
numpy, pandas and DoWhy, so it runs with an import path that the caller's working directory is
not on.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import pickle
import sys
import warnings
from typing import Any

__all__ = ["fit_overrule", "main"]


def main(argv: list[str]) -> None:
    """Read the inputs, learn the rules, write ``("ok", result)`` or ``("error", message)``.

    Parameters
    ----------
    argv : list of str
        ``[input pickle, output pickle, import path]``; the import path (a JSON list of
        directories, optional) is appended to ``sys.path`` before the inputs are unpickled.
        The output is written to a ``.part`` file first and renamed, so a complete output
        file means the process finished.
    """
    in_path, out_path = argv[0], argv[1]
    if len(argv) > 2:
        sys.path.extend(p for p in json.loads(argv[2]) if p not in sys.path)
    outcome: tuple[str, Any]
    try:
        with open(in_path, "rb") as handle:
            payload = pickle.load(handle)
    except Exception as exc:
        outcome = (
            "error",
            f"could not load its inputs: {type(exc).__name__}: {exc}",
        )
    else:
        try:
            outcome = ("ok", fit_overrule(**payload))
        except Exception as exc:
            outcome = ("error", f"{type(exc).__name__}: {exc}")
    with open(out_path + ".part", "wb") as handle:
        pickle.dump(outcome, handle)
    os.replace(out_path + ".part", out_path)


def fit_overrule(inputs, columns, labels, config) -> dict:
    """Learn rules describing the rows labelled overlapping: DoWhy's OverRule rule learner.

    Uses ``BCSRulesetEstimator`` of ``dowhy.causal_refuters.overrule.ruleset`` configured as
    DoWhy's ``OverruleAnalyzer`` configures it for overlap rules (``n_ref_multiplier=0``, the
    settings of an ``OverlapConfig``), fitted on the given labels instead of labels from a
    propensity model of its own. ``rules(as_str=False)`` gives the rules as
    ``(feature, operator, value)`` atoms. DoWhy may print progress; it is swallowed.

    Parameters
    ----------
    inputs : ndarray of shape (n_samples, n_inputs)
        The columns the rules may use.
    columns : list of str
        Their names.
    labels : ndarray of bool, shape (n_samples,)
        True for the rows to describe (those inside the overlap region).
    config : dict
        OverRule's search settings, passed to DoWhy's ``OverlapConfig``.

    Returns
    -------
    dict
        ``rules`` (list of lists of ``(feature, operator, value)``) and ``inside`` (bool array:
        rows inside the rules).
    """
    from dataclasses import asdict

    import numpy as np
    import pandas as pd
    from dowhy.causal_refuters.assess_overlap_overrule import OverlapConfig
    from dowhy.causal_refuters.overrule.ruleset import BCSRulesetEstimator

    frame = pd.DataFrame(np.asarray(inputs, dtype=np.float64), columns=list(columns))
    target = np.asarray(labels, dtype=bool).astype(np.int64)
    learner = BCSRulesetEstimator(
        n_ref_multiplier=0.0, silent=True, verbose=False, **asdict(OverlapConfig(**config))
    )
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        learner.fit(frame, target)
        inside = np.asarray(learner.predict(frame), dtype=bool)
    rules = [
        [(str(f), str(op), float(v)) for f, op, v in rule] for rule in learner.rules(as_str=False)
    ]
    return {"rules": rules, "inside": inside}


if __name__ == "__main__":
    main(sys.argv[1:])
