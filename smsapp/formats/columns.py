"""The exact columns of every export (docs/interfaces.md first, extras after) and how an answer, a
ballot and a stored tally become cells. Pure: values in, lists of cells out."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from smsapp.voting.ballots import Ranked

# docs/interfaces.md "CSV exports": these names and their order are a promise to researchers' scripts.
RESPONSES = (
    "participant",
    "poll",
    "question",
    "kind",
    "answer",
    "answer_label",
    "raw_text",
    "answered_at",
    "attempts",
)
# Paradata researchers asked for, after the public interface's columns so scripts reading by position
# still work: when the invitation went, reminders before this answer, seconds since the question
# was sent (the previous answer, or the invitation/start for the first), and skipped (1/0).
RESPONSES_EXTRA = ("invited_at", "reminders_before_answer", "seconds_to_answer", "skipped")
BALLOTS = ("participant", "poll", "question", "ranking", "cast_at")
# Points ballots: `ranking` lists the options by points, most first; `points` gives each one's
# points in the same order. Empty for rank, approve and choice ballots.
BALLOTS_EXTRA = ("kind", "points")
TALLY = ("poll", "question", "method", "round", "option", "label", "votes", "status", "note")
TALLY_EXTRA = ("place", "ballots", "exhausted", "final", "input_sha256")
CODEBOOK = ("poll", "question", "kind", "prompt", "code", "label")
CODEBOOK_EXTRA = ("optional", "min", "max", "tally_method", "asked_when")

SCALE_ROWS_LIMIT = 20  # a scale with more points than this gets one codebook row, not one each


def wide_columns(question_keys: list[str]) -> list[str]:
    return ["participant", *question_keys]


def answer_text(kind: str, value: Any) -> str:
    """An answer's value as one cell: codes separated by spaces, Y/N, numbers, or the text.

    Points read "A:3 C:2", most points first. The result is not yet redacted or neutralised.
    """
    if value is None:
        return ""
    if isinstance(value, bool):
        return "Y" if value else "N"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return " ".join(str(v) for v in value)
    if isinstance(value, dict):
        return " ".join(f"{code}:{points}" for code, points in points_order(value))
    return str(value)


def points_order(value: Mapping[str, Any]) -> list[tuple[str, int]]:
    """Point allocations, most points first; equal points keep the order they were stored in."""
    pairs = [(str(code), int(points)) for code, points in value.items()]
    return sorted(pairs, key=lambda pair: -pair[1])


def ballot_cells(ranked: Ranked) -> tuple[str, str]:
    """(ranking, points) cells of a ballot read by voting.ballots.ranking_of.

    rank/approve/choice: the codes best first, as `smsapp tally` reads them. A points ballot is
    not a ranking in the public interface's sense (the allocation carries more than the order), so its
    ranking orders the options by points and `points` keeps the amounts beside it.
    """
    return " ".join(ranked.codes), " ".join(str(n) for n in ranked.points)


def _notes(tie_breaks: list[dict[str, Any]], code: str, round_no: int | None) -> str:
    found = []
    for record in tie_breaks:
        if round_no is not None and record.get("round") not in (None, round_no):
            continue
        involved = record.get("between") or record.get("order") or []
        if code in involved:
            text = record.get("explanation") or record.get("rule") or ""
            if text and text not in found:
                found.append(str(text))
    return " ".join(found)


def tally_rows(result: Mapping[str, Any], labels: Mapping[str, str]) -> Iterator[dict[str, Any]]:
    """One dict per (round, option) of a stored TallyResult.to_json_dict().

    IRV gives every round it counted, with the options still in the count; other methods give
    round 1 with their final scores. `status`: elected / eliminated / continuing in IRV rounds
    (winner once an elected option is still counted), winner / not-elected otherwise. `note`
    carries the explanation of any tie-break the option was part of.
    """
    order = [str(code) for code in result.get("order", [])]
    place = {code: i for i, code in enumerate(order, start=1)}
    winners = {str(code) for code in result.get("winners", [])}
    tie_breaks = list(result.get("tie_breaks") or [])
    rounds = list(result.get("rounds") or [])
    if result.get("method") == "irv" and rounds:
        elected_before = False
        for record in rounds:
            round_no = int(record["round"])
            for code, votes in record.get("votes", {}).items():
                if code == record.get("elected"):
                    status = "elected"
                elif code == record.get("eliminated"):
                    status = "eliminated"
                elif code in winners and elected_before:
                    status = "winner"
                else:
                    status = "continuing"
                yield {
                    "round": round_no,
                    "option": code,
                    "label": labels.get(code, code),
                    "votes": int(votes),
                    "status": status,
                    "note": _notes(tie_breaks, code, round_no),
                    "place": place.get(code, ""),
                    "exhausted": int(record.get("exhausted", 0)),
                }
            elected_before = elected_before or record.get("elected") is not None
        return
    scores = result.get("scores", {})
    for code in order:
        yield {
            "round": 1,
            "option": code,
            "label": labels.get(code, code),
            "votes": int(scores.get(code, 0)),
            "status": "winner" if code in winners else "not-elected",
            "note": _notes(tie_breaks, code, None),
            "place": place[code],
            "exhausted": "",
        }
