"""Reader for the data file format released with the Meta-Router paper (HealthBench).

The paper (Zhang et al., arXiv 2509.25535) released its HealthBench data as a CSV file with
one row per query: principal components of a query embedding in columns ``embd.PC1``,
``embd.PC2``, ..., the gold-standard gain in ``GL`` and the preference-based label in ``PL``
(its script reads ``1_PC50_varstd.csv``, with gold labels already rescaled to the PB scale).
"""

from __future__ import annotations

import errno
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd

from .._compat import read_csv_exact
from ._container import RoutingDataset

__all__ = ["load_paper_csv"]

_PC_COLUMN = re.compile(r"^embd\.PC(\d+)$")
_LABEL_COLUMNS = ("GL", "PL")


def _preview(columns: list[str], limit: int = 10) -> str:
    """Return the first ``limit`` column names, noting how many more there are."""
    shown = ", ".join(repr(column) for column in columns[:limit])
    more = len(columns) - limit
    return f"[{shown}{f', ... ({more} more)' if more > 0 else ''}]"


def _default_name(path: Path) -> str:
    """File name without ``.gz`` and ``.csv`` suffixes."""
    name = path.name
    for suffix in (".gz", ".csv"):
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
    return name or path.name


def load_paper_csv(path: str | os.PathLike[str], *, name: str | None = None) -> RoutingDataset:
    """Load a data file in the Meta-Router paper's released format as a `RoutingDataset`.

    The file has one row per query, features in columns ``embd.PC<k>`` (any number of
    them; the paper's HealthBench file has ``embd.PC1``..``embd.PC50``), the gold-standard
    (GS) gain in ``GL`` and the preference-based (PB) label in ``PL``. Other columns, such
    as an unnamed index column written by pandas or R, are ignored.

    Parameters
    ----------
    path : str or os.PathLike
        The CSV file; compression is inferred from the suffix (``.csv.gz`` is read as gzip).
    name : str or None, default=None
        Name of the dataset; None means the file name without ``.csv``/``.gz``.

    Returns
    -------
    RoutingDataset
        ``X`` with columns ``pc<k>`` from ``embd.PC<k>``, ordered by ``k`` numerically
        (``PC2`` before ``PC10``), ``gold_gain`` from ``GL``, ``preference_label`` from
        ``PL``; ``psi`` and ``delta`` None (the truth is unknown).

    Raises
    ------
    TypeError
        If ``path`` is not a str or path-like, or ``name`` not a str or None.
    FileNotFoundError
        If ``path`` is not an existing file.
    ValueError
        If the file is empty, lacks ``GL``, ``PL`` or any ``embd.PC<k>`` column, has two
        columns for the same ``k``, or a used column holds missing, non-numeric or infinite
        values (the message names the column and the count).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> import pandas as pd
    >>> from metarouter_econml.datasets import load_paper_csv
    >>> frame = pd.DataFrame({"embd.PC1": [0.1, -0.2, 0.3], "embd.PC2": [1.0, 0.0, -1.0],
    ...                       "GL": [0.5, -0.1, 0.0], "PL": [1.0, 0.0, -1.0]})
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     file = pathlib.Path(folder) / "healthbench.csv"
    ...     frame.to_csv(file)  # writes an unnamed index column too
    ...     data = load_paper_csv(file)
    >>> data
    RoutingDataset(name='healthbench', n_samples=3, n_features=2, psi=unknown, delta=unknown)
    >>> data.feature_names, data.gold_gain.tolist()
    (['pc1', 'pc2'], [0.5, -0.1, 0.0])
    """
    if isinstance(path, bool) or not isinstance(path, str | os.PathLike):
        raise TypeError(f"`path` must be a str or path-like; got {type(path).__name__} {path!r}.")
    if name is not None and not isinstance(name, str):
        raise TypeError(f"`name` must be a str or None; got {type(name).__name__} {name!r}.")
    path = Path(os.fspath(path))
    if not path.is_file():
        raise FileNotFoundError(
            errno.ENOENT, "`path` must be an existing CSV file; no such file", str(path)
        )
    try:
        frame = read_csv_exact(path)
    except pd.errors.EmptyDataError as exc:
        raise ValueError(
            f"`path` {str(path)!r} is empty; expected a CSV file with a header."
        ) from exc

    columns = [str(column) for column in frame.columns]
    frame.columns = columns
    components: dict[int, str] = {}
    for column in columns:
        match = _PC_COLUMN.match(column)
        if match is None:
            continue
        k = int(match.group(1))
        if k in components:
            raise ValueError(
                f"`path` {str(path)!r} has two columns for principal component {k}: "
                f"{components[k]!r} and {column!r}."
            )
        components[k] = column
    missing = [column for column in _LABEL_COLUMNS if column not in columns]
    if not components:
        missing.append("embd.PC<k>")
    if missing:
        raise ValueError(
            f"`path` {str(path)!r} must have the column(s) {missing} (features embd.PC1, "
            f"embd.PC2, ..., gold label GL, preference label PL); found {len(columns)} "
            f"column(s): {_preview(columns)}."
        )

    order = sorted(components)
    used = [components[k] for k in order] + list(_LABEL_COLUMNS)
    values: dict[str, np.ndarray] = {}
    problems = []
    for column in used:
        numeric = pd.to_numeric(frame[column], errors="coerce").to_numpy(
            dtype=np.float64, na_value=np.nan
        )
        n_bad = int(np.count_nonzero(~np.isfinite(numeric)))
        if n_bad:
            problems.append(f"{column!r} ({n_bad})")
        values[column] = numeric
    if problems:
        raise ValueError(
            f"`path` {str(path)!r} must hold finite numbers in its feature and label columns; "
            f"got missing, non-numeric or infinite values in column(s) (count): "
            f"{', '.join(problems[:10])}{' ...' if len(problems) > 10 else ''}."
        )

    X = pd.DataFrame({f"pc{k}": values[components[k]] for k in order})
    description = (
        f"Loaded from {str(path)!r} (format of the Meta-Router paper's released HealthBench "
        f"data): {len(order)} feature column(s) embd.PC<k> renamed pc<k>; gold_gain = GL "
        "(gold-standard gain), preference_label = PL (preference-based label). psi and delta "
        "unknown."
    )
    return RoutingDataset(
        X=X,
        gold_gain=values["GL"],
        preference_label=values["PL"],
        name=_default_name(path) if name is None else name,
        description=description,
    )
