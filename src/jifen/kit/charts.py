"""Charts as SVG (pygal): a standalone image a browser shows and a report embeds.

The image loads nothing from elsewhere (pygal's tooltip script is left out) and names
fonts that have Chinese glyphs on Windows, macOS, Android and Linux.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

import pygal
from pygal.style import Style

FONTS = (
    "'Noto Sans CJK SC', 'Source Han Sans SC', 'PingFang SC', 'Microsoft YaHei', "
    "'WenQuanYi Micro Hei', sans-serif"
)
POSITIVE = "#2e7d32"
NEGATIVE = "#c62828"
BARS_MAX = 50

_STYLE = Style(
    font_family=FONTS,
    background="white",
    plot_background="white",
    colors=(POSITIVE,),
    title_font_size=20,
    label_font_size=14,
    major_label_font_size=14,
    value_font_size=13,
)


@dataclass(frozen=True)
class Bar:
    label: str
    value: Decimal | int
    # Drawn in the negative colour (a debt, a shortfall) whatever its sign.
    is_negative: bool = False


def bar_chart_svg(*, title: str, bars: Sequence[Bar], y_title: str, unit: str = "") -> bytes:
    """One bar per item, each labelled with its value."""
    if not bars or len(bars) > BARS_MAX:
        raise ValueError(f"a chart has 1 to {BARS_MAX} bars, not {len(bars)}")
    chart = pygal.Bar(
        style=_STYLE,
        js=[],
        title=title,
        y_title=y_title,
        show_legend=False,
        print_values=True,
        width=900,
        height=500,
        value_formatter=lambda value: f"{value:,.2f}{unit}",
        x_label_rotation=0,
    )
    chart.x_labels = [bar.label for bar in bars]
    chart.add(
        y_title,
        [
            {
                "value": float(bar.value),
                "color": NEGATIVE if bar.is_negative or bar.value < 0 else POSITIVE,
            }
            for bar in bars
        ],
    )
    svg: bytes = chart.render()
    return svg
