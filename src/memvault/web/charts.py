"""Charts drawn by the server as SVG: no chart library, nothing for the browser to run.

Two shapes cover the dashboard: ``bars`` (one labelled horizontal bar per
item, for categories such as types, tags, namespaces) and ``columns`` (one
column per step, for a sequence such as months or latency buckets). Each is an
``<svg role="img">`` with a title and a one-line description; the pages show
the same numbers in a table beside it for screen readers and for copying.
"""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup, escape

WIDTH = 480
BAR = 22
LABEL = 150


def _frame(title: str, summary: str, height: int, body: list[str]) -> Markup:
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" '
        f'role="img"><title>{escape(title)}</title><desc>{escape(summary)}</desc>'
    )
    return Markup(head + "".join(body) + "</svg>")


def _short(label: str, chars: int = 22) -> str:
    return label if len(label) <= chars else label[: chars - 1] + "…"


def bars(items: Sequence[tuple[str, float]], title: str, unit: str = "") -> Markup:
    """A horizontal bar per (label, value), longest value the full width."""
    top = max((v for _, v in items), default=0) or 1
    room = WIDTH - LABEL - 60
    body = []
    for row, (label, value) in enumerate(items):
        y = row * BAR
        length = max(1.0, room * value / top) if value else 0.0
        body.append(
            f'<text x="{LABEL - 6}" y="{y + 15}" text-anchor="end">{escape(_short(label))}</text>'
            f'<rect class="bar" x="{LABEL}" y="{y + 3}" width="{length:.1f}" height="{BAR - 6}">'
            f"<title>{escape(label)}: {value:g}{unit}</title></rect>"
            f'<text x="{LABEL + length + 4:.1f}" y="{y + 15}">{value:g}{escape(unit)}</text>'
        )
    summary = ", ".join(f"{label} {value:g}{unit}" for label, value in items[:5])
    return _frame(title, summary, max(BAR, len(items) * BAR), body)


def columns(
    items: Sequence[tuple[str, float]], title: str, unit: str = "", every: int = 1
) -> Markup:
    """A column per (label, value) in order; every ``every``-th label is written."""
    height, axis = 180, 150
    top = max((v for _, v in items), default=0) or 1
    step = (WIDTH - 20) / max(1, len(items))
    body = [f'<line class="axis" x1="10" y1="{axis}" x2="{WIDTH - 10}" y2="{axis}"/>']
    for i, (label, value) in enumerate(items):
        tall = (axis - 20) * value / top
        x = 10 + i * step
        body.append(
            f'<rect class="bar" x="{x + step * 0.1:.1f}" y="{axis - tall:.1f}" '
            f'width="{step * 0.8:.1f}" height="{tall:.1f}">'
            f"<title>{escape(label)}: {value:g}{escape(unit)}</title></rect>"
        )
        if i % every == 0:
            body.append(
                f'<text x="{x + step / 2:.1f}" y="{axis + 16}" text-anchor="middle">'
                f"{escape(_short(label, 8))}</text>"
            )
    body.append(f'<text x="12" y="12">max {top:g}{escape(unit)}</text>')
    (first, first_value), (last, last_value) = (
        (items[0], items[-1]) if items else (("", 0), ("", 0))
    )
    summary = f"{len(items)} values from {first} ({first_value:g}) to {last} ({last_value:g})"
    return _frame(title, summary, height, body)
