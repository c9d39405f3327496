"""Participants and groups: create, find by number, import from CSV with a report of every row."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from smsapp.db import utcnow
from smsapp.models import Group, GroupMembership, Participant
from smsapp.privacy.phones import PhoneNumberError, mask_phone, normalise_phone
from smsapp.privacy.vault import PhoneVault
from smsapp.services import audit

SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,59}$")
KNOWN_COLUMNS = ("phone", "nickname", "age_band", "consent", "language")
MAX_IMPORT_BYTES = 10 * 1024 * 1024


class GroupError(ValueError):
    pass


class ImportFileError(ValueError):
    """The whole file is unusable (no header, no phone column, empty, not text)."""


def create_group(session: Session, slug: str, name: str, actor: str = "system") -> Group:
    slug = slug.strip()
    if not SLUG_RE.match(slug):
        raise GroupError("a group slug is lower-case letters, digits and hyphens, e.g. oakfield")
    if session.scalar(sa.select(Group.id).where(Group.slug == slug)) is not None:
        raise GroupError(f"a group called {slug!r} already exists")
    group = Group(slug=slug, name=name.strip() or slug, settings={})
    session.add(group)
    audit.record(session, actor, "group.create", slug, name=group.name)
    return group


def group_by_slug(session: Session, slug: str) -> Group | None:
    return session.scalar(sa.select(Group).where(Group.slug == slug))


def find_by_phone(
    session: Session, vault: PhoneVault, e164: str, *, lock: bool = False
) -> Participant | None:
    stmt = sa.select(Participant).where(Participant.phone_index == vault.index(e164))
    if lock and session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    return session.scalar(stmt)


def _unused_pseudonym(
    session: Session, vault: PhoneVault, e164: str, taken: set[str] | None
) -> str:
    """The first free pseudonym for this number. `taken`, when given, is every pseudonym in use
    (a bulk import loads them once instead of asking the database for each row)."""
    for attempt in range(50):
        candidate = vault.pseudonym(e164, attempt)
        if taken is not None:
            if candidate in taken:
                continue
            taken.add(candidate)
            return candidate
        exists = sa.select(Participant.id).where(Participant.pseudonym == candidate)
        if session.scalar(exists) is None:
            return candidate
    raise RuntimeError("could not find a free pseudonym")  # 50 collisions: practically never


def new_participant(
    session: Session,
    vault: PhoneVault,
    e164: str,
    *,
    nickname: str | None = None,
    taken: set[str] | None = None,
) -> Participant:
    participant = Participant(
        pseudonym=_unused_pseudonym(session, vault, e164, taken),
        phone_ciphertext=vault.encrypt(e164),
        phone_index=vault.index(e164),
        phone_masked=mask_phone(e164),
        nickname=nickname,
    )
    session.add(participant)
    return participant


def parse_consent(value: str) -> tuple[bool, datetime | None]:
    """`yes` → consent now; a date → consent on that day; blank/no → none. Else ValueError."""
    text = value.strip().lower()
    if text in {"", "no", "n", "false", "0"}:
        return False, None
    if text in {"yes", "y", "true", "1", "x", "✓"}:
        return True, None
    for fmt in ("%Y-%m-%d", "%d/%m/%Y", "%d/%m/%y", "%d-%m-%Y", "%d.%m.%Y"):
        try:
            day = datetime.strptime(text, fmt).date()
        except ValueError:
            continue
        if day > date.today():
            raise ValueError("consent date is in the future")
        return True, datetime(day.year, day.month, day.day, 12, tzinfo=UTC)
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
    try:
        dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(
            text[:4096], delimiters=",;\t"
        )
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(io.StringIO(text, newline=""), dialect)
    try:
        header = next(reader)
    except (StopIteration, csv.Error) as exc:
        raise ImportFileError(f"the file has no readable header row ({exc})") from None
    columns = [h.strip().lower().replace(" ", "_") for h in header]
    if "phone" not in columns:
        found = ", ".join(c for c in columns if c) or "none"
        raise ImportFileError(
            f"the header row has no 'phone' column (found: {found}); "
            f"expected columns: {', '.join(KNOWN_COLUMNS)}"
        )
    rows: list[tuple[int, dict[str, str]]] = []
    try:
        for values in reader:
            if not any(v.strip() for v in values):
                continue
            line = reader.line_num
            if len(values) > len(columns):
                rows.append(
                    (line, {"__error__": f"{len(values)} cells but the header has {len(columns)}"})
                )
                continue
            rows.append(
                (line, {c: (values[i] if i < len(values) else "") for i, c in enumerate(columns)})
            )
    except csv.Error as exc:
        raise ImportFileError(f"line {reader.line_num}: the CSV is malformed ({exc})") from None
    if not rows:
        raise ImportFileError("the file has a header but no rows")
    return columns, rows


def import_participants(
    session: Session,
    vault: PhoneVault,
    group: Group,
    data: bytes | str,
    *,
    actor: str = "system",
) -> ImportReport:
    """Add or update every good row and report every bad one; the caller commits.

    Rows without consent are imported (so the facilitator sees them) but never texted.
    """
    _columns, rows = _read_rows(data)
    report = ImportReport(group=group.slug)

    parsed: list[tuple[int, str, dict[str, str], tuple[bool, datetime | None]]] = []
    seen: dict[str, int] = {}
    for line, row in rows:
        if "__error__" in row:
            report.rejected.append(RowReport(line, outcome="rejected", reason=row["__error__"]))
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
            consent = parse_consent(row.get("consent", ""))
        except ValueError as exc:
            report.rejected.append(RowReport(line, outcome="rejected", reason=str(exc)))
            continue
        nickname = (row.get("nickname") or "").strip()
        if len(nickname) > 60:
            report.rejected.append(
                RowReport(line, outcome="rejected", reason="nickname longer than 60 characters")
            )
            continue
        seen[e164] = line
        parsed.append((line, e164, row, consent))

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
    now = utcnow()
    touched: list[tuple[int, Participant, str]] = []
    for line, e164, row, (has_consent, consent_at) in parsed:
        participant = existing.get(vault.index(e164))
        outcome = "updated"
        if participant is None:
            participant = new_participant(session, vault, e164, taken=taken)
            outcome = "added"
        for column in ("nickname", "age_band", "language"):
            value = (row.get(column) or "").strip()
            if value:
                setattr(participant, column, value[:60])
        if has_consent and participant.consent_at is None:
            participant.consent_at = consent_at or now
            participant.consent_method = "import"
            participant.consent_by = actor
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


CONSENT_METHODS = ("paper form", "online form", "e-mail", "verbal")


class ParticipantError(ValueError):
    pass


def record_consent(
    session: Session,
    participant: Participant,
    by: str,
    at: datetime,
    method: str,
    actor: str,
) -> None:
    """Record a guardian's consent: who gave it (free text), on what day, and how."""
    by = by.strip()
    if not by:
        raise ParticipantError("say who gave consent, e.g. 'Jo Smith, mother'")
    if len(by) > 200:
        raise ParticipantError("who gave consent: at most 200 characters")
    if method not in CONSENT_METHODS:
        raise ParticipantError(f"how consent was given: one of {', '.join(CONSENT_METHODS)}")
    if at.tzinfo is None:
        raise ValueError("consent time must be timezone-aware")
    if at > utcnow():
        raise ParticipantError("the consent date is in the future")
    participant.consent_at, participant.consent_by, participant.consent_method = at, by, method
    audit.record(session, actor, "participant.consent", participant.pseudonym, method=method)


def change_phone(
    session: Session, vault: PhoneVault, participant: Participant, e164: str, actor: str
) -> None:
    """Give a participant a new number; refused when another participant already has it."""
    index = vault.index(e164)
    if index == participant.phone_index:
        return
    if session.scalar(sa.select(Participant.id).where(Participant.phone_index == index)):
        raise ParticipantError("another participant already has this number")
    participant.phone_ciphertext = vault.encrypt(e164)
    participant.phone_index = index
    participant.phone_masked = mask_phone(e164)
    audit.record(session, actor, "participant.phone_change", participant.pseudonym)
