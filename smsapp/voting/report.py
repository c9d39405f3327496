"""A readable, plain-text account of a tally: the order, the rounds and every tie-break."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from smsapp.voting.result import TallyResult

SCORE_NAMES = {
    "points": "points",
    "irv": "votes (last round counted)",
    "schulze": "options beaten",
    "approval": "approvals",
    "plurality": "first places",
}


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        return "  ".join(
            cell.rjust(width) if cell.lstrip("-").isdigit() else cell.ljust(width)
            for cell, width in zip(cells, widths, strict=True)
        ).rstrip()

    return [line(header), line(["-" * width for width in widths])] + [line(r) for r in rows]


def render_report(
    result: TallyResult,
    *,
    labels: Mapping[str, str] | None = None,
    consensus: Mapping[str, Any] | None = None,
    seed: str = "",
) -> str:
    """The result as text for a terminal: order table, IRV rounds, tie-breaks, consensus."""
    labels = labels or {}
    out = [
        f"Method: {result.method}    Ballots: {result.ballots}    "
        f"Winner: {', '.join(result.winners) or '(none)'}",
    ]
    if not seed:
        out.append("Note: no seed was given, so any tie for the lot uses the empty seed.")
    out.append("")
    rows = [
        [str(place), code, labels.get(code, ""), str(result.scores.get(code, 0))]
        for place, code in enumerate(result.order, start=1)
    ]
    out += _table(["place", "code", "option", SCORE_NAMES[result.method]], rows)

    if result.rounds:
        codes = list(result.rounds[0]["votes"])
        rows = []
        for round_ in result.rounds:
            outcome = (
                f"{round_['elected']} elected"
                if round_["elected"]
                else (f"{round_['eliminated']} eliminated" if round_["eliminated"] else "")
            )
            if round_["elected"] and round_["eliminated"]:
                outcome += f"; {round_['eliminated']} eliminated"
            votes = round_["votes"]
            rows.append(
                [str(round_["round"])]
                + [str(votes[c]) if c in votes else "-" for c in codes]
                + [str(round_["exhausted"]), outcome]
            )
        out += ["", "Rounds:"]
        out += _table(["round", *codes, "exhausted", "outcome"], rows)

    out += ["", "Tie-breaks:" if result.tie_breaks else "Tie-breaks: none were needed."]
    out += [f"- {record['explanation']}" for record in result.tie_breaks]

    if consensus is not None:
        winner = consensus["schulze_winner"]
        out.append("")
        if consensus["agrees"]:
            out.append(f"Consensus check: Schulze also picks {winner}.")
        else:
            out.append(
                f"Consensus check: Schulze would pick {winner} "
                f"(order {', '.join(consensus['schulze_order'])}), not "
                f"{', '.join(result.winners) or 'the same'}."
            )
    out.append(f"Input SHA-256: {result.input_sha256}  (smsapp {result.version})")
    return "\n".join(out) + "\n"
