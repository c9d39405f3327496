"""Polls: import a definition, open it, find one by keyword. Launched questions never change."""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from smsapp.conversation.definition import PollDefinition, PollDefinitionError, Problem
from smsapp.conversation.normalise import clean, fold
from smsapp.conversation.poll_yaml import parse_poll_yaml
from smsapp.conversation.serialise import poll_to_dict
from smsapp.conversation.validation import parse_poll
from smsapp.db import utcnow
from smsapp.models import Group, Poll, PollStatus
from smsapp.services import audit


class PollError(ValueError):
    """A poll operation that cannot be done, with the reason in words."""


_cache: dict[tuple[int, str], PollDefinition] = {}
_cache_lock = threading.Lock()


def load_definition(poll: Poll) -> PollDefinition:
    """The poll's validated definition, parsed once per process per version."""
    return cached_definition(poll.id, poll.updated_at, lambda: poll.definition)


def cached_definition(
    poll_id: int, updated_at: datetime | None, mapping: Callable[[], dict[str, Any]]
) -> PollDefinition:
    """The definition of this version of a poll (its id and `updated_at`, which every change
    moves), parsed once per process; `mapping` loads the stored definition on a miss only, so
    the inbound path reads a poll's definition from the database once per process."""
    key = (poll_id, updated_at.isoformat() if updated_at else "")
    with _cache_lock:
        found = _cache.get(key)
    if found is None:
        found = parse_poll(mapping())
        with _cache_lock:
            if len(_cache) > 500:
                _cache.clear()
            _cache[key] = found
    return found


def poll_by_slug(session: Session, slug: str) -> Poll | None:
    return session.scalar(sa.select(Poll).where(Poll.slug == slug))


def require_poll(session: Session, slug: str) -> Poll:
    poll = poll_by_slug(session, slug)
    if poll is None:
        raise PollError(f"no poll called {slug!r}")
    return poll


@dataclass
class ImportResult:
    poll: Poll
    created: bool
    definition: PollDefinition


def _check_against_database(session: Session, defn: PollDefinition) -> list[Problem]:
    problems = []
    if (
        defn.group is not None
        and session.scalar(sa.select(Group.id).where(Group.slug == defn.group)) is None
    ):
        problems.append(Problem("group", f"no group called {defn.group!r}; create it first"))
    if defn.keyword is not None:
        clash = session.scalar(
            sa.select(Poll.slug).where(
                Poll.keyword == defn.keyword,
                Poll.slug != defn.slug,
                Poll.status != PollStatus.CLOSED,
            )
        )
        if clash:
            problems.append(
                Problem("keyword", f"{defn.keyword} is already the keyword of poll {clash!r}")
            )
    return problems


def import_poll(session: Session, source: str, *, actor: str = "system") -> ImportResult:
    """Create or update a draft poll from YAML. Raises PollDefinitionError listing every problem."""
    defn = parse_poll_yaml(source)
    return save_definition(session, defn, source=source, actor=actor)


def save_definition(
    session: Session, defn: PollDefinition, *, source: str | None = None, actor: str = "system"
) -> ImportResult:
    problems = _check_against_database(session, defn)
    if problems:
        raise PollDefinitionError(problems)
    poll = poll_by_slug(session, defn.slug)
    group_id = None
    if defn.group is not None:
        group_id = session.scalar(sa.select(Group.id).where(Group.slug == defn.group))
    data = poll_to_dict(defn)
    if poll is None:
        poll = Poll(
            slug=defn.slug,
            title=defn.title,
            group_id=group_id,
            keyword=defn.keyword,
            status=PollStatus.DRAFT,
            definition=data,
            source_yaml=source,
            tie_seed=defn.tie_seed or secrets.token_hex(16),
        )
        session.add(poll)
        created = True
    else:
        if poll.status != PollStatus.DRAFT:
            raise PollError(
                f"poll {defn.slug!r} is {poll.status}: its questions cannot change once launched "
                "(import it under a new slug instead)"
            )
        poll.title, poll.group_id, poll.keyword = defn.title, group_id, defn.keyword
        poll.definition, poll.source_yaml = data, source
        if defn.tie_seed:
            poll.tie_seed = defn.tie_seed
        poll.updated_at = utcnow()
        created = False
    session.flush()
    audit.record(session, actor, "poll.import" if created else "poll.update", defn.slug)
    return ImportResult(poll, created, defn)


def closes_at(defn: PollDefinition, opened: datetime) -> datetime | None:
    if isinstance(defn.closes, timedelta):
        return opened + defn.closes
    if isinstance(defn.closes, datetime):
        return defn.closes
    return None


def unopenable(defn: PollDefinition) -> str | None:
    """Why a draft cannot open yet, or None: a question still waiting for its shortlist."""
    unfilled = [q.key for q in defn.questions if q.options_from and not q.options]
    if unfilled:
        return (
            f"question(s) {', '.join(unfilled)} take their options from a shortlist that has not "
            "been made yet (smsapp nominations shortlist …)"
        )
    return None


def open_poll(session: Session, poll: Poll, *, actor: str = "system") -> None:
    """Draft → open: its questions freeze, its keyword starts working, its deadline is set."""
    if poll.status != PollStatus.DRAFT:
        raise PollError(f"poll {poll.slug!r} is already {poll.status}")
    defn = load_definition(poll)
    problem = unopenable(defn)
    if problem:
        raise PollError(problem)
    now = utcnow()
    poll.status = PollStatus.OPEN
    poll.launched_at = now
    poll.closes_at = closes_at(defn, now)
    poll.updated_at = now
    audit.record(session, actor, "poll.open", poll.slug, tie_seed=poll.tie_seed)


def keyword_of(text: str) -> str | None:
    """The text as a keyword candidate: one word, upper-case, punctuation dropped."""
    folded = fold(clean(text))
    if not folded or " " in folded.strip() or len(folded) > 20:
        return None
    word = "".join(ch for ch in folded if ch.isalnum()).upper()
    return word or None


def open_poll_by_keyword(session: Session, text: str) -> Poll | None:
    word = keyword_of(text)
    if word is None:
        return None
    return session.scalar(
        sa.select(Poll).where(Poll.keyword == word, Poll.status == PollStatus.OPEN)
    )
