"""The geometry of the outcomes page's charts: bars placed in an SVG's coordinates, drawn by the
template (staff/_charts.html) as inline SVG, with no script and no style attribute."""

from __future__ import annotations

import math
from dataclasses import dataclass

WIDTH = 640
LEFT = 44  # room for the scale's numbers
RIGHT = 8
TOP = 12
BOTTOM = 36  # room for the categories' names
PLOT_HEIGHT = 200
#: A bar list's row: its label above, its bar below.
ROW_HEIGHT = 40
BAR_HEIGHT = 16


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    series: int  # which series: its colour
    title: str  # what a pointer over it shows, e.g. "2026-W49, placed: 3"


@dataclass(frozen=True)
class ColumnChart:
    width: int
    height: int
    left: int
    right: int
    baseline: float
    bars: list[Bar]
    ticks: list[tuple[float, int]]  # (y, value) of the scale's lines
    categories: list[tuple[float, str]]  # (x of the middle, short name) under the bars
    series: list[str]


@dataclass(frozen=True)
class BarRow:
    label: str
    count: int
    label_y: float
    bar: Bar


@dataclass(frozen=True)
class BarList:
    width: int
    height: int
    rows: list[BarRow]


def nice_ceiling(value: int) -> int:
    """The scale's top: `value` rounded up to 1, 2 or 5 times a power of ten (at least 1)."""
    if value <= 1:
        return 1
    power = 10 ** math.floor(math.log10(value))
    return next(step * power for step in (1, 2, 5, 10) if step * power >= value)


def column_chart(categories: list[tuple[str, str]], series: list[tuple[str, list[int]]], *,
                 stacked: bool = False) -> ColumnChart:  # fmt: skip
    """Columns for each category (name, short name): one per series side by side, or stacked."""
    height = TOP + PLOT_HEIGHT + BOTTOM
    baseline = TOP + PLOT_HEIGHT
    plot_width = WIDTH - LEFT - RIGHT
    if stacked:
        peak = max((sum(values[n] for _, values in series) for n in range(len(categories))), default=0)
    else:
        peak = max((value for _, values in series for value in values), default=0)
    top = nice_ceiling(peak)
    scale = PLOT_HEIGHT / top
    slot = plot_width / max(len(categories), 1)
    bars: list[Bar] = []
    for n, (name, _short) in enumerate(categories):
        start = LEFT + n * slot + slot * 0.1
        inner = slot * 0.8
        stacked_height = 0.0
        for s, (series_name, values) in enumerate(series):
            value = values[n]
            bar_height = value * scale
            title = f"{name}, {series_name}: {value}"
            if stacked:
                if value:
                    y = baseline - stacked_height - bar_height
                    bars.append(Bar(round(start, 1), round(y, 1), round(inner, 1), round(bar_height, 1), s, title))
                stacked_height += bar_height
            else:
                width = inner / len(series)
                x = start + s * width
                y = baseline - bar_height
                bars.append(Bar(round(x, 1), round(y, 1), round(width - 2, 1), round(bar_height, 1), s, title))
    ticks = sorted({(round(baseline - value * scale, 1), value) for value in (0, top // 2, top) if value == 0 or value})
    middles = [(round(LEFT + (n + 0.5) * slot, 1), short) for n, (_name, short) in enumerate(categories)]
    return ColumnChart(WIDTH, height, LEFT, RIGHT, baseline, bars, ticks, middles, [name for name, _ in series])


def bar_list(rows: list[tuple[str, int]]) -> BarList:
    """Horizontal bars, one a row, each with its label above it, longest scaled to the plot's width."""
    top = max((count for _, count in rows), default=0) or 1
    room = WIDTH - RIGHT - 48  # the count is written after the bar
    placed = []
    for n, (label, count) in enumerate(rows):
        y = n * ROW_HEIGHT
        bar = Bar(0, y + 20, round(max(count / top * room, 2), 1), BAR_HEIGHT, 0, f"{label}: {count}")
        placed.append(BarRow(label, count, y + 14, bar))
    return BarList(WIDTH, max(len(rows), 1) * ROW_HEIGHT, placed)
