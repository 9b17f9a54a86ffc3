"""A map drawn as inline SVG on the server, like the charts: no tiles, no CDN, no JavaScript, so a
dataset page asks nothing of any server but the hub.

The projection is equirectangular with the longitudes shrunk by cos(latitude) at the middle of the
map, which keeps distances true within a province. A graticule with labelled degrees stands in for
a base map. Every point has class `mark`, its key in `data-key` and a `<title>` (hover, screen readers).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from html import escape

from lgsp.portal.i18n import number

WIDTH = 640
MAX_HEIGHT = 720
PAD = 0.08  # degrees of margin around the outermost points
STEPS = (0.05, 0.1, 0.2, 0.25, 0.5, 1.0, 2.0, 5.0)
_FONT = 'font-family="system-ui,sans-serif" font-size="12"'


@dataclass(frozen=True)
class Mark:
    """One point as drawn: where, what colour, and the words of its tooltip."""

    key: str
    lat: float
    lon: float
    colour: str
    tip: str


def _step(span: float) -> float:
    """The graticule spacing giving about three to six lines over `span` degrees."""
    return next((s for s in STEPS if span / s <= 6), STEPS[-1])


def degrees(value: float, axis: str, lang: str) -> str:
    """16,5°B / 106°Đ in Vietnamese (Bắc, Đông), 16.5°N / 106°E in English."""
    hemisphere = {("lat", "vi"): "B", ("lon", "vi"): "Đ", ("lat", "en"): "N", ("lon", "en"): "E"}[(axis, lang)]
    return f"{number(round(value, 2), lang)}°{hemisphere}"


def point_map(title: str, marks: list[Mark], legend: list[tuple[str, str]], lang: str) -> str:
    """The points over a graticule, and a legend of (colour, words) below."""
    left, right, top, legend_row = 56, 16, 12, 20
    south, north = min(m.lat for m in marks) - PAD, max(m.lat for m in marks) + PAD
    west, east = min(m.lon for m in marks) - PAD, max(m.lon for m in marks) + PAD
    shrink = math.cos(math.radians((south + north) / 2))
    scale = (WIDTH - left - right) / ((east - west) * shrink)
    scale = min(scale, (MAX_HEIGHT - top - 40) / (north - south))
    plot_h = (north - south) * scale
    plot_w = (east - west) * shrink * scale
    bottom = top + plot_h
    height = int(bottom + 28 + legend_row * len(legend) + 8)

    def x_of(lon: float) -> float:
        return left + (lon - west) * shrink * scale

    def y_of(lat: float) -> float:
        return top + (north - lat) * scale

    body = [f'<rect x="{left}" y="{top}" width="{plot_w:.1f}" height="{plot_h:.1f}" fill="#f4f8fb" stroke="#bbb"/>']
    step = _step(max(north - south, (east - west) * shrink))
    lat = math.ceil(south / step) * step
    while lat <= north:
        y = y_of(lat)
        body.append(
            f'<line class="graticule" x1="{left}" x2="{left + plot_w:.1f}" y1="{y:.1f}" y2="{y:.1f}" stroke="#ddd"/>'
        )
        body.append(
            f'<text x="{left - 4}" y="{y + 4:.1f}" text-anchor="end">{escape(degrees(lat, "lat", lang))}</text>'
        )
        lat += step
    lon = math.ceil(west / step) * step
    while lon <= east:
        x = x_of(lon)
        body.append(f'<line class="graticule" x1="{x:.1f}" x2="{x:.1f}" y1="{top}" y2="{bottom:.1f}" stroke="#ddd"/>')
        body.append(
            f'<text x="{x:.1f}" y="{bottom + 16:.1f}" text-anchor="middle">{escape(degrees(lon, "lon", lang))}</text>'
        )
        lon += step
    for m in sorted(marks, key=lambda m: -m.lat):  # southern points over northern ones, as seen from above
        body.append(
            f'<circle class="mark" data-key="{escape(m.key)}" cx="{x_of(m.lon):.1f}" cy="{y_of(m.lat):.1f}" r="6" '
            f'fill="{m.colour}" stroke="#fff" stroke-width="1.5"><title>{escape(m.tip)}</title></circle>'
        )
    for i, (colour, words) in enumerate(legend):
        y = bottom + 28 + i * legend_row
        body.append(
            f'<g class="legend"><circle cx="{left + 6}" cy="{y:.1f}" r="6" fill="{colour}"/>'
            f'<text x="{left + 18}" y="{y + 4:.1f}">{escape(words)}</text></g>'
        )
    label = escape(title)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" width="100%" role="img" '
        f'aria-label="{label}" class="map" {_FONT}><title>{label}</title>' + "".join(body) + "</svg>"
    )
