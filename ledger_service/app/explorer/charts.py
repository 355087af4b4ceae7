"""Server-side SVG charts for the explorer: a device's readings over time with rule thresholds
drawn and breaching readings marked. No JavaScript, nothing fetched from elsewhere."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape

WIDTH, HEIGHT = 720, 240
LEFT, RIGHT, TOP, BOTTOM = 56, 12, 14, 30


@dataclass(frozen=True)
class Point:
    """One reading: when, its value (already scaled to units) and whether it breaches a rule."""

    timestamp: int
    value: float
    breach: bool = False


@dataclass(frozen=True)
class Threshold:
    """A horizontal line: a rule's bound."""

    value: float
    label: str


def _ticks(low: float, high: float, count: int = 4) -> list[float]:
    if high == low:
        return [low]
    step = (high - low) / count
    return [low + i * step for i in range(count + 1)]


def _fmt(value: float) -> str:
    return f"{value:.4g}"


def line_chart(points: Sequence[Point], thresholds: Sequence[Threshold], title: str, unit: str = "") -> str:
    """An SVG line chart of `points` with `thresholds` as dashed lines; breaching points in red."""
    label = escape(f"{title} ({unit})" if unit else title)
    if not points:
        return (
            f'<svg class="chart" role="img" aria-label="{label}: no readings" viewBox="0 0 {WIDTH} 60" '
            f'xmlns="http://www.w3.org/2000/svg"><text x="10" y="34">no readings of {escape(title)}</text></svg>'
        )
    values = [p.value for p in points] + [t.value for t in thresholds]
    low, high = min(values), max(values)
    pad = (high - low) * 0.08 or 1.0
    low, high = low - pad, high + pad
    first, last = points[0].timestamp, points[-1].timestamp
    span = max(last - first, 1)
    inner_w, inner_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(timestamp: int) -> float:
        return LEFT + (timestamp - first) / span * inner_w if last > first else LEFT + inner_w / 2

    def y(value: float) -> float:
        return TOP + (high - value) / (high - low) * inner_h

    parts = [
        f'<svg class="chart" role="img" aria-label="{label}" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'xmlns="http://www.w3.org/2000/svg">',
        f"<title>{label}</title>",
        f'<rect x="{LEFT}" y="{TOP}" width="{inner_w}" height="{inner_h}" class="frame"/>',
    ]
    for tick in _ticks(low + pad, high - pad):
        parts.append(f'<text x="{LEFT - 6}" y="{y(tick) + 4:.1f}" class="axis" text-anchor="end">{_fmt(tick)}</text>')
    for timestamp in (first, last) if last > first else (first,):
        stamp = datetime.fromtimestamp(timestamp, UTC).strftime("%m-%d %H:%M:%S")
        anchor = "start" if timestamp == first and last > first else "end"
        parts.append(
            f'<text x="{x(timestamp):.1f}" y="{HEIGHT - 8}" class="axis" text-anchor="{anchor}">{stamp}</text>'
        )
    for threshold in thresholds:
        ty = y(threshold.value)
        parts.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{ty:.1f}" y2="{ty:.1f}" class="threshold"/>')
        parts.append(
            f'<text x="{WIDTH - RIGHT - 4}" y="{ty - 4:.1f}" class="threshold-label" text-anchor="end">'
            f"{escape(threshold.label)}</text>"
        )
    path = " ".join(f"{'M' if i == 0 else 'L'}{x(p.timestamp):.1f},{y(p.value):.1f}" for i, p in enumerate(points))
    parts.append(f'<path d="{path}" class="series"/>')
    for p in points:
        css = "point breach" if p.breach else "point"
        when = datetime.fromtimestamp(p.timestamp, UTC).isoformat()
        parts.append(
            f'<circle cx="{x(p.timestamp):.1f}" cy="{y(p.value):.1f}" r="{4 if p.breach else 2.5}" class="{css}">'
            f"<title>{_fmt(p.value)} at {when}{' (breach)' if p.breach else ''}</title></circle>"
        )
    parts.append("</svg>")
    return "".join(parts)
