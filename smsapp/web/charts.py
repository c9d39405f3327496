"""Small SVG charts drawn on the server from plain numbers: bar charts, a cumulative line, and
grouped bars per counting round. Pure: strings in, an SVG string out; every label is escaped."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape

# A narrow drawing (scaled to fit by CSS) keeps 14px text readable on a phone.
WIDTH = 480
LABEL_W = 170  # room for the option labels left of the bars (19 characters at 14px)
VALUE_W = 50  # room for the number right of each bar
ROW_H = 28
LABEL_CHARS = 19
SERIES = 8  # colour classes s0..s7 in static/app.css


def _num(value: float) -> str:
    """A number as people read it: 3, not 3.0; 2.5 stays 2.5."""
    return str(int(value)) if float(value).is_integer() else f"{value:.1f}"


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _open(chart_id: str, title: str, height: float, desc: str = "") -> list[str]:
    head = [
        f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height:g}" '
        f'role="img" aria-labelledby="{escape(chart_id)}-t{" " + escape(chart_id) + "-d" if desc else ""}">',
        f'<title id="{escape(chart_id)}-t">{escape(title)}</title>',
    ]
    if desc:
        head.append(f'<desc id="{escape(chart_id)}-d">{escape(desc)}</desc>')
    return head


def bar_chart(
    bars: Sequence[tuple[str, float]], *, title: str, chart_id: str, unit: str = ""
) -> str:
    """Horizontal bars, one per (label, value), longest = full width; values written beside.

    One colour for all: the bars are one series, told apart by their labels."""
    top = max((v for _, v in bars), default=0) or 1
    span = WIDTH - LABEL_W - VALUE_W
    height = max(1, len(bars)) * ROW_H + 8
    desc = "; ".join(f"{label}: {_num(v)}{unit}" for label, v in bars)
    out = _open(chart_id, title, height, desc)
    for i, (label, value) in enumerate(bars):
        y = 4 + i * ROW_H
        w = span * max(0.0, value) / top
        out.append(
            f'<text class="label" x="{LABEL_W - 8}" y="{y + ROW_H / 2 + 5:g}" '
            f'text-anchor="end">{escape(_clip(label, LABEL_CHARS))}</text>'
        )
        out.append(
            f'<rect class="bar s0" x="{LABEL_W}" y="{y + 3}" width="{w:.1f}" height="{ROW_H - 6}"/>'
        )
        out.append(
            f'<text class="value" x="{LABEL_W + w + 6:.1f}" y="{y + ROW_H / 2 + 5:g}">'
            f"{escape(_num(value) + unit)}</text>"
        )
    if not bars:
        out.append(f'<text class="label" x="{LABEL_W}" y="{ROW_H / 2 + 5:g}">Nothing yet</text>')
    out.append("</svg>")
    return "".join(out)


def line_chart(
    points: Sequence[tuple[str, float]],
    *,
    title: str,
    chart_id: str,
    y_max: float | None = None,
    unit: str = "",
) -> str:
    """A line through (x label, y) points in order, with the first and last x labels and
    y gridlines at 0, half and the top. y_max fixes the top (e.g. everyone invited)."""
    height, left, right, top_pad, bottom = 200, 44, 16, 14, 36
    plot_w, plot_h = WIDTH - left - right, height - top_pad - bottom
    top = max([y_max or 0, *(v for _, v in points)]) or 1
    last = points[-1] if points else None
    desc = f"{len(points)} points; latest {last[0]}: {_num(last[1])}{unit}" if last else "no data"
    out = _open(chart_id, title, height, desc)
    # Gridlines at 0, about half and the top; whole numbers when counting whole things.
    middle = top // 2 if float(top).is_integer() and top >= 2 else top / 2
    for tick in sorted({0.0, float(middle), float(top)}):
        y = top_pad + plot_h * (1 - tick / top)
        out.append(f'<line class="grid" x1="{left}" x2="{WIDTH - right}" y1="{y:g}" y2="{y:g}"/>')
        out.append(
            f'<text class="axis" x="{left - 6}" y="{y + 4:g}" text-anchor="end">'
            f"{escape(_num(round(tick, 1)) + unit)}</text>"
        )
    if points:
        step = plot_w / max(1, len(points) - 1)
        xy = [
            (left + (i * step if len(points) > 1 else plot_w / 2), top_pad + plot_h * (1 - v / top))
            for i, (_, v) in enumerate(points)
        ]
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in xy)
        out.append(f'<polyline class="line" fill="none" points="{path}"/>')
        for x, y in xy:
            out.append(f'<circle class="dot" cx="{x:.1f}" cy="{y:.1f}" r="3"/>')
        first_x, last_x = xy[0][0], xy[-1][0]
        out.append(
            f'<text class="axis" x="{first_x:.1f}" y="{height - 12}" text-anchor="start">'
            f"{escape(points[0][0])}</text>"
        )
        if len(points) > 1:
            out.append(
                f'<text class="axis" x="{last_x:.1f}" y="{height - 12}" text-anchor="end">'
                f"{escape(points[-1][0])}</text>"
            )
    else:
        out.append(
            f'<text class="label" x="{left + 8}" y="{top_pad + plot_h / 2:g}">No answers yet</text>'
        )
    out.append("</svg>")
    return "".join(out)


def rounds_chart(
    rounds: Sequence[Mapping[str, float]],
    labels: Mapping[str, str],
    *,
    title: str,
    chart_id: str,
    notes: Sequence[str] = (),
) -> str:
    """Grouped bars: one group per counting round, one bar per option still in the count;
    `notes[n]` follows round n+1's heading (e.g. who went out).

    Each option keeps its colour across rounds, so a reader can follow it until it is out.
    """
    codes = list(labels)
    colour = {code: i % SERIES for i, code in enumerate(codes)}
    top = max((v for r in rounds for v in r.values()), default=0) or 1
    bar_h, gap = 20, 14
    legend_h = 22 * ((len(codes) + 1) // 2) + 6
    group_h = [len(r) * bar_h + gap for r in rounds]
    height = legend_h + sum(group_h) + 24 * len(rounds) + 6
    span = WIDTH - LABEL_W - VALUE_W
    desc = " | ".join(
        f"Round {n}: " + ", ".join(f"{labels.get(c, c)} {_num(v)}" for c, v in r.items())
        for n, r in enumerate(rounds, 1)
    )
    out = _open(chart_id, title, height, desc)
    for i, code in enumerate(codes):
        lx, ly = 8 + (i % 2) * (WIDTH // 2), 6 + (i // 2) * 22
        out.append(f'<rect class="bar s{colour[code]}" x="{lx}" y="{ly}" width="14" height="14"/>')
        out.append(
            f'<text class="label" x="{lx + 20}" y="{ly + 12}">'
            f"{escape(_clip(labels[code], 26))}</text>"
        )
    y = float(legend_h)
    for n, counts in enumerate(rounds, 1):
        note = f" \u2014 {notes[n - 1]}" if n <= len(notes) and notes[n - 1] else ""
        out.append(f'<text class="round" x="8" y="{y + 16:g}">{escape(f"Round {n}{note}")}</text>')
        y += 24
        for code, value in sorted(
            counts.items(), key=lambda cv: (-cv[1], codes.index(cv[0]) if cv[0] in codes else 0)
        ):
            w = span * max(0.0, value) / top
            out.append(
                f'<text class="label" x="{LABEL_W - 8}" y="{y + bar_h - 3:g}" text-anchor="end">'
                f"{escape(_clip(labels.get(code, code), LABEL_CHARS))}</text>"
            )
            out.append(
                f'<rect class="bar s{colour.get(code, 0)}" x="{LABEL_W}" y="{y + 1:g}" '
                f'width="{w:.1f}" height="{bar_h - 2}"/>'
            )
            out.append(
                f'<text class="value" x="{LABEL_W + w + 6:.1f}" y="{y + bar_h - 3:g}">'
                f"{escape(_num(value))}</text>"
            )
            y += bar_h
        y += gap
    out.append("</svg>")
    return "".join(out)
