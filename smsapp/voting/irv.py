"""Instant-runoff: eliminate the option with fewest votes, one per round, to a full order.

Distinct rankings are kept in piles by their current top continuing option, so an
elimination only touches the eliminated option's pile.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from smsapp.voting.ballots import Profile
from smsapp.voting.result import TallyResult
from smsapp.voting.tiebreak import lot_break


def _last_place(
    tied: list[str], history: list[dict[str, int]], seed: str, round_no: int
) -> tuple[str, list[dict[str, Any]]]:
    """Which of the options tied for fewest votes goes: previous rounds walking back, then lot."""
    records: list[dict[str, Any]] = []
    group = sorted(tied)
    for back in range(len(history) - 2, -1, -1):
        votes = history[back]
        fewest = min(votes[code] for code in group)
        losers = sorted(code for code in group if votes[code] == fewest)
        if len(losers) < len(group):
            values = {code: votes[code] for code in group}
            order = sorted(group, key=lambda code: -votes[code])
            records.append(
                {
                    "rule": "previous-round",
                    "round": round_no,
                    "between": group,
                    "values": values,
                    "compared_round": back + 1,
                    "order": order,
                    "eliminated": losers[0] if len(losers) == 1 else None,
                    "explanation": (
                        f"Round {round_no}: {', '.join(group)} tied for fewest votes; in round "
                        f"{back + 1} they had "
                        + ", ".join(f"{code} {votes[code]}" for code in order)
                        + f", so {' and '.join(losers)} "
                        + ("is eliminated." if len(losers) == 1 else "stay tied for last.")
                    ),
                }
            )
            group = losers
            if len(group) == 1:
                return group[0], records
    record = lot_break(group, seed, context=f"tied for fewest votes in round {round_no}")
    record["round"] = round_no
    # earlier in the lot wins a tie, so the last in the lot is the one eliminated
    record["eliminated"] = record["order"][-1]
    record["explanation"] += f" {record['eliminated']} is eliminated."
    records.append(record)
    return record["eliminated"], records


def count_irv(options: Sequence[str], profile: Profile, seed: str) -> TallyResult:
    """Rounds until a majority winner is known and one rival is left; order from eliminations."""
    piles: dict[str, list[tuple[tuple[str, ...], int, int]]] = {code: [] for code in options}
    totals = dict.fromkeys(options, 0)
    exhausted = 0
    for ranking, count in profile.items():
        if ranking:
            piles[ranking[0]].append((ranking, 0, count))
            totals[ranking[0]] += count
        else:
            exhausted += count

    continuing = list(options)
    alive = set(options)
    eliminated_order: list[str] = []
    rounds: list[dict[str, Any]] = []
    tie_breaks: list[dict[str, Any]] = []
    history: list[dict[str, int]] = []
    scores = dict.fromkeys(options, 0)
    winner: str | None = None

    while continuing:
        round_no = len(rounds) + 1
        votes = {code: totals[code] for code in continuing}
        history.append(votes)
        scores.update(votes)
        in_play = sum(votes.values())
        elected = None
        if winner is None:
            top = [code for code in continuing if 2 * votes[code] > in_play]
            if top:
                elected = winner = top[0]
            elif len(continuing) == 1:
                elected = winner = continuing[0]
        record: dict[str, Any] = {
            "round": round_no,
            "votes": votes,
            "exhausted": exhausted,
            "eliminated": None,
            "elected": elected,
        }
        rounds.append(record)
        if winner is not None and len(continuing) <= 2:
            break
        fewest = min(votes[code] for code in continuing if code != winner)
        tied = [code for code in continuing if code != winner and votes[code] == fewest]
        if len(tied) == 1:
            loser = tied[0]
        else:
            loser, records = _last_place(tied, history, seed, round_no)
            tie_breaks += records
        record["eliminated"] = loser
        eliminated_order.append(loser)
        continuing.remove(loser)
        alive.discard(loser)
        for ranking, position, count in piles.pop(loser):
            # move each ballot on to its next continuing option, or exhaust it
            for next_position in range(position + 1, len(ranking)):
                code = ranking[next_position]
                if code in alive:
                    piles[code].append((ranking, next_position, count))
                    totals[code] += count
                    break
            else:
                exhausted += count
        totals[loser] = 0

    assert winner is not None or not options
    runner_up = [code for code in continuing if code != winner]
    order = ([winner] if winner else []) + runner_up + eliminated_order[::-1]
    return TallyResult(
        method="irv",
        ballots=sum(profile.values()),
        order=order,
        winners=[winner] if winner else [],
        scores=scores,
        rounds=rounds,
        tie_breaks=tie_breaks,
    )
