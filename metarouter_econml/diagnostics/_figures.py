"""The figures of the diagnostic report (:class:`ReportFigure`), drawn as PNG with matplotlib.

matplotlib is imported only when drawing, through ``matplotlib.figure.Figure`` (no pyplot, no
change of the global backend).
"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass, field

import numpy as np

from ._display import OverlapDisplay
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
        out.append(_projection_figure(overlap, X, gold, random_state))
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
    if refutations is not None and any(s.size for s in refutations.simulations.values()):
        out.append(_refutation_figure(refutations))
    return out


def _extreme(overlap: OverlapResult) -> np.ndarray:
    low, high = overlap.bounds
    return (overlap.propensity < low) | (overlap.propensity > high)


def _projection_figure(overlap: OverlapResult, X, gold, random_state) -> ReportFigure:
    """Rows on the feature along which gold rows are missing, or on two principal components.

    When positivity fails and uncovered preference rows exist, the x axis is the feature of
    ``overlap.uncovered`` (where the gap is) and the y axis the first principal component that
    is not mostly that feature; otherwise the first two principal components. Rows with an
    extreme propensity are outlined in red either way, and the caption says what is drawn.
    """
    figure, ax = _new_axes()
    extreme = _extreme(overlap)
    region = overlap.uncovered
    scores, pca, _ = principal_components(X, 2, standardize=False, random_state=random_state)
    shares = tuple(float(v) for v in pca.explained_variance_ratio_)
    if region is not None and not overlap.positivity_ok:
        k = 1 if abs(pca.components_[0, region.column]) > 0.7 else 0  # PC1 ~ the feature: PC2
        coords = np.column_stack([X[:, region.column], scores[:, k]])
        _scatter(ax, coords, gold, extreme, (region.feature, f"PC{k + 1} ({shares[k]:.1%})"))
        above = region.n_above >= region.n_rows / 2
        below = not above and region.n_below >= region.n_rows / 2
        if above or below:
            edge = region.gold_range[1] if above else region.gold_range[0]
            ax.axvline(edge, color="tab:red", lw=1, ls="--", label="edge of the gold rows")
            ax.legend(loc="best", fontsize="small")
            edge_text = (
                f" The dashed line is the {'largest' if above else 'smallest'} gold value of "
                f"{region.feature!r}: preference rows beyond it ({region.condition}) have no "
                "gold rows like them."
            )
        else:
            edge_text = (
                f" The uncovered rows lie inside the gold rows' range of {region.feature!r}, "
                "where gold rows are sparse."
            )
        ax.set_title(f"Rows on feature {region.feature!r}", fontsize="medium")
        title = f"Where gold rows are missing: feature {region.feature!r}"
        caption = (
            f"Each dot is a row: x is feature {region.feature!r}, the feature along which the "
            "uncovered preference rows differ most from the gold rows; y is principal component "
            f"{k + 1} of the centred features. Orange: gold-standard rows; blue: preference "
            "rows; red outline: rows whose P(gold | x) is extreme." + edge_text
        )
    else:
        labels = (f"PC1 ({shares[0]:.1%} of variance)", f"PC2 ({shares[1]:.1%} of variance)")
        _scatter(ax, scores, gold, extreme, labels)
        ax.set_title("Principal components of the centred features", fontsize="medium")
        title = "Rows on the first two principal components"
        flagged = int(extreme.sum())
        caption = (
            "Each dot is a row on the first two principal components of the centred features "
            f"({shares[0] + shares[1]:.0%} of their variance). Orange: gold-standard rows; blue: "
            "preference rows"
            + (f"; red outline: the {flagged} rows whose P(gold | x) is extreme" if flagged else "")
            + ". This view can show a gap along these two components only; the propensity "
            "check uses every feature"
            + (" and finds no row without gold rows like it." if not flagged else ".")
        )
    return ReportFigure("projection", title, caption, _png(figure))


def _scatter(ax, coords: np.ndarray, gold: np.ndarray, extreme: np.ndarray, labels) -> None:
    """Preference rows, then gold rows on top; rows with extreme propensity outlined in red."""
    ax.scatter(
        coords[~gold, 0],
        coords[~gold, 1],
        s=6,
        color="tab:blue",
        alpha=0.35,
        label=f"preference-based (n={int((~gold).sum())})",
    )
    ax.scatter(
        coords[gold, 0],
        coords[gold, 1],
        s=24,
        color="tab:orange",
        edgecolors="black",
        linewidths=0.4,
        alpha=0.9,
        label=f"gold-standard (n={int(gold.sum())})",
    )
    if extreme.any():
        ax.scatter(
            coords[extreme, 0],
            coords[extreme, 1],
            s=14,
            facecolors="none",
            edgecolors="tab:red",
            linewidths=0.6,
            label=f"extreme P(gold | x) (n={int(extreme.sum())})",
        )
    ax.set_xlabel(labels[0])
    ax.set_ylabel(labels[1])
    ax.legend(loc="best", fontsize="small")


def _refutation_figure(refutations: RefutationResult) -> ReportFigure:
    """Each refit's mean bias per refuter, with the tolerance band around the value tested."""
    table = refutations.table.set_index("refuter")
    names = [n for n, sims in refutations.simulations.items() if sims.size]
    figure, ax = _new_axes(height=2.2 + 0.75 * len(names))
    for i, name in enumerate(names):
        sims = refutations.simulations[name]
        tested = 0.0 if name == "placebo" else refutations.estimate
        tol = refutations.placebo_tolerance if name == "placebo" else refutations.tolerance
        ax.fill_betweenx(
            [i - 0.35, i + 0.35],
            tested - tol,
            tested + tol,
            color="0.85",
            lw=0,
            label="tolerance around the tested value" if i == 0 else None,
        )
        ax.scatter(
            sims,
            np.full(sims.size, i),
            s=18,
            color="tab:blue",
            alpha=0.7,
            label="one refit" if i == 0 else None,
        )
        ax.plot(
            [sims.mean()] * 2,
            [i - 0.3, i + 0.3],
            color="black",
            lw=2,
            label="mean of the refits" if i == 0 else None,
        )
    ax.axvline(refutations.estimate, color="tab:red", lw=1.5, label="original estimate")
    ax.axvline(0.0, color="0.3", lw=1, ls=":", label="zero")
    ticks = [
        f"{n} ({int(table.loc[n, 'n_simulations'])} refits, {table.loc[n, 'verdict']})"
        for n in names
    ]
    ax.set_yticks(range(len(names)), ticks)
    ax.set_ylim(-0.6, len(names) - 0.4)
    ax.set_xlabel("mean bias of each refit (preference scale)")
    figure.legend(loc="outside lower center", ncol=3, fontsize="small", frameon=False)
    caption = (
        "Each dot is one refit under a refuter (the label gives the number of refits and the "
        "verdict); the black tick is their mean. The grey band is the tolerance of the verdict "
        "rule around the value the refuter tests: zero for the placebo, the original estimate "
        "(red line) for the others. A refuter fails only when its mean lies outside its band "
        "and DoWhy's test rejects."
    )
    return ReportFigure("refutation", "Refuted estimates", caption, _png(figure))
