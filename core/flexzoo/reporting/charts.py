"""Charts as inline SVG (matplotlib, Agg backend): nothing fetched when the page is viewed."""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence

__all__ = ["bars_before_after", "confusion_matrix", "curves"]


def _svg(figure: object) -> str:
    import matplotlib.pyplot as plt

    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", bbox_inches="tight",  # type: ignore[attr-defined]
                   metadata={"Date": None, "Creator": None})  # no time stamp: the same report twice is the same
    plt.close(figure)  # type: ignore[arg-type]
    text = buffer.getvalue()
    return text[text.index("<svg"):]  # drop the XML prologue and DOCTYPE: the SVG sits inside HTML


def _figure(width: float = 4.5, height: float = 3.0) -> tuple[object, object]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams["svg.hashsalt"] = "flexzoo"  # the same report gives the same SVG ids
    return plt.subplots(figsize=(width, height))


def curves(title: str, series: Mapping[str, Sequence[float]], xlabel: str = "epoch") -> str:
    """One line per series over epochs 1..N."""
    figure, axes = _figure()
    for label, values in series.items():
        axes.plot(range(1, len(values) + 1), values, marker="o", label=label)  # type: ignore[attr-defined]
    axes.set_title(title)  # type: ignore[attr-defined]
    axes.set_xlabel(xlabel)  # type: ignore[attr-defined]
    axes.legend()  # type: ignore[attr-defined]
    axes.grid(alpha=0.3)  # type: ignore[attr-defined]
    return _svg(figure)


def confusion_matrix(title: str, matrix: Sequence[Sequence[int]]) -> str:
    """Counts of (true class, predicted class), annotated."""
    figure, axes = _figure(4.2, 3.8)
    size = len(matrix)
    image = axes.imshow(matrix, cmap="Blues")  # type: ignore[attr-defined]
    figure.colorbar(image)  # type: ignore[attr-defined]
    top = max((max(row) for row in matrix), default=0)
    for i in range(size):
        for j in range(size):
            axes.text(j, i, str(matrix[i][j]), ha="center", va="center", fontsize=7,  # type: ignore[attr-defined]
                      color="white" if matrix[i][j] > top / 2 else "black")
    axes.set(title=title, xlabel="predicted", ylabel="true", xticks=range(size), yticks=range(size))  # type: ignore
    return _svg(figure)


def bars_before_after(title: str, values: Mapping[str, tuple[float, float]], unit: str = "") -> str:
    """Pairs of bars, before and after, one pair per label."""
    figure, axes = _figure()
    labels = list(values)
    positions = range(len(labels))
    axes.bar([p - 0.2 for p in positions], [values[k][0] for k in labels], 0.4, label="before")  # type: ignore
    axes.bar([p + 0.2 for p in positions], [values[k][1] for k in labels], 0.4, label="after")  # type: ignore
    axes.set_xticks(list(positions), labels)  # type: ignore[attr-defined]
    axes.set_title(title)  # type: ignore[attr-defined]
    axes.set_ylabel(unit)  # type: ignore[attr-defined]
    axes.legend()  # type: ignore[attr-defined]
    return _svg(figure)
