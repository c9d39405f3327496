"""Which export is asked for (kind, layout, question, suppression), checked before any byte is
written, its file name, and the audit record of who took it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy.orm import Session

from smsapp.models import AuditEvent, Poll
from smsapp.services import audit
from smsapp.services.polls.definitions import load_definition
from smsapp.voting.ballots import BALLOT_KINDS

KINDS = ("responses", "ballots", "tally", "codebook", "floip")


class ExportError(ValueError):
    """An export that cannot be made, with the reason in words."""


@dataclass(frozen=True)
class ExportRequest:
    """Which file: kind, the wide layout for responses, one ballot question, suppression."""

    kind: str
    wide: bool = False
    question: str | None = None
    suppress_below: int | None = None
    xlsx: bool = False  # an Excel workbook of the same cells instead of the CSV
    options: dict[str, Any] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ExportError(f"unknown export {self.kind!r}; choose one of {', '.join(KINDS)}")
        if self.wide and self.kind != "responses":
            raise ExportError("--wide applies to the responses export only")
        if self.suppress_below is not None:
            if self.kind != "tally":
                raise ExportError("small-cell suppression applies to the tally export only")
            if self.suppress_below < 2:
                raise ExportError("the suppression threshold must be at least 2")
        if self.question is not None and self.kind != "ballots":
            raise ExportError("choosing one question applies to the ballots export only")
        if self.xlsx and self.kind == "floip":
            raise ExportError("the FLOIP package is a zip of its own; XLSX is for the CSV exports")

    @property
    def label(self) -> str:
        return "responses-wide" if self.wide else self.kind

    @property
    def extension(self) -> str:
        if self.kind == "floip":
            return "zip"
        return "xlsx" if self.xlsx else "csv"

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "wide": self.wide,
            "question": self.question,
            "suppress_below": self.suppress_below,
            "xlsx": self.xlsx,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ExportRequest:
        return cls(
            kind=data["kind"],
            wide=bool(data.get("wide")),
            question=data.get("question"),
            suppress_below=data.get("suppress_below"),
            xlsx=bool(data.get("xlsx")),
        )


def check_request(poll: Poll, request: ExportRequest) -> None:
    """Raise ExportError for a request this poll cannot answer (before any byte is written)."""
    if request.question is None:
        return
    try:
        kind = load_definition(poll).question(request.question).kind
    except KeyError:
        raise ExportError(f"poll {poll.slug} has no question {request.question!r}") from None
    if kind not in BALLOT_KINDS:
        raise ExportError(f"question {request.question!r} is a {kind} question, not a ballot")


def export_filename(slug: str, request: ExportRequest, day: date) -> str:
    """`{poll}-{export}-{YYYY-MM-DD}.csv`: says which poll and when, sorts by poll then date."""
    question = f"-{request.question}" if request.question else ""
    return f"{slug}-{request.label}{question}-{day.isoformat()}.{request.extension}"


def record_download(
    session: Session,
    actor: str,
    poll: Poll,
    request: ExportRequest,
    *,
    via: str,
    rows: int | None = None,
) -> AuditEvent:
    """Who took which file of which poll, and how; the caller commits."""
    details: dict[str, Any] = {"export": request.label, "via": via, **request.to_json()}
    if rows is not None:
        details["rows"] = rows
    return audit.record(session, actor, "export.download", f"poll:{poll.slug}", **details)
