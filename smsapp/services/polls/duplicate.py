"""Duplicate a poll (a draft, an open or a closed one) into a new draft with the same questions,
options and settings. Nothing of the original's life is copied: no answers, conversations or
texts, no schedule, no launch or close times, and a new tie-break seed (a seed is fixed before
voting opens, and each vote has its own).

The copy goes through the one validator (conversation.validation.parse_poll) and the one save
(definitions.save_definition), as an import or the builder does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from smsapp.conversation.definition import PollDefinitionError
from smsapp.conversation.serialise import poll_to_dict
from smsapp.conversation.validation import SLUG_RE, parse_poll
from smsapp.db import utcnow
from smsapp.models import Poll, PollStatus
from smsapp.services import audit
from smsapp.services.polls.builder import data_to_yaml
from smsapp.services.polls.definitions import PollError, poll_by_slug, require_poll, save_definition


@dataclass
class Duplicate:
    poll: Poll
    source_slug: str
    notes: list[str] = field(default_factory=list)  # settings the copy could not keep, and why


def _copy_data(
    session: Session, original: Poll, new_slug: str, now: datetime
) -> tuple[dict[str, Any], list[str]]:
    data = dict(original.definition)
    data["slug"] = new_slug
    data.pop("tie_seed", None)
    notes = []
    keyword = data.get("keyword")
    if keyword:
        holder = session.scalar(
            sa.select(Poll.slug).where(
                Poll.keyword == str(keyword).upper(), Poll.status != PollStatus.CLOSED
            )
        )
        if holder is not None:
            data.pop("keyword")
            notes.append(
                f"the keyword {keyword} still starts poll {holder}, so the copy has no keyword: "
                "give it another one in the builder"
            )
    closes = data.get("closes")
    if isinstance(closes, str) and "T" in closes:
        try:
            fixed = datetime.fromisoformat(closes)
        except ValueError:
            fixed = None
        if fixed is not None and (fixed.tzinfo is None or fixed <= now):
            data.pop("closes")
            notes.append(f"its closing time {closes} has passed, so the copy has none: set one")
    return data, notes


def duplicate_poll(
    session: Session, slug: str, new_slug: str, *, actor: str, now: datetime | None = None
) -> Duplicate:
    """A new draft `new_slug` with `slug`'s questions. PollError if `new_slug` is taken or not a
    slug, or if `slug` does not exist; the caller commits."""
    now = now or utcnow()
    original = require_poll(session, slug)
    if not SLUG_RE.match(new_slug or ""):
        raise PollError(f"{new_slug!r} is not a slug: use lower-case letters, digits and hyphens")
    if poll_by_slug(session, new_slug) is not None:
        raise PollError(f"a poll called {new_slug!r} exists already; pick another slug")
    data, notes = _copy_data(session, original, new_slug, now)
    try:
        defn = parse_poll(data)
        result = save_definition(
            session, defn, source=data_to_yaml(poll_to_dict(defn)), actor=actor
        )
    except PollDefinitionError as exc:
        problems = "; ".join(f"{p.field}: {p.message}" for p in exc.problems)
        raise PollError(f"the copy of {slug!r} is not a valid poll ({problems})") from None
    audit.record(session, actor, "poll.duplicate", new_slug, source=slug, notes=notes)
    return Duplicate(result.poll, slug, notes)
