"""Count failed log-in guesses, so that nobody checks more than a few passwords.

Three counters apply to every attempt, in this order:

- one source (client address) guessing any e-mails: SOURCE_LOCK_AFTER wrong passwords;
- one source guessing one e-mail: LOCK_AFTER wrong passwords (the lock people meet);
- one e-mail from every source together: ACCOUNT_LOCK_AFTER, a ceiling for guessing spread
  over many addresses, set high enough that one source cannot reach it on its own.

So a stranger who locks an e-mail locks it for their own address only: its owner, elsewhere,
still logs in. Counts are kept per e-mail *string*, whether or not it has an account, so the
answers never say which e-mails exist. A guess takes its place in every counter before its
password is checked (an atomic upsert), so guesses sent at once cannot all read "0 so far".
A count is forgotten LOCK_FOR after its first guess, or LOCK_FOR after the guess that reached
its limit. `unlock` clears an e-mail's counts (`smsapp users unlock`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import cast

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from smsapp.db import UTCDateTime, for_update
from smsapp.models import LoginThrottle

LOCK_AFTER = 5
SOURCE_LOCK_AFTER = 20
ACCOUNT_LOCK_AFTER = 50
LOCK_FOR = timedelta(minutes=15)

_EVERY = ""  # the key of the side a counter does not narrow down
_T = cast(sa.Table, LoginThrottle.__table__)


def _digest(kind: str, value: str) -> str:
    # A digest, not the text: people type passwords into the e-mail box by mistake.
    return hashlib.sha256(f"smsapp-login:{kind}:{value}".encode()).hexdigest()


def account_key(email: str) -> str:
    return _digest("email", email.strip().lower())


@dataclass(frozen=True)
class Counter:
    account: str
    source: str
    limit: int


def counters(email: str, source: str) -> list[Counter]:
    """The counters of one attempt, in the order they are taken (the same for every attempt,
    so two attempts never wait on each other's rows in opposite orders)."""
    account, where = account_key(email), _digest("source", source)
    return [
        Counter(_EVERY, where, SOURCE_LOCK_AFTER),
        Counter(account, where, LOCK_AFTER),
        Counter(account, _EVERY, ACCOUNT_LOCK_AFTER),
    ]


@dataclass
class Attempt:
    """The counters an attempt holds a place in, with its place in each (1 = first guess)."""

    taken: list[tuple[Counter, int]] = field(default_factory=list)
    refused_until: datetime | None = None  # set when a counter was already at its limit


def _where(counter: Counter) -> sa.ColumnElement[bool]:
    return sa.and_(_T.c.account == counter.account, _T.c.source == counter.source)


def _take_place(session: Session, counter: Counter, now: datetime) -> tuple[int, datetime]:
    fresh_until = sa.literal(now + LOCK_FOR, UTCDateTime())
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    expired = _T.c.until <= sa.literal(now, UTCDateTime())
    stmt = (
        insert(_T)
        .values(account=counter.account, source=counter.source, failures=1, until=now + LOCK_FOR)
        .on_conflict_do_update(
            index_elements=[_T.c.account, _T.c.source],
            set_={
                "failures": sa.case((expired, 1), else_=_T.c.failures + 1),
                "until": sa.case((expired, fresh_until), else_=_T.c.until),
            },
        )
        .returning(_T.c.failures, _T.c.until)
    )
    failures, until = session.execute(stmt).one()
    return int(failures), until


def _give_back(session: Session, counter: Counter) -> None:
    session.execute(
        sa.update(_T).where(_where(counter), _T.c.failures > 0).values(failures=_T.c.failures - 1)
    )
    # A count back at nothing is no use: drop it (this transaction already holds its row).
    session.execute(sa.delete(_T).where(_where(counter), _T.c.failures <= 0))


def take(session: Session, email: str, source: str, now: datetime) -> Attempt:
    """Count an attempt before its password is checked; refused if any counter is full.

    A refused attempt checks no password, so it gives back the places it took before the
    full counter: pressing on against a lock does not lock anything else.
    """
    attempt = Attempt()
    for counter in counters(email, source):
        place, until = _take_place(session, counter, now)
        if place > counter.limit:
            for earlier, _ in attempt.taken:
                _give_back(session, earlier)
            return Attempt(refused_until=until)
        attempt.taken.append((counter, place))
    return attempt


def failed(session: Session, attempt: Attempt, now: datetime) -> datetime | None:
    """The password was wrong: its places stay taken. Returns the lock's end if this guess
    filled a counter."""
    lock_end = None
    for counter, place in attempt.taken:
        if place >= counter.limit:
            lock_end = now + LOCK_FOR
            session.execute(sa.update(_T).where(_where(counter)).values(until=lock_end))
    return lock_end


def succeeded(session: Session, attempt: Attempt, now: datetime) -> None:
    """The right password: this source's earlier typos for this e-mail are forgotten, and the
    other counters get back the place this attempt took (they count wrong passwords only)."""
    for counter, _ in attempt.taken:
        if counter.account != _EVERY and counter.source != _EVERY:
            session.execute(sa.delete(_T).where(_where(counter)))
        else:
            _give_back(session, counter)
    forget_expired(session, now)


def unlock(session: Session, email: str) -> int:
    """Forget every count for this e-mail, from every source; returns how many were cleared.

    The per-source rows go first and the e-mail's own row last, the order an attempt takes
    them in, so an unlock and a guess at the same moment never wait on each other in a circle.
    """
    account = account_key(email)
    cleared = 0
    for source_side in (_T.c.source != _EVERY, _T.c.source == _EVERY):
        result = session.execute(sa.delete(_T).where(_T.c.account == account, source_side))
        cleared += int(getattr(result, "rowcount", 0) or 0)
    return cleared


def forget_expired(session: Session, now: datetime, batch: int = 500) -> None:
    """Delete counts that have run out. Rows another attempt holds are skipped, not waited
    for, so this never deadlocks with a log-in in progress."""
    stale = for_update(
        sa.select(_T.c.account, _T.c.source).where(_T.c.until <= now).limit(batch),
        session,
        skip_locked=True,
    )
    session.execute(sa.delete(_T).where(sa.tuple_(_T.c.account, _T.c.source).in_(stale)))
