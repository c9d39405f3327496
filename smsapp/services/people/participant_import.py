"""The participant CSV import: every good row added or updated, every bad row reported with
its line and reason, and the file refused whole when it cannot be read (ImportFileError).

Columns: phone (required), nickname, age_band, consent (a date or yes), language.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from smsapp.db import utcnow
from smsapp.models import Group, GroupMembership, Participant
from smsapp.privacy.phones import PhoneNumberError, normalise_phone
from smsapp.privacy.vault import PhoneVault
from smsapp.services import audit
from smsapp.services.people import consent
from smsapp.services.people.participants import column_length, new_participant

KNOWN_COLUMNS = ("phone", "nickname", "age_band", "consent", "language")
MAX_IMPORT_BYTES = 10 * 1024 * 1024


class ImportFileError(ValueError):
    """The whole file is unusable (no header, no phone column, empty, not text)."""


def parse_consent(value: str) -> tuple[bool, date | None]:
    """The CSV's consent cell: `yes` → consent with no date; a date → consent on that day;
    blank/no → none. Else ValueError. consent.consent_time turns the day into a time."""
    text = value.strip().lower()
    if text in {"", "no", "n", "false", "0"}:
        return False, None
    if text in {"yes", "y", "true", "1", "x", "✓"}:
        return True, None
    for fmt in ("%Y-%m-%d", "%d/%m/%Y", "%d/%m/%y", "%d-%m-%Y", "%d.%m.%Y"):
        try:
            return True, datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    raise ValueError("consent must be a date (2026-09-01 or 01/09/2026) or yes")


@dataclass
class RowReport:
    line: int
    pseudonym: str | None = None
    outcome: str = ""  # added, updated, rejected
    reason: str = ""


@dataclass
class ImportReport:
    group: str
    accepted: list[RowReport] = field(default_factory=list)
    rejected: list[RowReport] = field(default_factory=list)
    without_consent: int = 0

    def summary(self) -> str:
        added = sum(1 for r in self.accepted if r.outcome == "added")
        updated = len(self.accepted) - added
        lines = [
            f"{len(self.accepted)} rows accepted into {self.group} "
            f"({added} new, {updated} already known), {len(self.rejected)} rejected."
        ]
        if self.without_consent:
            lines.append(
                f"{self.without_consent} accepted without a guardian's consent: "
                "they will not be texted until consent is recorded."
            )
        for row in self.rejected:
            lines.append(f"  line {row.line}: rejected: {row.reason}")
        return "\n".join(lines)


# A row is one line. A quoted cell may not run onto the next line: read loosely, one stray
# opening quote swallowed every later row, numbers and all, into a single nickname.
_LINE_END = re.compile(r"\r\n|\r|\n")
# A delimiter followed by digits inside one cell: the tell-tale of another row (its phone
# number first) caught inside a pair of quotes.
_ROW_INSIDE_CELL = re.compile(r"[,;\t]\s*[+(]?\d")
NICKNAME_LIMIT = 60


class _Strict(csv.Dialect):
    """The sniffed delimiter with double quotes and strict quoting (a bad quote is an error)."""

    delimiter = ","
    quotechar = '"'
    doublequote = True
    skipinitialspace = False
    lineterminator = "\n"
    quoting = csv.QUOTE_MINIMAL
    strict = True


def _dialect(sample: str) -> type[_Strict]:
    """The file's delimiter (Excel writes ; in some locales) and spacing; quoting is fixed."""
    try:
        sniffed = csv.Sniffer().sniff(sample, delimiters=",;\t")
        found = {"delimiter": sniffed.delimiter, "skipinitialspace": sniffed.skipinitialspace}
    except csv.Error:
        found = {}
    return type("_Sniffed", (_Strict,), found)


def _cells(line: str, dialect: type[csv.Dialect]) -> list[str]:
    """One line's cells; csv.Error with a reason a facilitator can act on."""
    try:
        return next(csv.reader([line], dialect), [])
    except csv.Error as exc:
        if "unexpected end of data" in str(exc):
            raise csv.Error('a quote (") is opened and never closed on this line') from None
        raise csv.Error(f"the quotes on this line are malformed ({exc})") from None


def _read_rows(data: bytes | str) -> tuple[list[str], list[tuple[int, dict[str, str]]]]:
    if isinstance(data, bytes):
        if len(data) > MAX_IMPORT_BYTES:
            raise ImportFileError("the file is larger than 10 MB; split it into smaller files")
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            try:
                text = data.decode("cp1252")  # Excel's "CSV" on Windows
            except UnicodeDecodeError:
                raise ImportFileError("the file is not text (save it as CSV UTF-8)") from None
    else:
        text = data.lstrip("\ufeff")
    if not text.strip():
        raise ImportFileError("the file is empty")
    dialect = _dialect(text[:4096])
    lines = _LINE_END.split(text)
    try:
        header = _cells(lines[0], dialect)
    except csv.Error as exc:
        raise ImportFileError(f"the file has no readable header row (line 1: {exc})") from None
    columns = [h.strip().lower().replace(" ", "_") for h in header]
    if "phone" not in columns:
        found = ", ".join(c for c in columns if c) or "none"
        raise ImportFileError(
            f"the header row has no 'phone' column (found: {found}); "
            f"expected columns: {', '.join(KNOWN_COLUMNS)}"
        )
    rows: list[tuple[int, dict[str, str]]] = []
    for line, raw in enumerate(lines[1:], start=2):
        try:
            values = _cells(raw, dialect)
        except csv.Error as exc:
            rows.append((line, {"__error__": str(exc)}))
            continue
        if not any(v.strip() for v in values):
            continue
        if len(values) > len(columns):
            rows.append(
                (line, {"__error__": f"{len(values)} cells but the header has {len(columns)}"})
            )
            continue
        rows.append(
            (line, {c: (values[i] if i < len(values) else "") for i, c in enumerate(columns)})
        )
    if not rows:
        raise ImportFileError("the file has a header but no rows")
    return columns, rows


def _row_problem(row: dict[str, str]) -> str | None:
    """Why a row cannot be stored as it is, or None. Never repeats the cell's text."""
    for column in KNOWN_COLUMNS:
        if "\x00" in row.get(column, ""):
            # PostgreSQL cannot store NUL in text; before this check the row failed the import.
            return f"the {column} cell holds a NUL character; retype it"
    nickname = (row.get("nickname") or "").strip()
    if len(nickname.splitlines()) > 1:
        return "the nickname runs onto a second line; check the quotes on this line"
    if _ROW_INSIDE_CELL.search(nickname):
        return (
            "the nickname has a comma followed by digits, like another row inside quotes; "
            "check the quotes on this line"
        )
    if len(nickname) > NICKNAME_LIMIT:
        return f"nickname longer than {NICKNAME_LIMIT} characters"
    for column in ("age_band", "language"):
        limit = column_length(column)
        if len((row.get(column) or "").strip()) > limit:
            return f"{column} longer than {limit} characters"
    return None


def import_participants(
    session: Session,
    vault: PhoneVault,
    group: Group,
    data: bytes | str,
    *,
    actor: str = "system",
    zone: str = "UTC",
) -> ImportReport:
    """Add or update every good row and report every bad one; the caller commits.

    Rows without consent are imported (so the facilitator sees them) but never texted.
    """
    _columns, rows = _read_rows(data)
    report = ImportReport(group=group.slug)

    now = utcnow()
    parsed: list[tuple[int, str, dict[str, str], datetime | None]] = []
    seen: dict[str, int] = {}
    for line, row in rows:
        problem = row.get("__error__") or _row_problem(row)
        if problem:
            report.rejected.append(RowReport(line, outcome="rejected", reason=problem))
            continue
        try:
            e164 = normalise_phone(row.get("phone", "")).e164
        except PhoneNumberError as exc:
            shown = (row.get("phone") or "").strip()[:20]
            report.rejected.append(
                RowReport(line, outcome="rejected", reason=f"bad number {shown!r}: {exc}")
            )
            continue
        if e164 in seen:
            report.rejected.append(
                RowReport(line, outcome="rejected", reason=f"duplicate of line {seen[e164]}")
            )
            continue
        try:
            has_consent, day = parse_consent(row.get("consent", ""))
            consented_at = consent.consent_time(day, now, zone) if has_consent else None
        except ValueError as exc:  # ConsentError is one too
            report.rejected.append(RowReport(line, outcome="rejected", reason=str(exc)))
            continue
        seen[e164] = line
        parsed.append((line, e164, row, consented_at))

    # One query for everyone already known, instead of one per row.
    indexes = {vault.index(e164): e164 for _, e164, _, _ in parsed}
    existing: dict[str, Participant] = {}
    index_list = list(indexes)
    for start in range(0, len(index_list), 1000):
        chunk = index_list[start : start + 1000]
        for p in session.scalars(sa.select(Participant).where(Participant.phone_index.in_(chunk))):
            existing[p.phone_index or ""] = p
    members = set(
        session.scalars(
            sa.select(GroupMembership.participant_id).where(GroupMembership.group_id == group.id)
        )
    )
    taken = set(session.scalars(sa.select(Participant.pseudonym)))
    touched: list[tuple[int, Participant, str]] = []
    for line, e164, row, consented_at in parsed:
        participant = existing.get(vault.index(e164))
        outcome = "updated"
        if participant is None:
            participant = new_participant(session, vault, e164, taken=taken)
            outcome = "added"
        for column in ("nickname", "age_band", "language"):
            value = (row.get(column) or "").strip()
            if value:
                setattr(participant, column, value)
        if consented_at is not None and participant.consent_at is None:  # the first one stands
            consent.record_consent(
                session,
                participant,
                given_by=actor[: consent.GIVEN_BY_LIMIT],  # who imported: the file names nobody
                method=consent.IMPORTED,
                actor=actor,
                at=consented_at,
            )
        if participant.consent_at is None:
            report.without_consent += 1
        touched.append((line, participant, outcome))
    session.flush()  # one round of inserts gives every new participant its id
    for line, participant, outcome in touched:
        if participant.id not in members:
            session.add(GroupMembership(group_id=group.id, participant_id=participant.id))
            members.add(participant.id)
        report.accepted.append(RowReport(line, participant.pseudonym, outcome))
    audit.record(
        session,
        actor,
        "participants.import",
        group.slug,
        accepted=len(report.accepted),
        rejected=len(report.rejected),
    )
    return report
