"""Small server-side SVG charts (no script, no CDN): horizontal bars, one group per label.

Labels are escaped; values are numbers. The SVG is returned as ``markupsafe.Markup`` for the templates.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

from markupsafe import Markup

PALETTE = ("#2b6cb0", "#2f855a", "#c05621", "#6b46c1")


@dataclass(frozen=True)
class Series:
    name: str
    values: list[float]
    unit: str = ""


def _fmt(value: float, unit: str) -> str:
    text = f"{value:,.0f}" if abs(value) >= 100 or float(value).is_integer() else f"{value:,.2f}"
    return f"{text}{(' ' + unit) if unit else ''}"


def bar_chart(title: str, labels: list[str], series: list[Series], *, width: int = 640) -> Markup:
    """Grouped horizontal bars: each label gets one bar per series, each series scaled to its own maximum
    (so seconds and rows/s can share a chart); the value is written at the end of each bar."""
    if not labels or not series:
        return Markup("")
    label_w, bar_h, gap, pad = 170, 14, 10, 8
    chart_w = width - label_w - 120
    group_h = bar_h * len(series) + gap
    legend_h = 40
    height = pad * 2 + legend_h + group_h * len(labels) + 18
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">',
           f"<title>{escape(title)}</title>",
           f'<text x="{pad}" y="{pad + 12}" font-weight="bold">{escape(title)}</text>']
    x = label_w
    for i, s in enumerate(series):
        color = PALETTE[i % len(PALETTE)]
        out.append(f'<rect x="{x}" y="{pad + 23}" width="10" height="10" fill="{color}"/>')
        out.append(f'<text x="{x + 14}" y="{pad + 32}">{escape(s.name)}</text>')
        x += 20 + 7 * len(s.name) + 20
    top = pad + legend_h + 10
    for li, label in enumerate(labels):
        y0 = top + li * group_h
        out.append(f'<text x="{label_w - 6}" y="{y0 + bar_h * len(series) / 2 + 4}" text-anchor="end">'
                   f"{escape(label)}</text>")
        for si, s in enumerate(series):
            peak = max((v for v in s.values if v), default=0) or 1
            value = s.values[li] if li < len(s.values) else 0
            w = max(1.0, chart_w * float(value) / peak) if value else 0
            y = y0 + si * bar_h
            color = PALETTE[si % len(PALETTE)]
            out.append(f'<rect x="{label_w}" y="{y}" width="{w:.1f}" height="{bar_h - 2}" fill="{color}">'
                       f"<title>{escape(label)}: {escape(_fmt(value, s.unit))}</title></rect>")
            out.append(f'<text x="{label_w + w + 4:.1f}" y="{y + bar_h - 4}">{escape(_fmt(value, s.unit))}</text>')
    out.append("</svg>")
    return Markup("".join(out))
