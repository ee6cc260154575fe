"""Containers for routing data: a labelled dataset and one train/test split of it.

`RoutingDataset` follows the layout of the file released with the Meta-Router paper
(Zhang et al., arXiv 2509.25535): one row per query, features, the gold-standard (GS) gain
of the primary model over the alternative (``GL``) and the preference-based (PB) label
(``PL``) for every row. `RoutingDataset.split` draws the paper's protocol: a test set, a
small GS training set and a PB training set made of all remaining rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.utils import check_random_state

from .._validation import Int

__all__ = ["RoutingDataset", "RoutingSplit"]

#: Column names that `RoutingDataset.to_frame` adds; features may not use them.
_LABEL_COLUMNS = ("gold_gain", "preference_label", "psi", "delta")


def _read_only(array: np.ndarray) -> np.ndarray:
    """Return ``array`` after marking it read-only (the caller owns a fresh copy)."""
    array.setflags(write=False)
    return array


def _as_float_vector(name: str, value: Any, n_rows: int) -> np.ndarray:
    """Validate a 1-D finite numeric vector with ``n_rows`` entries; return a read-only copy."""
    array = np.asarray(value)
    if array.dtype.kind not in "biuf":
        raise TypeError(f"`{name}` must hold numbers; got an array of dtype {array.dtype}.")
    if array.ndim != 1:
        raise ValueError(f"`{name}` must be one-dimensional; got an array of shape {array.shape}.")
    if array.shape[0] != n_rows:
        raise ValueError(
            f"`{name}` must have one entry per row of `X`; got {array.shape[0]} entries "
            f"for {n_rows} rows."
        )
    array = np.array(array, dtype=np.float64, copy=True)
    n_bad = int(np.count_nonzero(~np.isfinite(array)))
    if n_bad:
        raise ValueError(f"`{name}` must be finite; got {n_bad} NaN or infinite value(s).")
    return _read_only(array)


def _validate_features(X: Any) -> pd.DataFrame:
    """Validate the feature frame and return a deep copy of it."""
    if not isinstance(X, pd.DataFrame):
        raise TypeError(f"`X` must be a pandas DataFrame; got {type(X).__name__}.")
    if X.shape[0] < 1 or X.shape[1] < 1:
        raise ValueError(f"`X` must have at least 1 row and 1 column; got shape {X.shape}.")
    names = list(X.columns)
    not_str = [name for name in names if not isinstance(name, str)]
    if not_str:
        raise TypeError(
            f"`X` must have string column names; got non-string name(s) {not_str[:5]!r}."
        )
    duplicated = sorted(set(X.columns[X.columns.duplicated()]))
    if duplicated:
        raise ValueError(f"`X` must have unique column names; got duplicates {duplicated!r}.")
    reserved = [name for name in names if name in _LABEL_COLUMNS]
    if reserved:
        raise ValueError(
            f"`X` must not use the label column names {list(_LABEL_COLUMNS)!r}; got {reserved!r}."
        )
    not_numeric = [name for name in names if not pd.api.types.is_numeric_dtype(X[name])]
    if not_numeric:
        raise TypeError(
            f"`X` must have numeric columns; got non-numeric column(s) {not_numeric[:5]!r}."
        )
    values = X.to_numpy(dtype=np.float64, na_value=np.nan)
    bad = ~np.isfinite(values)
    if bad.any():
        columns = [names[j] for j in np.flatnonzero(bad.any(axis=0))]
        raise ValueError(
            f"`X` must be finite; got {int(bad.sum())} NaN or infinite value(s) in "
            f"column(s) {columns[:5]!r}."
        )
    return X.copy(deep=True)


def freeze_row_arrays(owner: Any, groups: tuple[tuple[tuple[str, ...], str], ...]) -> None:
    """Replace each named array of a frozen split by a read-only copy, checking its length.

    ``groups`` pairs attribute names with the frame whose rows they follow (``"X_train"`` or
    ``"X_test"``); None values are left alone. ``gold_train`` must also be a boolean mask.
    """
    for names, frame in groups:
        n_rows = len(getattr(owner, frame))
        for name in names:
            value = getattr(owner, name)
            if value is None:
                continue
            array = np.array(value, copy=True)
            if array.shape != (n_rows,):
                raise ValueError(
                    f"`{name}` must have one entry per row of `{frame}`; got shape "
                    f"{array.shape} for {n_rows} rows."
                )
            if name == "gold_train" and array.dtype != np.bool_:
                raise TypeError(f"`gold_train` must be a boolean mask; got dtype {array.dtype}.")
            object.__setattr__(owner, name, _read_only(array))


class _GoldCounts:
    """``n_gold`` and ``n_preference`` of a split with a ``gold_train`` mask."""

    gold_train: np.ndarray

    @property
    def n_gold(self) -> int:
        """Number of gold-standard training rows (queries)."""
        return int(np.count_nonzero(self.gold_train))

    @property
    def n_preference(self) -> int:
        """Number of preference-based training rows (queries)."""
        return int(self.gold_train.shape[0] - self.n_gold)


@dataclass(frozen=True, eq=False)
class RoutingSplit(_GoldCounts):
    """One train/test split of a `RoutingDataset` (the paper's evaluation protocol).

    Training rows are either gold-standard (GS) rows, which carry the GS gain, or
    preference-based (PB) rows, which carry the PB label. Both label columns of every
    training row are kept too, so an all-gold oracle can be fitted on the same rows.
    Arrays are read-only.

    Parameters
    ----------
    X_train : pandas.DataFrame
        Features of the training rows (index labels taken from the dataset's ``X``).
    y_train : numpy.ndarray of shape (n_train,)
        The label each training row is observed with: the GS gain on GS rows, the PB
        label on PB rows.
    gold_train : numpy.ndarray of bool, shape (n_train,)
        True for GS training rows.
    X_test : pandas.DataFrame
        Features of the test rows.
    gain_test : numpy.ndarray of shape (n_test,)
        GS gains of the test rows (what an evaluation curve sums).
    psi_test : numpy.ndarray of shape (n_test,) or None
        True expected GS gains of the test rows, when the dataset knows them.
    gold_gain_train : numpy.ndarray of shape (n_train,)
        GS gain of every training row (for the all-gold oracle).
    preference_label_train : numpy.ndarray of shape (n_train,)
        PB label of every training row.
    train_index : numpy.ndarray of int, shape (n_train,)
        Positions of the training rows in the dataset, increasing.
    test_index : numpy.ndarray of int, shape (n_test,)
        Positions of the test rows in the dataset, increasing.

    See Also
    --------
    RoutingDataset.split : Draw a split.

    Examples
    --------
    >>> from metarouter_econml.datasets import make_routing_data
    >>> data = make_routing_data(n_samples=100, n_features=6, random_state=0)
    >>> split = data.split(n_test=20, n_gold=10, random_state=0)
    >>> split.X_train.shape, split.X_test.shape
    ((80, 6), (20, 6))
    >>> split.n_gold, split.n_preference
    (10, 70)
    """

    X_train: pd.DataFrame
    y_train: np.ndarray
    gold_train: np.ndarray
    X_test: pd.DataFrame
    gain_test: np.ndarray
    psi_test: np.ndarray | None
    gold_gain_train: np.ndarray
    preference_label_train: np.ndarray
    train_index: np.ndarray
    test_index: np.ndarray

    def __post_init__(self) -> None:
        freeze_row_arrays(
            self,
            (
                (
                    (
                        "y_train",
                        "gold_train",
                        "gold_gain_train",
                        "preference_label_train",
                        "train_index",
                    ),
                    "X_train",
                ),
                (("gain_test", "psi_test", "test_index"), "X_test"),
            ),
        )

    def __repr__(self) -> str:
        return (
            f"RoutingSplit(n_train={len(self.X_train)}, n_gold={self.n_gold}, "
            f"n_preference={self.n_preference}, n_test={len(self.X_test)})"
        )


@dataclass(frozen=True, eq=False)
class RoutingDataset:
    """Queries with a gold-standard gain and a preference-based label for every row.

    The layout of the data file released with the Meta-Router paper: one row per query,
    its features (there, 50 principal components of a query embedding), the
    gold-standard (GS) gain of the primary model over the alternative (``GL``) and the
    preference-based (PB) label (``PL``). Synthetic data also carry the truth: the
    expected GS gain ``psi`` and the bias ``delta = psi - eta`` of the PB judge, both on
    the gold scale.

    The dataset owns its data: ``X`` is deep-copied and the arrays are float64 read-only
    copies, so later changes to the inputs do not reach it. Treat ``X`` as read-only too.

    Parameters
    ----------
    X : pandas.DataFrame of shape (n_samples, n_features)
        Features, numeric and finite, with unique string column names. The names
        ``"gold_gain"``, ``"preference_label"``, ``"psi"`` and ``"delta"`` are reserved.
    gold_gain : array-like of shape (n_samples,)
        GS gain of the primary over the alternative model, for every row.
    preference_label : array-like of shape (n_samples,)
        PB label of every row.
    psi : array-like of shape (n_samples,) or None, default=None
        True expected GS gain, when known.
    delta : array-like of shape (n_samples,) or None, default=None
        True bias (expected GS gain minus the PB judge's signal on the gold scale), when
        known.
    name : str, default="routing"
        Short name.
    description : str, default=""
        Free text: origin, generating formulas.

    Raises
    ------
    TypeError
        If ``X`` is not a DataFrame, has non-string column names or non-numeric columns,
        or a label array is not numeric.
    ValueError
        If a label array is not 1-D, has the wrong length or holds NaN/infinite values;
        if ``X`` is empty, holds NaN/infinite values, has duplicate or reserved column
        names.

    See Also
    --------
    make_routing_data : Synthetic dataset with a known truth.

    Examples
    --------
    >>> import numpy as np
    >>> import pandas as pd
    >>> from metarouter_econml.datasets import RoutingDataset
    >>> X = pd.DataFrame({"pc1": np.arange(10.0), "pc2": np.ones(10)})
    >>> data = RoutingDataset(X, gold_gain=np.linspace(-1, 1, 10),
    ...                       preference_label=np.linspace(-2, 2, 10))
    >>> data
    RoutingDataset(name='routing', n_samples=10, n_features=2, psi=unknown, delta=unknown)
    >>> len(data), data.n_features, data.feature_names
    (10, 2, ['pc1', 'pc2'])
    >>> data.gold_gain.flags.writeable
    False
    >>> data.to_frame().columns.tolist()
    ['pc1', 'pc2', 'gold_gain', 'preference_label']
    >>> split = data.split(n_test=3, n_gold=2, random_state=0)
    >>> split.test_index.tolist(), split.n_gold, split.n_preference
    ([2, 4, 8], 2, 5)
    """

    X: pd.DataFrame
    gold_gain: np.ndarray
    preference_label: np.ndarray
    psi: np.ndarray | None = None
    delta: np.ndarray | None = None
    name: str = "routing"
    description: str = ""

    def __post_init__(self) -> None:
        X = _validate_features(self.X)
        n_rows = X.shape[0]
        object.__setattr__(self, "X", X)
        for field in ("gold_gain", "preference_label", "psi", "delta"):
            value = getattr(self, field)
            if value is None and field in ("psi", "delta"):
                continue
            object.__setattr__(self, field, _as_float_vector(field, value, n_rows))
        for field in ("name", "description"):
            value = getattr(self, field)
            if not isinstance(value, str):
                raise TypeError(f"`{field}` must be a str; got {type(value).__name__}.")

    def __len__(self) -> int:
        return int(self.X.shape[0])

    @property
    def n_features(self) -> int:
        """Number of feature columns."""
        return int(self.X.shape[1])

    @property
    def feature_names(self) -> list[str]:
        """Feature column names, in order."""
        return [str(name) for name in self.X.columns]

    def __repr__(self) -> str:
        psi = "known" if self.psi is not None else "unknown"
        delta = "known" if self.delta is not None else "unknown"
        return (
            f"RoutingDataset(name={self.name!r}, n_samples={len(self)}, "
            f"n_features={self.n_features}, psi={psi}, delta={delta})"
        )

    def to_frame(self) -> pd.DataFrame:
        """Return features and labels as one new DataFrame.

        Returns
        -------
        pandas.DataFrame
            The feature columns followed by ``gold_gain``, ``preference_label`` and, when
            known, ``psi`` and ``delta``. It shares no data with the dataset.
        """
        frame = self.X.copy(deep=True)
        for field in _LABEL_COLUMNS:
            value = getattr(self, field)
            if value is not None:
                frame[field] = np.array(value, copy=True)
        return frame

    def _gold_eligibility(self, gold_from: Any, n_gold: int) -> np.ndarray:
        """Validate ``gold_from`` (a mask or a callable returning one); return the mask."""
        n_rows = len(self)
        mask = gold_from(self.X.copy(deep=True)) if callable(gold_from) else gold_from
        source = "returned by the `gold_from` callable" if callable(gold_from) else "given"
        array = np.asarray(mask)
        if array.dtype != np.bool_:
            raise TypeError(
                f"`gold_from` must be a boolean mask over the rows (or a callable returning one); "
                f"the mask {source} has dtype {array.dtype}."
            )
        if array.shape != (n_rows,):
            raise ValueError(
                f"`gold_from` must have one entry per row of the dataset ({n_rows}); the mask "
                f"{source} has shape {array.shape}."
            )
        n_eligible = int(array.sum())
        if n_eligible < n_gold:
            raise ValueError(
                f"`gold_from` must allow at least n_gold={n_gold} rows to become gold-standard "
                f"rows; got {n_eligible} eligible row(s)."
            )
        return np.array(array, dtype=bool, copy=True)

    def split(
        self, *, n_test: int, n_gold: int, random_state: Any = None, gold_from: Any = None
    ) -> RoutingSplit:
        """Draw test rows, gold-standard training rows and preference-based training rows.

        A random permutation of the rows is drawn; its first ``n_test`` entries are the
        test rows, the next ``n_gold`` the gold-standard (GS) training rows, and all other
        rows are preference-based (PB) training rows. Training and test rows are then put
        back in dataset order, so the split depends on the seed only.

        With ``gold_from``, only eligible rows can become GS rows: the GS rows are the first
        ``n_gold`` eligible rows of the permutation after the test rows. Test rows are still
        drawn from all rows, so the test set covers the whole query space, including the
        queries no GS label was collected on. This simulates a positivity violation (GS labels
        collected only on one kind of query), under which the bias of the PB judge cannot be
        estimated outside the eligible region.

        Parameters
        ----------
        n_test : int
            Number of test rows, at least 1.
        n_gold : int
            Number of GS training rows, at least 2.
        random_state : int, numpy.random.RandomState or None, default=None
            Seed, passed to `sklearn.utils.check_random_state`.
        gold_from : array-like of bool, callable or None, default=None
            Which rows may become GS rows. None: any non-test row (the paper's protocol).
            A boolean mask with one entry per row of the dataset, or a callable that takes
            a copy of the features ``X`` (a DataFrame) and returns such a mask, e.g.
            ``lambda X: X["pc1"] < 0``. With None, or a mask that is True everywhere, the
            split is the same as without it for the same seed.

        Returns
        -------
        RoutingSplit
            The split; ``y_train`` is the GS gain on GS rows and the PB label elsewhere.

        Raises
        ------
        TypeError
            If ``n_test`` or ``n_gold`` is not an int (bools are rejected), or ``gold_from``
            is (or returns) something other than a boolean mask.
        ValueError
            If ``n_test < 1``, ``n_gold < 2`` or fewer than 2 PB rows would remain
            (``n_test + n_gold + 2 > len(self)``); if the ``gold_from`` mask has the wrong
            length, or fewer than ``n_gold`` eligible rows remain outside the test rows.

        Examples
        --------
        >>> from metarouter_econml.datasets import make_routing_data
        >>> data = make_routing_data(n_samples=50, n_features=6, random_state=0)
        >>> split = data.split(n_test=10, n_gold=5, random_state=1)
        >>> len(split.train_index), len(split.test_index), split.n_gold
        (40, 10, 5)
        >>> bool((split.y_train[split.gold_train]
        ...       == data.gold_gain[split.train_index][split.gold_train]).all())
        True
        >>> data.split(n_test=40, n_gold=9)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: `n_test` + `n_gold` must leave at least 2 preference-based rows ...

        GS labels collected only on one kind of query (a positivity violation):

        >>> split = data.split(n_test=10, n_gold=5, random_state=1,
        ...                    gold_from=lambda X: X["pc1"] < 0)
        >>> bool((split.X_train["pc1"][split.gold_train] < 0).all())
        True
        >>> bool((split.X_test["pc1"] > 0).any())
        True
        """
        n_test = Int(low=1).check(n_test, "n_test")
        n_gold = Int(low=2).check(n_gold, "n_gold")
        n_rows = len(self)
        if n_test + n_gold + 2 > n_rows:
            raise ValueError(
                f"`n_test` + `n_gold` must leave at least 2 preference-based rows "
                f"(n_test + n_gold + 2 <= {n_rows} rows); got n_test={n_test} and "
                f"n_gold={n_gold}, which leave {n_rows - n_test - n_gold}."
            )
        eligible = None if gold_from is None else self._gold_eligibility(gold_from, n_gold)
        rng = check_random_state(random_state)
        order = rng.permutation(n_rows)
        test_index = np.sort(order[:n_test])
        if eligible is None:
            gold_index = order[n_test : n_test + n_gold]
        else:
            candidates = order[n_test:][eligible[order[n_test:]]]
            if candidates.size < n_gold:
                raise ValueError(
                    f"`gold_from` leaves {candidates.size} eligible row(s) outside the {n_test} "
                    f"test rows drawn with this seed; n_gold={n_gold} are needed. Allow more rows "
                    "or lower `n_gold` or `n_test`."
                )
            gold_index = candidates[:n_gold]
        train_index = np.sort(order[n_test:])
        gold_train = np.isin(train_index, gold_index)
        gold_gain_train = self.gold_gain[train_index]
        preference_label_train = self.preference_label[train_index]
        y_train = np.where(gold_train, gold_gain_train, preference_label_train)
        return RoutingSplit(
            X_train=self.X.iloc[train_index].copy(deep=True),
            y_train=y_train,
            gold_train=gold_train,
            X_test=self.X.iloc[test_index].copy(deep=True),
            gain_test=self.gold_gain[test_index],
            psi_test=None if self.psi is None else self.psi[test_index],
            gold_gain_train=gold_gain_train,
            preference_label_train=preference_label_train,
            train_index=train_index,
            test_index=test_index,
        )
