"""Bar charts as PNG bytes, drawn with matplotlib's Agg backend (no display, no pyplot global state): a poll's
results (`bar_chart_png`) and the statistics of the web workspace (`labelled_bar_chart_png`)."""

from __future__ import annotations

import io
import textwrap
import warnings
from collections.abc import Sequence

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

BAR_COLOUR = "#1f6fb2"


def _safe(label: str) -> str:
    """Text as matplotlib shows it literally: a '$' would start mathtext."""
    return label.replace("$", r"\$")


def bar_chart_png(*, title: str, labels: Sequence[str], values: Sequence[int], subtitle: str = "") -> bytes:
    """A horizontal bar chart, one bar per label with its count and share, as a PNG."""
    total = sum(values)
    texts = [f"{value}" + (f" ({round(100 * value / total)}%)" if total else "") for value in values]
    return _bar_chart(title=title, labels=labels, values=values, texts=texts, subtitle=subtitle, per_bar=0.55)


def labelled_bar_chart_png(
    *, title: str, labels: Sequence[str], values: Sequence[float], texts: Sequence[str], subtitle: str = ""
) -> bytes:
    """A horizontal bar chart whose bars say `texts` (as the table beside it does, "<5" included) instead of
    their value and share: a hidden small number is a bar of length 0 that reads "<5"."""
    return _bar_chart(title=title, labels=labels, values=values, texts=texts, subtitle=subtitle, per_bar=0.45)


def _bar_chart(
    *,
    title: str,
    labels: Sequence[str],
    values: Sequence[float],
    texts: Sequence[str],
    subtitle: str,
    per_bar: float,
) -> bytes:
    count = len(labels)
    figure = Figure(figsize=(8, 1.6 + per_bar * max(count, 1)), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    positions = list(range(count))
    axes.barh(positions, list(values), color=BAR_COLOUR)
    axes.set_yticks(positions, [_safe(textwrap.shorten(label, 40, placeholder="…")) for label in labels])
    axes.invert_yaxis()
    axes.set_xlim(0, max(max(values, default=0) * 1.25, 1))
    for position, value, text in zip(positions, values, texts, strict=True):
        axes.text(value, position, f" {_safe(text)}", va="center")
    axes.set_title(_safe("\n".join(textwrap.wrap(title, 60)[:3])), loc="left", fontsize=12)
    if subtitle:
        axes.set_xlabel(_safe(subtitle))
    axes.spines[["top", "right"]].set_visible(False)
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    figure.tight_layout()
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a glyph the font lacks (an emoji) is left out, not an error
        figure.savefig(buffer, format="png")
    return buffer.getvalue()
