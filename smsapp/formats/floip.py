"""A FLOIP Flow Results package (specification 1.0.0-rc1): datapackage.json describing the poll's
questions, beside a responses CSV of (timestamp, row_id, contact_id, session_id, question_id,
response, response_metadata) rows."""

from __future__ import annotations

import json
import re
import uuid
from datetime import datetime
from typing import Any

from smsapp.conversation.definition import PollDefinition, Question

SPEC_VERSION = "1.0.0-rc1"
RESPONSES_PATH = "responses.csv"
FIELDS = (
    ("timestamp", "Timestamp", "datetime"),
    ("row_id", "Row ID", "string"),
    ("contact_id", "Contact ID", "string"),
    ("session_id", "Session ID", "string"),
    ("question_id", "Question ID", "string"),
    ("response", "Response", "any"),
    ("response_metadata", "Response Metadata", "object"),
)
COLUMNS = tuple(name for name, _, _ in FIELDS)

# FLOIP has no ranking or points type: a ranking is select_many whose order matters, and a points
# allocation is open data; response_metadata says which it is.
_TYPES = {
    "choice": "select_one",
    "yesno": "select_one",
    "multi": "select_many",
    "approve": "select_many",
    "rank": "select_many",
    "points": "open",
    "scale": "numeric",
    "number": "numeric",
    "text": "open",
    "nominate": "open",
}


def question_schema(question: Question) -> dict[str, Any]:
    options: dict[str, Any] = {}
    if question.kind == "yesno":
        options["choices"] = ["Y", "N"]
    elif question.options:
        options["choices"] = list(question.codes)
    if question.kind == "scale":
        options["range"] = [question.low, question.max or 5]
    elif question.kind == "number" and (question.min is not None or question.max is not None):
        options["range"] = [question.min, question.max]
    schema: dict[str, Any] = {
        "type": _TYPES.get(question.kind, "open"),
        "label": question.prompt,
        "type_options": options,
    }
    if question.options:
        schema["type_options"]["labels"] = {o.code: o.label for o in question.options}
    return schema


def package_name(slug: str) -> str:
    """Data Package names are lower-case letters, digits and - _ . only."""
    return re.sub(r"[^a-z0-9._-]", "-", slug.lower())


def datapackage(
    defn: PollDefinition, *, poll_id: int, created: datetime, modified: datetime
) -> dict[str, Any]:
    """The datapackage.json for one poll; the id is stable for the poll (a UUID5 of its slug)."""
    return {
        "profile": "flow-results-package",
        "flow-results-specification": SPEC_VERSION,
        "name": package_name(defn.slug),
        "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"smsapp:poll:{poll_id}:{defn.slug}")),
        "title": defn.title,
        "created": created.isoformat(),
        "modified": modified.isoformat(),
        "resources": [
            {
                "name": f"{package_name(defn.slug)}-responses",
                "path": RESPONSES_PATH,
                "mediatype": "text/csv",
                "encoding": "utf-8",
                "schema": {
                    "language": "eng",
                    "fields": [
                        {"name": name, "title": title, "type": kind} for name, title, kind in FIELDS
                    ],
                    "questions": {q.key: question_schema(q) for q in defn.questions},
                },
            }
        ],
    }


def response_cell(kind: str, value: Any) -> Any:
    """The `response` cell: a code, a number, text, or JSON for lists and allocations."""
    if isinstance(value, bool):
        return "Y" if value else "N"
    if isinstance(value, list | dict):
        return json.dumps(value, ensure_ascii=False)
    return value if value is not None else ""


def dump(package: dict[str, Any]) -> str:
    return json.dumps(package, indent=2, ensure_ascii=False) + "\n"
