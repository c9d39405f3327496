"""Nominations: collected from nominate answers, moderated (approve, reject, merge), and turned
into the options of a vote poll by a shortlist. Rejected or merged-away entries never reach a
ballot.

A nomination whose answer came in a safeguarding-flagged text is *held*: staff see its code and
the status "held", never its words or its author, and nothing here will approve, reject, merge or
shortlist it. Which answers are flagged is safeguarding.answer_is_flagged's decision alone (the
row itself is also stored as rejected by safeguarding, so every status filter leaves it out).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from smsapp.conversation.definition import (
    Option,
    auto_code,  # the same A, B, … AA codes an imported option list gets
)
from smsapp.conversation.normalise import clean
from smsapp.conversation.serialise import poll_to_yaml
from smsapp.conversation.validation import with_options
from smsapp.db import utcnow
from smsapp.models import Answer, Nomination, NominationStatus, Participant, Poll, PollStatus
from smsapp.services import audit
from smsapp.services.polls.definitions import (
    PollError,
    load_definition,
    require_poll,
    save_definition,
)
from smsapp.services.safeguarding.screening import answer_is_flagged
from smsapp.voting.similarity import MergeSuggestion, compact, suggest_merges

TEXT_LIMIT = 200  # the column's width, and an option label's limit
HELD = "held"  # the status staff see for a nomination from a flagged text (never stored)


# -- collecting ---------------------------------------------------------------------------------


def _next_number(session: Session, poll_id: int) -> int:
    codes = session.scalars(sa.select(Nomination.code).where(Nomination.poll_id == poll_id))
    return max((_number(code) for code in codes), default=0) + 1


def _number(code: str) -> int:
    return int(code[1:]) if code[1:].isdigit() else 0


def collect(session: Session, answer: Answer) -> list[Nomination]:
    """One pending nomination per entry of a finished nominate answer, coded N1, N2… per poll.

    Two people nominating at once may pick the same next code; the unique (poll, code) index
    turns the loser's insert into an IntegrityError inside a savepoint, and it tries the next.
    """
    if answer.skipped or not isinstance(answer.value, list):
        return []
    participant = session.get(Participant, answer.participant_id)
    if participant is None or participant.simulated:
        return []  # the admin's pretend phone never reaches a ballot
    made = []
    for entry in answer.value:
        text = clean(str(entry)).replace("\n", " ")[:TEXT_LIMIT]
        if not text:
            continue
        for _ in range(50):
            number = _next_number(session, answer.poll_id)
            row = Nomination(
                poll_id=answer.poll_id,
                question_key=answer.question_key,
                code=f"N{number}",
                text=text,
                participant_id=answer.participant_id,
                answer_id=answer.id,
                status=NominationStatus.PENDING,
            )
            try:
                with session.begin_nested():
                    session.add(row)
            except IntegrityError:
                continue
            made.append(row)
            break
        else:
            raise RuntimeError(f"could not number a nomination for poll {answer.poll_id}")
    return made


# -- reading ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NominationLine:
    code: str
    text: str
    pseudonym: str
    status: str
    question_key: str
    merged_into: str | None  # the code it was folded into


def _rows(session: Session, poll: Poll) -> list[Nomination]:
    rows = session.scalars(sa.select(Nomination).where(Nomination.poll_id == poll.id)).all()
    return sorted(rows, key=lambda n: (_number(n.code), n.id))


def held_ids(session: Session, poll: Poll) -> set[int]:
    """The nominations of this poll held for safeguarding: those whose answer came in a flagged
    text (safeguarding.answer_is_flagged), including every entry of such an answer."""
    return set(
        session.scalars(
            sa.select(Nomination.id)
            .join(Answer, Answer.id == Nomination.answer_id)
            .where(Nomination.poll_id == poll.id, answer_is_flagged())
        )
    )


def list_nominations(session: Session, poll: Poll) -> list[NominationLine]:
    """Every nomination in code order, with its author's pseudonym (never a name or number).

    A held one carries its code and the status "held" only: its words and author stay out of
    the line, so no page or command built on it can show them.
    """
    rows = _rows(session, poll)
    held = held_ids(session, poll)
    by_id = {n.id: n.code for n in rows}
    pseudonyms = dict(
        session.execute(
            sa.select(Participant.id, Participant.pseudonym).where(
                Participant.id.in_({n.participant_id for n in rows if n.participant_id})
            )
        ).all()
    )
    return [
        NominationLine(n.code, "", "-", HELD, n.question_key, None)
        if n.id in held
        else NominationLine(
            n.code,
            n.text,
            pseudonyms.get(n.participant_id, "-") if n.participant_id else "-",
            n.status,
            n.question_key,
            by_id.get(n.merged_into_id) if n.merged_into_id else None,
        )
        for n in rows
    ]


def format_line(line: NominationLine) -> str:
    """`N3  Health Voices  P-7K3Q9  merged into N1`: code first, as docs/interfaces.md says."""
    status = f"merged into {line.merged_into}" if line.merged_into else line.status
    return f"{line.code}\t{line.text}\t{line.pseudonym}\t{status}"


def merge_suggestions(session: Session, poll: Poll) -> list[MergeSuggestion]:
    """Near-duplicates among the nominations still in play (not rejected, not merged, not
    held): a held one is never offered as a merge, either way."""
    held = held_ids(session, poll)
    live = [
        (n.code, n.text)
        for n in _rows(session, poll)
        if n.status in (NominationStatus.PENDING, NominationStatus.APPROVED) and n.id not in held
    ]
    return suggest_merges(live)


# -- moderating ---------------------------------------------------------------------------------


def _by_codes(session: Session, poll: Poll, codes: Iterable[str]) -> list[Nomination]:
    wanted = [code.strip().upper() for code in codes]
    found = {
        n.code: n
        for n in session.scalars(
            sa.select(Nomination).where(Nomination.poll_id == poll.id, Nomination.code.in_(wanted))
        )
    }
    missing = [code for code in wanted if code not in found]
    if missing:
        raise PollError(f"poll {poll.slug!r} has no nomination {', '.join(missing)}")
    # Every moderation step starts here, so a held nomination is refused before anything changes.
    held = held_ids(session, poll)
    refused = [code for code in wanted if found[code].id in held]
    if refused:
        one = len(refused) == 1
        raise PollError(
            f"{', '.join(refused)} {'is' if one else 'are'} held for safeguarding and cannot be "
            "approved, rejected, merged or put on a ballot; only the safeguarding lead sees "
            f"{'it' if one else 'them'}"
        )
    return [found[code] for code in wanted]


def _moderate(
    session: Session, poll: Poll, codes: Iterable[str], status: str, actor: str, **details: object
) -> list[Nomination]:
    rows = _by_codes(session, poll, codes)
    now = utcnow()
    for n in rows:
        n.status = status
        n.merged_into_id = None
        n.moderated_by, n.moderated_at = actor, now
        audit.record(session, actor, f"nomination.{status}", f"{poll.slug}:{n.code}", **details)
    session.flush()
    return rows


def approve(session: Session, poll: Poll, codes: Iterable[str], *, actor: str) -> list[Nomination]:
    return _moderate(session, poll, codes, NominationStatus.APPROVED, actor)


def reject(
    session: Session, poll: Poll, codes: Iterable[str], *, actor: str, reason: str | None = None
) -> list[Nomination]:
    """Rejected nominations (unkind, identifying) never reach a ballot or a results page.

    Anything already merged into a rejected one is rejected with it.
    """
    rows = _moderate(session, poll, codes, NominationStatus.REJECTED, actor, reason=reason)
    folded = session.scalars(
        sa.select(Nomination).where(Nomination.merged_into_id.in_([n.id for n in rows]))
    ).all()
    if folded:
        _moderate(
            session,
            poll,
            [n.code for n in folded],
            NominationStatus.REJECTED,
            actor,
            reason="merged into a rejected nomination",
        )
    return rows


def merge(
    session: Session, poll: Poll, duplicate: str, kept: str, *, actor: str
) -> tuple[Nomination, Nomination]:
    """Confirm one merge: `duplicate` folds into `kept`, which must still be in play."""
    dup, keep = _by_codes(session, poll, [duplicate, kept])
    if dup.id == keep.id:
        raise PollError(f"{dup.code} cannot be merged into itself")
    if keep.status not in (NominationStatus.PENDING, NominationStatus.APPROVED):
        raise PollError(f"{keep.code} is {keep.status}, so nothing can be merged into it")
    if dup.status == NominationStatus.REJECTED:
        raise PollError(f"{dup.code} is rejected; it stays rejected")
    now = utcnow()
    # anything folded into the duplicate earlier now points at the kept one, so no chains
    for earlier in session.scalars(
        sa.select(Nomination).where(Nomination.merged_into_id == dup.id)
    ):
        earlier.merged_into_id = keep.id
    dup.status, dup.merged_into_id = NominationStatus.MERGED, keep.id
    dup.moderated_by, dup.moderated_at = actor, now
    audit.record(session, actor, "nomination.merge", f"{poll.slug}:{dup.code}", into=keep.code)
    session.flush()
    return dup, keep


# -- shortlisting -------------------------------------------------------------------------------


@dataclass
class Shortlist:
    vote_slug: str
    question_key: str
    options: list[tuple[str, str, str]]  # (option code, label, nomination code)


def shortlist(
    session: Session,
    poll_slug: str,
    *,
    keep: Sequence[str],
    merges: Mapping[str, str] | None = None,
    into: str,
    actor: str = "system",
) -> Shortlist:
    """Fold each merge's duplicate into its kept nomination, approve the kept ones, and make them
    the options (A, B, C… in the order given) of the draft vote poll `into` whose question says
    `options_from: POLL_SLUG.QUESTION`. Raises PollError, having changed nothing, on any problem.
    """
    poll = require_poll(session, poll_slug)
    vote = require_poll(session, into)
    merges = {d.strip().upper(): k.strip().upper() for d, k in (merges or {}).items()}
    keep = [code.strip().upper() for code in keep]
    if not keep:
        raise PollError("keep at least one nomination")
    if len(set(keep)) != len(keep):
        raise PollError("a nomination is listed twice in --keep")
    if vote.status != PollStatus.DRAFT:
        raise PollError(f"poll {into!r} is {vote.status}: its options are fixed once it opens")

    kept = _by_codes(session, poll, keep)
    for n in kept:
        if n.status == NominationStatus.REJECTED:
            raise PollError(f"{n.code} was rejected and cannot go on a ballot")
        if n.status == NominationStatus.MERGED:
            raise PollError(f"{n.code} was merged into another nomination; keep that one instead")
    for dup, target in merges.items():
        if target not in keep:
            raise PollError(f"merge {dup}={target}: {target} must be one of the kept nominations")
        if dup in keep:
            raise PollError(f"merge {dup}={target}: {dup} cannot be both kept and merged")
    for n in _by_codes(session, poll, merges):
        if n.status == NominationStatus.REJECTED:
            raise PollError(f"{n.code} is rejected; it stays rejected and needs no merge")

    question_keys = {n.question_key for n in kept}
    defn = load_definition(vote)
    targets = [
        q for q in defn.questions if q.options_from in {f"{poll_slug}.{k}" for k in question_keys}
    ]
    if len(question_keys) != 1 or len(targets) != 1:
        wanted = " or ".join(sorted(f"{poll_slug}.{k}" for k in question_keys))
        raise PollError(
            f"poll {into!r} needs exactly one question with options_from: {wanted} "
            "(and the kept nominations must come from one question)"
        )
    seen: dict[str, str] = {}
    for n in kept:
        key = compact(n.text)
        if key in seen:
            raise PollError(
                f"{seen[key]} and {n.code} read the same; merge one into the other "
                f"(--merge {n.code}={seen[key]})"
            )
        seen[key] = n.code

    question = targets[0]
    options = [Option(auto_code(i), n.text) for i, n in enumerate(kept)]
    try:
        new_defn = with_options(defn, question.key, options)
    except ValueError as exc:
        raise PollError(str(exc)) from exc
    for dup, target in merges.items():
        merge(session, poll, dup, target, actor=actor)
    approve(session, poll, keep, actor=actor)
    save_definition(session, new_defn, source=poll_to_yaml(new_defn), actor=actor)
    mapping = [(o.code, o.label, n.code) for o, n in zip(options, kept, strict=True)]
    audit.record(
        session,
        actor,
        "nominations.shortlist",
        poll.slug,
        into=vote.slug,
        question=question.key,
        options={code: nomination for code, _, nomination in mapping},
        merges=merges,
    )
    return Shortlist(vote.slug, question.key, mapping)
