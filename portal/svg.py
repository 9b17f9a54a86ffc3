"""Charts drawn as inline SVG on the server: no JavaScript, no CDN, nothing a browser has to fetch.

Two shapes are enough for the open datasets: a line over time and horizontal bars (horizontal so
that long Vietnamese category names stay readable on a phone). Every data mark has class `mark`
and a `<title>` with its formatted value, which screen readers and hovering both show.
"""

from __future__ import annotations

import datetime as dt
import math
from html import escape

from lgsp.portal.i18n import date, datetime, number

WIDTH = 640
_FONT = 'font-family="system-ui,sans-serif" font-size="12"'


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round axis values (1, 2 or 5 times a power of ten) covering [low, high]."""
    if high <= low:
        high = low + (abs(low) or 1.0)
    raw = (high - low) / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    start = math.floor(low / step) * step
    ticks = [round(start, 10)]
    while ticks[-1] < high:  # the last tick is at or above the highest value
        ticks.append(round(ticks[-1] + step, 10))
    return ticks


def _frame(title: str, height: int, body: list[str]) -> str:
    label = escape(title)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" width="100%" '
        f'role="img" aria-label="{label}" class="chart" {_FONT}><title>{label}</title>' + "".join(body) + "</svg>"
    )


def _when(value: dt.date, lang: str, clock: bool) -> str:
    return datetime(value, lang) if clock and isinstance(value, dt.datetime) else date(value, lang)


def line_chart(title: str, points: list[tuple[dt.date, float]], lang: str) -> str:
    """A line over time with a marker per point; the x axis is true to time, gaps included."""
    height, left, right, top, bottom = 300, 70, 20, 16, 40
    xs = [p[0] for p in points]
    clock = any(isinstance(x, dt.datetime) and (x.hour or x.minute) for x in xs)  # hours matter: show them
    stamps = [dt.datetime.combine(x, dt.time()) if not isinstance(x, dt.datetime) else x for x in xs]
    t0, t1 = min(stamps), max(stamps)
    span = (t1 - t0).total_seconds() or 1.0
    ticks = nice_ticks(min(0.0, *(p[1] for p in points)), max(p[1] for p in points))
    y0, y1 = ticks[0], ticks[-1]

    def x_of(t: dt.datetime) -> float:
        return left + (WIDTH - left - right) * ((t - t0).total_seconds() / span if len(points) > 1 else 0.5)

    def y_of(v: float) -> float:
        return top + (height - top - bottom) * (1 - (v - y0) / ((y1 - y0) or 1))

    body = []
    for tick in ticks:
        y = y_of(tick)
        body.append(f'<line x1="{left}" x2="{WIDTH - right}" y1="{y:.1f}" y2="{y:.1f}" stroke="#ddd"/>')
        body.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{escape(number(tick, lang))}</text>')
    for index in sorted({0, len(points) // 2, len(points) - 1}):
        x = x_of(stamps[index])
        anchor = "start" if index == 0 else "end" if index == len(points) - 1 else "middle"
        body.append(
            f'<text x="{x:.1f}" y="{height - bottom + 18}" text-anchor="{anchor}">{escape(_when(xs[index], lang, clock))}</text>'
        )
    path = " ".join(f"{x_of(t):.1f},{y_of(v):.1f}" for t, (_, v) in zip(stamps, points, strict=True))
    body.append(f'<polyline points="{path}" fill="none" stroke="#0b4f8a" stroke-width="2"/>')
    for t, (when, v) in zip(stamps, points, strict=True):
        tip = escape(f"{_when(when, lang, clock)}: {number(v, lang)}")
        body.append(
            f'<circle class="mark" cx="{x_of(t):.1f}" cy="{y_of(v):.1f}" r="3" fill="#0b4f8a"><title>{tip}</title></circle>'
        )
    return _frame(title, height, body)


def bar_chart(title: str, bars: list[tuple[str, float]], lang: str) -> str:
    """Horizontal bars, largest first, each labelled with its category and value."""
    left, right, row, top = 200, 80, 24, 8
    height = top * 2 + row * len(bars)
    high = max([0.0, *(v for _, v in bars)]) or 1.0
    body = []
    for i, (label, value) in enumerate(bars):
        y = top + i * row
        w = max((WIDTH - left - right) * max(value, 0) / high, 1)
        short = label if len(label) <= 30 else label[:29] + "…"
        tip = escape(f"{label}: {number(value, lang)}")
        body.append(f'<text x="{left - 6}" y="{y + row * 0.65:.1f}" text-anchor="end">{escape(short)}</text>')
        body.append(
            f'<rect class="mark" x="{left}" y="{y + 3}" width="{w:.1f}" height="{row - 6}" fill="#0b4f8a">'
            f"<title>{tip}</title></rect>"
        )
        body.append(f'<text x="{left + w + 4:.1f}" y="{y + row * 0.65:.1f}">{escape(number(value, lang))}</text>')
    return _frame(title, height, body)
