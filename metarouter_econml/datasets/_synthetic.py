"""Synthetic routing data with a known truth (expected gold-standard gain and judge bias)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.utils import check_random_state

from .._validation import Int, Real
from ._container import RoutingDataset

__all__ = ["make_routing_data"]

#: Allowed values of ``bias`` and the documented formula of each (``z`` = standardised X).
_BIAS_FORMULAS = {
    "heterogeneous": "0.05 + 0.15*z0 - 0.25*z4 + 0.15*tanh(2*z5)",
    "nonlinear": "0.05 + 0.35*tanh(2*z0)*(z5 > 0) - 0.3*(z4 > 0.5)",
    "constant": "0.1",
    "regional": "0.05 + (0.15*z0 - 0.4*z4)*(z5 < 0)",
    "none": "0",
}
_PSI_FORMULA = "0.15 + 0.35*tanh(1.5*z0) + 0.25*z1*(z2 > 0) - 0.15*(z3 > 1.0)"


def _true_gain(z: np.ndarray) -> np.ndarray:
    """Return the expected gold-standard gain psi of the standardised features."""
    return (
        0.15
        + 0.35 * np.tanh(1.5 * z[:, 0])
        + 0.25 * z[:, 1] * (z[:, 2] > 0)
        - 0.15 * (z[:, 3] > 1.0)
    )


def _true_bias(z: np.ndarray, bias: str) -> np.ndarray:
    """Return the bias delta = psi - eta of the preference judge, on the gold scale."""
    n_samples = z.shape[0]
    if bias == "heterogeneous":
        return 0.05 + 0.15 * z[:, 0] - 0.25 * z[:, 4] + 0.15 * np.tanh(2 * z[:, 5])
    if bias == "nonlinear":
        return 0.05 + 0.35 * np.tanh(2 * z[:, 0]) * (z[:, 5] > 0) - 0.3 * (z[:, 4] > 0.5)
    if bias == "constant":
        return np.full(n_samples, 0.1)
    if bias == "regional":
        return 0.05 + (0.15 * z[:, 0] - 0.4 * z[:, 4]) * (z[:, 5] < 0)
    return np.zeros(n_samples)


def make_routing_data(
    n_samples: int = 5000,
    n_features: int = 50,
    *,
    bias: str = "heterogeneous",
    gold_noise: float = 0.8,
    preference_noise: float = 0.5,
    preference_scale: float = 2.0,
    random_state: Any = None,
) -> RoutingDataset:
    """Generate routing data with a known gain and a known judge bias.

    Mimics the Meta-Router paper's setting (Zhang et al., arXiv 2509.25535): queries
    described by principal components of an embedding, a noisy gold-standard (GS) gain
    of the primary model over the alternative, and a preference-based (PB) label from a
    judge whose signal is biased and lives on another scale. Every row gets both labels;
    `RoutingDataset.split` then decides which rows are seen as GS and which as PB.

    Parameters
    ----------
    n_samples : int, default=5000
        Number of queries, at least 10 (the paper's HealthBench data have 5,000).
    n_features : int, default=50
        Number of principal-component features, at least 6 (the truth uses the first 6).
    bias : {"heterogeneous", "nonlinear", "constant", "regional", "none"}, default="heterogeneous"
        Shape of the bias ``delta`` of the PB judge; see Notes.
    gold_noise : float, default=0.8
        Standard deviation of the noise of the GS gain, finite and >= 0.
    preference_noise : float, default=0.5
        Standard deviation of the noise of the judge, on the gold scale, finite and >= 0.
    preference_scale : float, default=2.0
        Factor putting the PB labels on their own scale, finite and > 0.
    random_state : int, numpy.random.RandomState or None, default=None
        Seed, passed to `sklearn.utils.check_random_state`. The same seed gives the same
        dataset.

    Returns
    -------
    RoutingDataset
        Features ``pc1``, ..., ``pc{n_features}``, labels ``gold_gain`` and
        ``preference_label``, the truth ``psi`` and ``delta`` (gold scale), with
        ``name="synthetic"`` and a ``description`` stating formulas and parameters.

    Raises
    ------
    TypeError
        If a count is not an int or a noise/scale is not a real number.
    ValueError
        If ``n_samples < 10``, ``n_features < 6``, ``bias`` is not an allowed value, a
        noise is negative or not finite, or ``preference_scale`` is not finite and > 0.

    See Also
    --------
    RoutingDataset.split : Draw test, GS and PB rows.

    Notes
    -----
    Features look like PCA scores: ``X[:, j] ~ N(0, s_j**2)`` independently, with
    ``s_j = 1 / sqrt(j + 1)`` for ``j = 0, ..., n_features - 1``, so the leading
    components carry most variance. With the standardised features ``z_j = X[:, j] / s_j``
    the expected GS gain is

    .. code-block:: text

        psi = 0.15 + 0.35*tanh(1.5*z0) + 0.25*z1*(z2 > 0) - 0.15*(z3 > 1.0)

    (nonlinear, mean about 0.13). The judge's signal on the gold scale is
    ``eta = psi - delta``, with the bias ``delta`` chosen by ``bias``:

    - ``"heterogeneous"``: ``delta = 0.05 + 0.15*z0 - 0.25*z4 + 0.15*tanh(2*z5)``. The
      judge under-rates the primary's gain where ``psi`` is high (``z0``) and over-rates it on
      another query type (``z4``): the bias changes the ranking of queries, so naive pooling
      routes worse than it could, but the bias is simple enough to be learnt from about 100 GS
      rows.
    - ``"nonlinear"``: ``delta = 0.05 + 0.35*tanh(2*z0)*(z5 > 0) - 0.3*(z4 > 0.5)``.
    - ``"constant"``: ``delta = 0.1`` (a global mean shift suffices to remove it).
    - ``"regional"``: ``delta = 0.05 + (0.15*z0 - 0.4*z4)*(z5 < 0)``. The judge is biased on
      one kind of query only (``z5 < 0``, i.e. ``pc6 < 0``), where it under-rates the primary's
      gain where ``psi`` is high and over-rates it on another query type; on the other kind it
      is unbiased up to a constant. With ``split(..., gold_from=lambda X: X["pc6"] < 0)`` (GS
      labels collected only where the judge was suspected) the bias is unidentified on
      ``pc6 >= 0``: a CATE model fitted on the GS side extrapolates its correction to queries
      the judge labelled well, which the truncated Meta-Router (``overlap="trim"``) avoids.
    - ``"none"``: ``delta = 0``.

    The labels of every row are

    .. code-block:: text

        gold_gain        = psi + N(0, gold_noise**2)
        preference_label = preference_scale * (psi - delta + N(0, preference_noise**2))

    so the PB labels live on another scale than the GS labels, which is why the
    Meta-Router rescales GS labels before pooling. All randomness comes from one
    generator, drawn in a fixed order: the standardised features (an
    ``(n_samples, n_features)`` block), then the GS noise, then the PB noise.

    Examples
    --------
    >>> import numpy as np
    >>> from metarouter_econml.datasets import make_routing_data
    >>> data = make_routing_data(n_samples=200, n_features=8, random_state=0)
    >>> data
    RoutingDataset(name='synthetic', n_samples=200, n_features=8, psi=known, delta=known)
    >>> data.feature_names[:3]
    ['pc1', 'pc2', 'pc3']
    >>> exact = make_routing_data(n_samples=200, n_features=8, gold_noise=0.0,
    ...                           preference_noise=0.0, random_state=0)
    >>> bool(np.array_equal(exact.gold_gain, exact.psi))
    True
    >>> bool(np.allclose(exact.preference_label, 2.0 * (exact.psi - exact.delta)))
    True
    >>> make_routing_data(bias="random")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: `bias` must be one of ['heterogeneous', 'nonlinear', ...]; got 'random'.
    """
    n_samples = Int(low=10).check(n_samples, "n_samples")
    n_features = Int(low=6).check(n_features, "n_features")
    if not isinstance(bias, str) or bias not in _BIAS_FORMULAS:
        raise ValueError(f"`bias` must be one of {list(_BIAS_FORMULAS)!r}; got {bias!r}.")
    gold_noise = Real(low=0).check(gold_noise, "gold_noise")
    preference_noise = Real(low=0).check(preference_noise, "preference_noise")
    preference_scale = Real(low=0, low_open=True).check(preference_scale, "preference_scale")

    rng = check_random_state(random_state)
    scales = 1.0 / np.sqrt(np.arange(1, n_features + 1))
    X = rng.standard_normal((n_samples, n_features)) * scales
    gold_error = gold_noise * rng.standard_normal(n_samples)
    preference_error = preference_noise * rng.standard_normal(n_samples)

    # The truth is a function of the stored X: standardise it again rather than reuse the draw.
    z = X / scales
    psi = _true_gain(z)
    delta = _true_bias(z, bias)
    gold_gain = psi + gold_error
    preference_label = preference_scale * (psi - delta + preference_error)

    description = (
        f"Synthetic routing data (make_routing_data): n_samples={n_samples}, "
        f"n_features={n_features}, bias={bias!r}, gold_noise={gold_noise}, "
        f"preference_noise={preference_noise}, preference_scale={preference_scale}. "
        f"Features X[:, j] ~ N(0, s_j^2), s_j = 1/sqrt(j+1), columns pc1..pc{n_features}; "
        f"z_j = X[:, j] / s_j. psi = {_PSI_FORMULA}. delta = {_BIAS_FORMULAS[bias]}. "
        f"gold_gain = psi + N(0, {gold_noise}^2). preference_label = {preference_scale} * "
        f"(psi - delta + N(0, {preference_noise}^2))."
    )
    columns = [f"pc{j + 1}" for j in range(n_features)]
    return RoutingDataset(
        X=pd.DataFrame(X, columns=columns),
        gold_gain=gold_gain,
        preference_label=preference_label,
        psi=psi,
        delta=delta,
        name="synthetic",
        description=description,
    )
