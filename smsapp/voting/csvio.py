"""Reading a ballots CSV (`ranking` column, optional `count`) into ballots."""

from __future__ import annotations

import csv
import re
from collections.abc import Sequence
from typing import TextIO

from smsapp.voting.ballots import Ballot, normalise_ranking

_SEPARATORS = re.compile(r"[\s,]+")


class BallotFileError(ValueError):
    """A problem in a ballots file, with the line it is on (0 when it is the whole file)."""

    def __init__(self, line_no: int, message: str) -> None:
        self.line_no = line_no
        self.message = message
        super().__init__(f"line {line_no}: {message}" if line_no else message)


def read_ballots_csv(
    fileobj: TextIO, *, options: Sequence[str] | None = None, skip_unknown: bool = False
) -> tuple[list[str], list[Ballot]]:
    """Return (options, ballots); with no `options`, every code seen, sorted.

    Unknown codes raise BallotFileError unless `skip_unknown`, which drops them from the ballot.
    """
    text = fileobj.read()
    if text.startswith("\ufeff"):
        text = text[1:]
    if not text.strip():
        raise BallotFileError(0, "the ballots file is empty")
    reader = csv.reader(text.splitlines())
    header = [name.strip().lower() for name in next(reader)]
    if "ranking" not in header:
        raise BallotFileError(1, "the header has no 'ranking' column")
    ranking_at = header.index("ranking")
    count_at = header.index("count") if "count" in header else None
    known = {code.strip().upper() for code in options} if options is not None else None
    ballots: list[Ballot] = []
    seen: set[str] = set()
    for line_no, row in enumerate(reader, start=2):
        if not any(cell.strip() for cell in row):
            continue
        cell = row[ranking_at] if ranking_at < len(row) else ""
        ranking = normalise_ranking(_SEPARATORS.split(cell))
        if known is not None:
            unknown = [code for code in ranking if code not in known]
            if unknown and not skip_unknown:
                raise BallotFileError(line_no, f"unknown option code(s): {', '.join(unknown)}")
            ranking = tuple(code for code in ranking if code in known)
        count = 1
        if count_at is not None and count_at < len(row) and row[count_at].strip():
            raw = row[count_at].strip()
            if not raw.isdigit():
                raise BallotFileError(
                    line_no, f"count must be a whole number of 0 or more, not {raw!r}"
                )
            count = int(raw)
        seen.update(ranking)
        ballots.append(Ballot(ranking, count))
    if options is not None:
        return [code.strip().upper() for code in options], ballots
    return sorted(seen), ballots
