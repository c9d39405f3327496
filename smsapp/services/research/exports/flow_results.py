"""The FLOIP Flow Results export: a zip of datapackage.json and a responses CSV whose rows
stream into the zip entry."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from typing import IO

from sqlalchemy.orm import Session

from smsapp.db import utcnow
from smsapp.formats import cells, floip
from smsapp.models import Answer, Participant, Poll
from smsapp.privacy.redact import redact
from smsapp.services.polls.definitions import load_definition
from smsapp.services.research.answers import counted_answers
from smsapp.services.research.exports.reading import Row, iso, stream
from smsapp.services.research.exports.writing import Progress, csv_chunks


def floip_rows(session: Session, poll: Poll) -> Iterator[Row]:
    """Flow Results response rows: one per kept answer, the text redacted like every export."""
    stmt = counted_answers(
        session,
        Answer.id,
        Answer.conversation_id,
        Participant.pseudonym,
        Answer.question_key,
        Answer.kind,
        Answer.value,
        Answer.label,
        Answer.answered_at,
        Answer.attempts,
        Answer.skipped,
        poll=poll.id,
    ).order_by(Answer.id)
    for (
        answer_id,
        conversation_id,
        pseudonym,
        key,
        kind,
        value,
        label,
        answered_at,
        attempts,
        skipped,
    ) in stream(session, stmt):
        response = "" if skipped else floip.response_cell(kind, value)
        if isinstance(response, str):
            response = cells.safe_text(response)
        metadata = {"kind": kind, "attempts": attempts, "skipped": bool(skipped)}
        if label and not skipped:
            metadata["label"] = redact(label)
        yield [
            iso(answered_at),
            answer_id,
            pseudonym,
            f"{poll.slug}-{conversation_id}",
            key,
            response,
            cells.neutralise(json.dumps(metadata, ensure_ascii=False)),
        ]


def write_floip(
    out: IO[bytes],
    session: Session,
    poll: Poll,
    *,
    progress: Progress | None = None,
) -> int:
    """A zip holding datapackage.json and responses.csv; returns the response rows written."""
    defn = load_definition(poll)
    package = floip.datapackage(
        defn,
        poll_id=poll.id,
        created=poll.created_at,
        modified=poll.closed_at or utcnow(),
    )
    written = [0]

    def counted(done: int) -> None:
        written[0] = done
        if progress is not None:
            progress(done)

    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("datapackage.json", floip.dump(package))
        with archive.open(floip.RESPONSES_PATH, "w") as entry:
            text = io.TextIOWrapper(entry, encoding="utf-8", newline="")
            rows = floip_rows(session, poll)
            for chunk in csv_chunks(list(floip.COLUMNS), rows, bom=False, progress=counted):
                text.write(chunk)
            text.flush()
            text.detach()
    return written[0]
