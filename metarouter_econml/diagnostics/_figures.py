"""The figures of the diagnostic report (:class:`ReportFigure`), drawn as PNG with matplotlib.

matplotlib is imported only when drawing, through ``matplotlib.figure.Figure`` (no pyplot, no
change of the global backend).
"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass, field

import numpy as np

from ._display import OverlapDisplay, ProjectionDisplay
from ._overlap_result import OverlapResult
from ._overrule import principal_components
from ._refute import RefutationResult

__all__ = ["ReportFigure", "draw_figures"]


@dataclass(frozen=True, eq=False)
class ReportFigure:
    """One figure of a :class:`DiagnosticReport`, rendered as PNG.

    Attributes
    ----------
    name : str
        Short identifier (``"propensity"``, ``"projection"``, ``"bias"``, ``"refutation"``).
    title : str
        Heading shown above the figure.
    caption : str
        What the figure shows and how to read it.
    png : bytes
        The PNG image.
    """

    name: str
    title: str
    caption: str
    png: bytes = field(repr=False)

    @property
    def data_uri(self) -> str:
        """The image as a ``data:image/png;base64,...`` URI (for self-contained HTML)."""
        return "data:image/png;base64," + base64.b64encode(self.png).decode("ascii")

    def _repr_png_(self) -> bytes:  # shown inline by Jupyter
        return self.png


def _new_axes(width: float = 7.0, height: float = 4.0):
    from matplotlib.figure import Figure  # lazy; no pyplot, no global backend change

    figure = Figure(figsize=(width, height), layout="constrained")
    return figure, figure.add_subplot()


def _png(figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100, metadata={"Software": None})
    return buffer.getvalue()


def draw_figures(
    overlap: OverlapResult,
    X: np.ndarray,
    gold: np.ndarray,
    bias: np.ndarray,
    refutations: RefutationResult | None,
    random_state,
) -> list[ReportFigure]:
    """The report's figures: propensities, projection (2+ features), bias, refuted estimates.

    Inputs are validated arrays: the displays are built directly, not through their
    ``from_*`` constructors, which would validate them again.
    """
    out = []
    figure, ax = _new_axes()
    OverlapDisplay(
        propensity=overlap.propensity, gold=gold, bounds=overlap.bounds, base_rate=overlap.base_rate
    ).plot(ax=ax)
    ax.set_title("Cross-fitted P(gold | x) by source", fontsize="medium")
    out.append(
        ReportFigure(
            "propensity",
            "Propensity of the gold-standard source",
            "Histograms of the cross-fitted P(gold | x) of gold-standard and preference rows "
            "(log scale). Rows in the shaded regions lie where one source is (almost) never "
            "seen; with good overlap both histograms sit around the dashed base rate.",
            _png(figure),
        )
    )
    if X.shape[1] >= 2:
        figure, ax = _new_axes()
        scores, pca, _ = principal_components(X, 2, standardize=False, random_state=random_state)
        ProjectionDisplay(
            components=scores,
            gold=gold,
            explained_variance_ratio=tuple(float(v) for v in pca.explained_variance_ratio_),
            standardized=False,
        ).plot(ax=ax)
        out.append(
            ReportFigure(
                "projection",
                "Rows on the first two principal components",
                "Each dot is a row, coloured by source. Regions with preference rows but no "
                "gold-standard rows are where the bias estimate extrapolates.",
                _png(figure),
            )
        )
    figure, ax = _new_axes()
    edges = np.histogram_bin_edges(bias, bins=30)
    for mask, label, color in (
        (~gold, f"preference-based (n={int((~gold).sum())})", "tab:blue"),
        (gold, f"gold-standard (n={int(gold.sum())})", "tab:orange"),
    ):
        ax.hist(
            bias[mask],
            bins=edges,
            density=True,
            alpha=0.45,
            color=color,
            label=label,
            histtype="stepfilled",
        )
    ax.axvline(0.0, color="0.3", lw=1, ls=":")
    ax.set_xlabel("estimated bias (preference scale)")
    ax.set_ylabel("density")
    ax.legend(loc="best", fontsize="small")
    out.append(
        ReportFigure(
            "bias",
            "Estimated bias by source",
            "Distribution of the router's bias estimate (the correction added to preference "
            "labels) over gold-standard and preference rows. Very different shapes mean the "
            "correction of preference rows is read where few gold rows were seen.",
            _png(figure),
        )
    )
    if refutations is not None:
        names = list(refutations.simulations)
        figure, ax = _new_axes(height=1.2 + 0.7 * len(names))
        for i, name in enumerate(names):
            sims = refutations.simulations[name]
            ax.scatter(sims, np.full(sims.size, i), s=18, color="tab:blue", alpha=0.7)
        ax.axvline(refutations.estimate, color="tab:red", lw=1.5, label="original estimate")
        ax.axvline(0.0, color="0.3", lw=1, ls=":", label="zero")
        ax.set_yticks(range(len(names)), names)
        ax.set_ylim(-0.6, len(names) - 0.4)
        ax.set_xlabel("mean bias of each refit (preference scale)")
        ax.legend(loc="best", fontsize="small")
        out.append(
            ReportFigure(
                "refutation",
                "Refuted estimates",
                "Each dot is one refit under a refuter. Placebo refits should scatter around "
                "zero, away from the original estimate; the other refuters' refits should "
                "scatter around the original estimate.",
                _png(figure),
            )
        )
    return out
