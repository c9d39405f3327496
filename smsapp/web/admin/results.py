"""A poll's results: counts per question as bar charts, respondents over time, and each vote's
order, scores, Schulze check, IRV rounds and tie-breaks in plain words. Never a number or a
nickname, and free text only as counts (never shown to the group; exports have it)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from flask import render_template
from flask.typing import ResponseReturnValue

from smsapp.models import Poll, PollStatus, TallyRun
from smsapp.services.polls.definitions import load_definition
from smsapp.services.research.results import (
    QuestionSummary,
    respondents_over_time,
    results_version,
    summarise,
)
from smsapp.services.votes.tallying import latest_results
from smsapp.web import charts, db_session, runtime
from smsapp.web.admin import bp
from smsapp.web.auth import roles_required
from smsapp.web.lookups import poll_or_404

RESULTS_ROLES = ("admin", "facilitator", "researcher")
REFRESH_SECONDS = 30  # the reload without JavaScript
LIVE_SECONDS = 5  # how often the live page asks whether anything changed
FREE_TEXT = ("text", "nominate")
METHOD_NAMES = {
    "irv": "instant run-off",
    "schulze": "Schulze (pairwise)",
    "points": "points",
    "approval": "approval",
    "plurality": "most first choices",
}


@dataclass
class Place:
    place: int
    code: str
    label: str
    score: Any
    winner: bool


@dataclass
class CountView:
    """One stored count of one question, ready for the page."""

    method: str
    name: str
    provisional: bool
    ballots: int
    places: list[Place]
    chart: str
    rounds_chart: str | None
    tie_breaks: list[str]
    consensus: dict[str, Any] | None
    consensus_winner: str | None
    created_at: str
    input_sha256: str


@dataclass
class QuestionView:
    summary: QuestionSummary
    chart: str | None
    free_text: bool
    counts: list[CountView] = field(default_factory=list)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _round_note(record: dict[str, Any], labels: dict[str, str]) -> str:
    """ "B Bananas out" or "A Apples elected": what the round decided, in words."""
    parts = []
    if record.get("elected"):
        parts.append(f"{record['elected']} {labels.get(record['elected'], '')} elected".strip())
    if record.get("eliminated"):
        parts.append(f"{record['eliminated']} {labels.get(record['eliminated'], '')} out")
    if record.get("exhausted"):
        parts.append(f"{record['exhausted']} exhausted")
    return ", ".join(parts)


def _count_view(run: TallyRun, labels: dict[str, str], chart_id: str, when: str) -> CountView:
    result = run.result
    winners = set(result.get("winners", []))
    scores = result.get("scores", {})
    order = list(result.get("order", []))
    places = [
        Place(i, code, labels.get(code, code), scores.get(code), code in winners)
        for i, code in enumerate(order, 1)
    ]
    name = METHOD_NAMES.get(run.method, run.method)
    bars = [
        (f"{code} {labels.get(code, code)}", float(scores[code]))
        for code in order
        if isinstance(scores.get(code), int | float)
    ]
    chart = charts.bar_chart(bars, title=f"Scores by {name}", chart_id=chart_id)
    rounds = result.get("rounds") or []
    rounds_chart = None
    if rounds:
        rounds_chart = charts.rounds_chart(
            [r.get("votes", {}) for r in rounds],
            {code: f"{code} {labels.get(code, code)}" for code in labels},
            title=f"Votes in each round of {name}",
            chart_id=f"{chart_id}-rounds",
            notes=[_round_note(r, labels) for r in rounds],
        )
    consensus = run.consensus
    schulze = consensus.get("schulze_winner") if consensus else None
    return CountView(
        method=run.method,
        name=name,
        provisional=run.provisional,
        ballots=run.ballots,
        places=places,
        chart=chart,
        rounds_chart=rounds_chart,
        tie_breaks=[str(t.get("explanation", "")) for t in result.get("tie_breaks", [])],
        consensus=consensus,
        consensus_winner=f"{schulze} {labels.get(schulze, schulze)}" if schulze else None,
        created_at=when,
        input_sha256=run.input_sha256,
    )


def question_bars(q: QuestionSummary) -> list[tuple[str, float]] | None:
    """The bars of a question's answers chart, (label, count), as the page draws them; None
    for a free-text question or one with nothing to count. The PNG download draws these too."""
    if not q.counts or q.kind in FREE_TEXT:
        return None
    counts = q.counts
    if q.kind == "scale":  # 1, 2, 3 … in order, not most-chosen first
        counts = sorted(counts, key=lambda c: float(c[0]) if _is_number(c[0]) else 0.0)
    return [(label if code == label else f"{code} {label}", float(k)) for code, label, k in counts]


def chart_title(q: QuestionSummary) -> str:
    return f"Answers to {q.key}"


def results_page_data(poll: Poll) -> dict[str, Any]:
    s = db_session()
    zone = ZoneInfo(runtime().settings.timezone)
    summary = summarise(s, poll)
    defn = load_definition(poll)
    by_key = {q.key: q for q in defn.questions}
    stored = latest_results(s, poll)
    questions = []
    for n, q in enumerate(summary.questions):
        free = q.kind in FREE_TEXT
        chart = None
        bars = question_bars(q)
        if bars is not None:
            chart = charts.bar_chart(bars, title=chart_title(q), chart_id=f"q{n}")
        view = QuestionView(q, chart, free)
        question = by_key.get(q.key)
        labels = {o.code: o.label for o in question.options} if question else {}
        for m, run in enumerate(stored.get(q.key, [])):
            when = f"{run.created_at.astimezone(zone):%d %b %H:%M}"
            view.counts.append(_count_view(run, labels, f"q{n}-m{m}", when))
        questions.append(view)
    over_time = respondents_over_time(s, poll)
    fmt = (
        "%d %b"
        if len(over_time) > 1 and (over_time[1][0] - over_time[0][0]).days
        else "%d %b %H:00"
    )
    timeline = charts.line_chart(
        [(f"{at.astimezone(zone):{fmt}}", float(n)) for at, n in over_time],
        title="People who have answered, over time",
        chart_id="over-time",
        y_max=float(summary.invited),
    )
    return {"summary": summary, "questions": questions, "timeline": timeline}


@bp.get("/polls/<slug>/results")
@roles_required(*RESULTS_ROLES)
def poll_results(slug: str) -> ResponseReturnValue:
    poll = poll_or_404(slug)
    is_open = poll.status == PollStatus.OPEN
    # While the poll is open, static/live_results.js asks results_live for changes every
    # LIVE_SECONDS and redraws; without JavaScript, a <noscript> refresh reloads the page.
    return render_template(
        "admin/results.html",
        poll=poll,
        refresh=REFRESH_SECONDS if is_open else None,
        version=results_version(db_session(), poll),
        live_every=LIVE_SECONDS,
        small_count=runtime().settings.small_count,
        **results_page_data(poll),
    )
