"""The results page without reloading, and its charts as pictures.

Live: while a poll is open the page's script asks `/results/live` every few seconds with the
version it shows (If-None-Match). Unchanged results cost one cheap marker query and a 304;
changed ones send the redrawn part of the page. PNG: a question's answers chart for slides or
a newsletter, drawn from the page's own bars with small counts hidden (privacy.suppression).
"""

from __future__ import annotations

import math
import time

from flask import Response, abort, jsonify, render_template, request
from flask.typing import ResponseReturnValue
from flask_login import current_user

from smsapp.models import PollStatus
from smsapp.privacy.suppression import show, suppress, suppress_total
from smsapp.services.research.results import results_version, summarise
from smsapp.web import chart_png, db_session, runtime
from smsapp.web.admin import bp
from smsapp.web.admin.results import (
    LIVE_SECONDS,
    RESULTS_ROLES,
    chart_title,
    question_bars,
    results_page_data,
)
from smsapp.web.auth import roles_required
from smsapp.web.lookups import poll_or_404

REDRAW_SHARE = 10  # wait at least ten times as long as the last redraw took


def next_look(redraw_seconds: float) -> int:
    """Seconds until the page looks again: LIVE_SECONDS, or longer when a redraw is slow (a
    big poll answered all the time), so one open page keeps the database busy at most a
    tenth of the time."""
    return max(LIVE_SECONDS, math.ceil(redraw_seconds * REDRAW_SHARE))


@bp.get("/polls/<slug>/results/live")
@roles_required(*RESULTS_ROLES)
def poll_results_live(slug: str) -> ResponseReturnValue:
    poll = poll_or_404(slug)
    version = results_version(db_session(), poll)
    headers = {"ETag": f'"{version}"', "Cache-Control": "no-store"}
    if version in request.if_none_match:
        return Response(status=304, headers=headers)
    started = time.perf_counter()
    html = render_template(
        "admin/_results_body.html",
        poll=poll,
        people=current_user.role in ("admin", "facilitator"),
        small_count=runtime().settings.small_count,
        **results_page_data(poll),
    )
    body = jsonify(
        version=version,
        open=poll.status == PollStatus.OPEN,
        status=poll.status,
        every=next_look(time.perf_counter() - started),
        html=html,
    )
    body.headers.update(headers)
    return body


@bp.get("/polls/<slug>/results/<key>.png")
@roles_required(*RESULTS_ROLES)
def poll_result_png(slug: str, key: str) -> ResponseReturnValue:
    poll = poll_or_404(slug)
    summary = summarise(db_session(), poll)
    question = next((q for q in summary.questions if q.key == key), None)
    if question is None:
        abort(404)
    bars = question_bars(question)
    if bars is None:
        abort(404, "this question has no chart: free-text answers are never drawn")
    k = runtime().settings.small_count
    # The page's numbers, with every count below k hidden (and one more if only one is), and
    # all of them when fewer than k answered: a picture may be shown to anyone.
    if suppress_total(question.answered, k) is None:
        shown: dict[int, int | None] = {i: None for i in range(len(bars))}
    else:
        shown = suppress({i: int(v) for i, (_, v) in enumerate(bars)}, k)
    answered = show(suppress_total(question.answered, k), k)
    png = chart_png.bar_chart_png(
        [
            (label, None if shown[i] is None else float(shown[i] or 0))
            for i, (label, _) in enumerate(bars)
        ],
        title=question.prompt,
        subtitle=f"{poll.title} · {chart_title(question)} · answered by {answered}",
        note=f"Counts under {k} are hidden so nobody can be singled out.",
        hidden_text=f"fewer than {k}",
    )
    return Response(
        png,
        mimetype="image/png",
        headers={
            "Content-Disposition": f'attachment; filename="{poll.slug}-{key}.png"',
            "Cache-Control": "no-store",
        },
    )
