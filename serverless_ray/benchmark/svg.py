"""Small SVG charts for the benchmark report: inline, self-contained, no plotting library
(pure). Three kinds: grouped bars, a labelled scatter and a strip chart of samples."""

from __future__ import annotations

import math
from html import escape
from typing import Sequence

WIDTH, HEIGHT = 880, 360
LEFT, RIGHT, TOP, BOTTOM = 80, 170, 40, 70
COLOURS = ("#4C78A8", "#F58518", "#54A24B", "#E45756", "#72B7B2", "#B279A2", "#9D755D")


def _svg(body: list[str], title: str, height: int = HEIGHT) -> str:
    # Inline in HTML, an <svg> needs no namespace declaration: the report names no URL at all.
    return (f'<svg viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" '
            f'height="{height}" role="img" font-family="sans-serif" font-size="12">'
            f'<title>{escape(title)}</title><rect width="100%" height="100%" fill="white"/>'
            f'<text x="{WIDTH / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold">{escape(title)}</text>'
            + "".join(body) + "</svg>")


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1.0
    magnitude = 10 ** math.floor(math.log10(value))
    return next(step * magnitude for step in (1, 2, 2.5, 5, 10) if step * magnitude >= value)


def _fmt(value: float) -> str:
    if value == 0:
        return "0"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 1:
        return f"{value:.3g}"
    return f"{value:.2g}"


class _Axis:
    """A linear or log10 axis from data values to pixels."""

    def __init__(self, low: float, high: float, start: float, end: float, *, log: bool = False) -> None:
        self.log = log
        if log:
            low = 10 ** math.floor(math.log10(max(low, 1e-9)))
            high = 10 ** math.ceil(math.log10(max(high, low * 10)))
        else:
            low, high = 0.0, _nice_max(high)
        self.low, self.high, self.start, self.end = low, high, start, end

    def __call__(self, value: float) -> float:
        if self.log:
            span = math.log10(self.high) - math.log10(self.low)
            share = (math.log10(max(value, self.low)) - math.log10(self.low)) / span
        else:
            share = (value - self.low) / (self.high - self.low)
        return self.start + share * (self.end - self.start)

    def ticks(self) -> list[float]:
        if self.log:
            return [10 ** e for e in range(round(math.log10(self.low)), round(math.log10(self.high)) + 1)]
        return [self.low + (self.high - self.low) * i / 5 for i in range(6)]


def _legend(names: Sequence[str], colours: Sequence[str]) -> list[str]:
    out = []
    for i, (name, colour) in enumerate(zip(names, colours)):
        y = TOP + 10 + i * 18
        out.append(f'<rect x="{WIDTH - RIGHT + 15}" y="{y - 9}" width="11" height="11" fill="{colour}"/>'
                   f'<text x="{WIDTH - RIGHT + 31}" y="{y}">{escape(name)}</text>')
    return out


def _y_axis(axis: _Axis, label: str, x0: float, x1: float) -> list[str]:
    out = [f'<line x1="{x0}" y1="{axis.start}" x2="{x0}" y2="{axis.end}" stroke="#333"/>']
    for tick in axis.ticks():
        y = axis(tick)
        out.append(f'<line x1="{x0}" y1="{y:.1f}" x2="{x1}" y2="{y:.1f}" stroke="#e5e5e5"/>'
                   f'<text x="{x0 - 6}" y="{y + 4:.1f}" text-anchor="end">{_fmt(tick)}</text>')
    mid = (axis.start + axis.end) / 2
    out.append(f'<text x="18" y="{mid}" transform="rotate(-90 18 {mid})" text-anchor="middle">{escape(label)}</text>')
    return out


def bar_chart(title: str, categories: Sequence[str], series: dict[str, Sequence[float | None]], y_label: str) -> str:
    """Grouped bars: one group per category, one bar per series (None: no bar)."""
    values = [v for vs in series.values() for v in vs if v is not None]
    y = _Axis(0, max(values, default=1.0), HEIGHT - BOTTOM, TOP)
    body = _y_axis(y, y_label, LEFT, WIDTH - RIGHT)
    group = (WIDTH - RIGHT - LEFT) / max(1, len(categories))
    bar = group * 0.8 / max(1, len(series))
    for i, category in enumerate(categories):
        x0 = LEFT + i * group + group * 0.1
        for j, (name, vs) in enumerate(series.items()):
            value = vs[i]
            if value is None:
                continue
            top = y(value)
            body.append(f'<rect x="{x0 + j * bar:.1f}" y="{top:.1f}" width="{bar - 1:.1f}" '
                        f'height="{y.start - top:.1f}" fill="{COLOURS[j % len(COLOURS)]}">'
                        f'<title>{escape(category)}: {escape(name)} {_fmt(value)}</title></rect>')
        body.append(f'<text x="{x0 + group * 0.4:.1f}" y="{HEIGHT - BOTTOM + 16}" text-anchor="middle" '
                    f'font-size="11">{escape(category)}</text>')
    body += _legend(list(series), COLOURS)
    return _svg(body, title)


def scatter(title: str, points: Sequence[tuple[float, float, str, bool]], x_label: str, y_label: str,
            *, x_line: float | None = None, x_line_label: str = "") -> str:
    """Points (x, y, label, highlighted); an optional vertical line (an objective)."""
    xs = [p[0] for p in points] + ([x_line] if x_line else [])
    x = _Axis(0, max(xs, default=1.0), LEFT, WIDTH - RIGHT)
    y = _Axis(0, max((p[1] for p in points), default=1.0), HEIGHT - BOTTOM, TOP)
    body = _y_axis(y, y_label, LEFT, WIDTH - RIGHT)
    body.append(f'<line x1="{LEFT}" y1="{y.start}" x2="{WIDTH - RIGHT}" y2="{y.start}" stroke="#333"/>')
    for tick in x.ticks():
        body.append(f'<text x="{x(tick):.1f}" y="{y.start + 16}" text-anchor="middle">{_fmt(tick)}</text>')
    body.append(f'<text x="{(LEFT + WIDTH - RIGHT) / 2}" y="{HEIGHT - 22}" text-anchor="middle">{escape(x_label)}</text>')
    if x_line:
        body.append(f'<line x1="{x(x_line):.1f}" y1="{TOP}" x2="{x(x_line):.1f}" y2="{y.start}" stroke="#E45756" '
                    f'stroke-dasharray="5,4"/><text x="{x(x_line) + 4:.1f}" y="{TOP + 12}" fill="#E45756">'
                    f'{escape(x_line_label)}</text>')
    for px, py, label, highlighted in points:
        colour = COLOURS[2] if highlighted else COLOURS[0]
        radius = 7 if highlighted else 5
        body.append(f'<circle cx="{x(px):.1f}" cy="{y(py):.1f}" r="{radius}" fill="{colour}" fill-opacity="0.85">'
                    f'<title>{escape(label)}: {_fmt(px)}, {_fmt(py)}</title></circle>'
                    f'<text x="{x(px) + 9:.1f}" y="{y(py) + 4:.1f}" font-size="10">{escape(label)}</text>')
    return _svg(body, title)


def strip_chart(title: str, rows: Sequence[tuple[str, dict[str, Sequence[float]]]], x_label: str) -> str:
    """One row per label; each series' samples as dots along a log axis (milliseconds)."""
    values = [v for _, series in rows for vs in series.values() for v in vs if v > 0]
    height = TOP + BOTTOM + 34 * max(1, len(rows))
    x = _Axis(min(values, default=1.0), max(values, default=10.0), LEFT + 140, WIDTH - RIGHT, log=True)
    body: list[str] = []
    bottom = height - BOTTOM + 10
    for tick in x.ticks():
        body.append(f'<line x1="{x(tick):.1f}" y1="{TOP}" x2="{x(tick):.1f}" y2="{bottom}" stroke="#e5e5e5"/>'
                    f'<text x="{x(tick):.1f}" y="{bottom + 16}" text-anchor="middle">{_fmt(tick)}</text>')
    body.append(f'<text x="{(LEFT + 140 + WIDTH - RIGHT) / 2}" y="{bottom + 36}" text-anchor="middle">'
                f'{escape(x_label)}</text>')
    names = list(dict.fromkeys(name for _, series in rows for name in series))
    for i, (label, series) in enumerate(rows):
        centre = TOP + 20 + i * 34
        body.append(f'<text x="{LEFT + 130}" y="{centre + 4}" text-anchor="end" font-size="11">{escape(label)}</text>')
        for j, name in enumerate(names):
            offset = (j - (len(names) - 1) / 2) * 8
            for value in series.get(name, ()):
                if value > 0:
                    body.append(f'<circle cx="{x(value):.1f}" cy="{centre + offset:.1f}" r="3" '
                                f'fill="{COLOURS[j % len(COLOURS)]}" fill-opacity="0.6"/>')
    body += _legend(names, COLOURS)
    return _svg(body, title, height)
