"""Writing a poll definition back: a mapping (and YAML) in the public interface's shape and field order."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import yaml

from smsapp.conversation.definition import PollDefinition, Question
from smsapp.conversation.durations import format_duration


def poll_to_dict(defn: PollDefinition) -> dict[str, Any]:
    """A JSON-serialisable mapping in the public interface's shape; parse_poll() gives `defn` back."""
    out: dict[str, Any] = {"slug": defn.slug, "title": defn.title}
    for name in ("group", "keyword"):
        if getattr(defn, name) is not None:
            out[name] = getattr(defn, name)
    if isinstance(defn.closes, timedelta):
        out["closes"] = format_duration(defn.closes)
    elif isinstance(defn.closes, datetime):
        out["closes"] = defn.closes.isoformat()
    for name in ("intro", "outro"):
        if getattr(defn, name) is not None:
            out[name] = getattr(defn, name)
    if defn.reminders is not None:
        out["reminders"] = {
            "after": format_duration(defn.reminders.after),
            "every": format_duration(defn.reminders.every),
            "max": defn.reminders.max,
        }
    if defn.tie_seed is not None:
        out["tie_seed"] = defn.tie_seed
    if defn.purpose is not None:
        out["purpose"] = defn.purpose
    out["questions"] = [_question_to_dict(q) for q in defn.questions]
    return out


def _question_to_dict(q: Question) -> dict[str, Any]:
    out: dict[str, Any] = {"key": q.key, "kind": q.kind, "prompt": q.prompt}
    if q.options:
        out["options"] = [{"code": o.code, "label": o.label} for o in q.options]
    if q.options_from is not None:
        out["options_from"] = q.options_from
    for name in ("max", "min", "budget"):
        if getattr(q, name) is not None:
            out[name] = getattr(q, name)
    if q.labels is not None:
        out["labels"] = {"low": q.labels[0], "high": q.labels[1]}
    if q.tally_method is not None:
        out["tally"] = {"method": q.tally_method}
    if q.optional:
        out["optional"] = True
    if q.growth:
        out["growth"] = dict(q.growth)
    if q.when:
        out["when"] = {
            target: [_when_out(v) for v in values] if values else [] for target, values in q.when
        }
    return out


def _when_out(value: str) -> str | int | float:
    """Numbers go back out as numbers so the YAML reads naturally."""
    try:
        number = float(value)
    except ValueError:
        return value
    return int(number) if number.is_integer() else number


def poll_to_yaml(defn: PollDefinition) -> str:
    """Readable YAML in the public interface's field order."""
    return yaml.safe_dump(
        poll_to_dict(defn), sort_keys=False, allow_unicode=True, default_flow_style=None, width=100
    )
