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


def weight_chart(title: str, rows: list[tuple[str, float]], *, width: int = 640) -> Markup:
    """Diverging horizontal bars around zero: one bar per (label, match weight); evidence for a match
    (positive) to the right in green, against it (negative) to the left in red, the value written at
    the bar's end. A text table next to it carries the same numbers for screen readers."""
    if not rows:
        return Markup("")
    label_w, bar_h, gap, pad = 230, 16, 6, 8
    chart_w = width - label_w - 2 * pad
    peak = max((abs(w) for _, w in rows), default=0) or 1
    half = (chart_w - 80) / 2
    zero = label_w + 40 + half
    height = pad * 2 + 24 + (bar_h + gap) * len(rows) + 6
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">',
           f"<title>{escape(title)}</title>",
           f'<text x="{pad}" y="{pad + 12}" font-weight="bold">{escape(title)}</text>']
    top = pad + 24
    for i, (label, weight) in enumerate(rows):
        y = top + i * (bar_h + gap)
        w = half * abs(weight) / peak
        x = zero if weight >= 0 else zero - w
        color = "#2f855a" if weight >= 0 else "#c53030"
        text = f"{weight:+.2f}"
        out.append(f'<text x="{label_w - 6}" y="{y + bar_h - 4}" text-anchor="end">{escape(label)}</text>')
        out.append(f'<rect x="{x:.1f}" y="{y}" width="{max(w, 1.0):.1f}" height="{bar_h}" fill="{color}">'
                   f"<title>{escape(label)}: {escape(text)}</title></rect>")
        tx, anchor = (zero + w + 4, "start") if weight >= 0 else (zero - w - 4, "end")
        out.append(f'<text x="{tx:.1f}" y="{y + bar_h - 4}" text-anchor="{anchor}">{escape(text)}</text>')
    out.append(f'<line x1="{zero:.1f}" y1="{top - 4}" x2="{zero:.1f}" y2="{height - pad}" stroke="#4a5568"/>')
    out.append("</svg>")
    return Markup("".join(out))
