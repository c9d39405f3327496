"""A result chart as a PNG, for slides and newsletters: the same bars as the page's SVG chart
(web/admin/results.question_bars gives both their numbers), drawn with Pillow. Small counts
arrive already hidden (None, by privacy.suppression) and are drawn as "fewer than k" with no
bar. Pure: numbers and words in, PNG bytes out.
"""

from __future__ import annotations

import io
import textwrap
from collections.abc import Sequence

from PIL import Image, ImageDraw, ImageFont

WIDTH = 1200
PAD = 40
LABEL_W = 380
VALUE_W = 150
ROW_H = 64
BAR_H = 40
INK = (29, 36, 51)
MUTED = (91, 101, 120)
LINE = (217, 222, 232)
BAR = (47, 91, 211)
BACKGROUND = (255, 255, 255)
MAX_BARS = 60


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def _fit(draw: ImageDraw.ImageDraw, text: str, font: object, width: int) -> str:
    if draw.textlength(text, font=font) <= width:  # type: ignore[arg-type]
        return text
    while text and draw.textlength(text + "…", font=font) > width:  # type: ignore[arg-type]
        text = text[:-1]
    return text + "…"


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.1f}"


def bar_chart_png(
    bars: Sequence[tuple[str, float | None]],
    *,
    title: str,
    subtitle: str = "",
    note: str = "",
    hidden_text: str = "fewer than 5",
) -> bytes:
    """Horizontal bars, longest = full width, each value written beside its bar; a None value is
    a hidden small count: no bar, `hidden_text` instead. `note` goes under the chart."""
    bars = list(bars)[:MAX_BARS]
    title_font, text_font, small_font = _font(40), _font(28), _font(24)
    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    title_lines = textwrap.wrap(title, 48) or [""]
    head_h = PAD + 52 * len(title_lines) + (40 if subtitle else 0) + 20
    note_lines = textwrap.wrap(note, 80) if note else []
    height = head_h + max(1, len(bars)) * ROW_H + 20 + 34 * len(note_lines) + PAD
    image = Image.new("RGB", (WIDTH, height), BACKGROUND)
    draw = ImageDraw.Draw(image)
    y = PAD
    for line in title_lines:
        draw.text((PAD, y), line, fill=INK, font=title_font)
        y += 52
    if subtitle:
        draw.text(
            (PAD, y),
            _fit(probe, subtitle, small_font, WIDTH - 2 * PAD),
            fill=MUTED,
            font=small_font,
        )
    y = head_h
    span = WIDTH - 2 * PAD - LABEL_W - VALUE_W
    top = max((v for _, v in bars if v is not None), default=0) or 1
    draw.line(
        (PAD + LABEL_W, y - 6, PAD + LABEL_W, y + max(1, len(bars)) * ROW_H), fill=LINE, width=2
    )
    for label, value in bars:
        middle = y + ROW_H // 2
        shown = _fit(probe, label, text_font, LABEL_W - 20)
        draw.text((PAD + LABEL_W - 16, middle), shown, fill=INK, font=text_font, anchor="rm")
        if value is None:
            draw.text(
                (PAD + LABEL_W + 12, middle), hidden_text, fill=MUTED, font=text_font, anchor="lm"
            )
        else:
            w = round(span * max(0.0, value) / top)
            if w:
                draw.rectangle(
                    (PAD + LABEL_W, middle - BAR_H // 2, PAD + LABEL_W + w, middle + BAR_H // 2),
                    fill=BAR,
                )
            draw.text(
                (PAD + LABEL_W + w + 12, middle), _num(value), fill=INK, font=text_font, anchor="lm"
            )
        y += ROW_H
    if not bars:
        draw.text(
            (PAD + LABEL_W + 12, y - ROW_H // 2),
            "Nothing yet",
            fill=MUTED,
            font=text_font,
            anchor="lm",
        )
    y += 20
    for line in note_lines:
        draw.text((PAD, y), line, fill=MUTED, font=small_font)
        y += 34
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()
