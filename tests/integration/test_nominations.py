"""Nominations: collected by text, listed with pseudonyms, moderated (audited), merged, and
shortlisted into a vote poll's options."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from smsapp.models import AuditEvent, Nomination, NominationStatus, Participant, Poll
from smsapp.services.polls.definitions import PollError, import_poll, load_definition, open_poll
from smsapp.services.votes import nominations
from tests.support.factories import IDEAS, VOTE, make_participant

OTHER = """
slug: other
title: Another vote
questions:
  - key: pick
    kind: rank
    prompt: "Rank them"
    options_from: elsewhere.idea
"""

PHONES = ["+447911123401", "+447911123402", "+447911123403"]


def _polls(runtime) -> None:
    with runtime.db.transaction() as s:
        open_poll(s, import_poll(s, IDEAS).poll)
        import_poll(s, VOTE)
        import_poll(s, OTHER)


def _nominate(phone, number: str, *entries: str) -> None:
    p = phone(number)
    p.replies("IDEAS")
    for entry in entries:
        p.replies(entry)
    if len(entries) < 2:
        p.replies("done")


@pytest.fixture
def nominated(runtime, phone) -> dict[str, str]:
    """Three people nominate; returns code -> author pseudonym."""
    for number in PHONES:
        make_participant(runtime, number)
    _polls(runtime)
    _nominate(phone, PHONES[0], "Health Voices", "Team Spark")
    _nominate(phone, PHONES[1], "health voices!!")
    _nominate(phone, PHONES[2], "Helth Voices", "Young Researchers")
    with runtime.db.transaction() as s:
        rows = s.execute(
            sa.select(Nomination.code, Participant.pseudonym).join(
                Participant, Participant.id == Nomination.participant_id
            )
        ).all()
        return dict(rows)


def _poll(s, slug: str) -> Poll:
    poll = s.scalar(sa.select(Poll).where(Poll.slug == slug))
    assert poll is not None
    return poll


def test_entries_become_pending_nominations_coded_in_arrival_order(runtime, nominated) -> None:
    with runtime.db.transaction() as s:
        lines = nominations.list_nominations(s, _poll(s, "ideas"))
    assert [(n.code, n.text, n.status) for n in lines] == [
        ("N1", "Health Voices", "pending"),
        ("N2", "Team Spark", "pending"),
        ("N3", "health voices!!", "pending"),
        ("N4", "Helth Voices", "pending"),
        ("N5", "Young Researchers", "pending"),
    ]
    assert lines[0].pseudonym == lines[1].pseudonym != lines[2].pseudonym
    assert all(line.pseudonym.startswith("P-") for line in lines)


def test_a_code_taken_meanwhile_is_retried(runtime, nominated, monkeypatch) -> None:
    # Two texts nominating at once both see N5 as the highest; the loser must take the next.
    stale = iter([5])
    real = nominations._next_number
    monkeypatch.setattr(
        nominations, "_next_number", lambda s, pid: next(stale, None) or real(s, pid)
    )
    with runtime.db.transaction() as s:
        answer_poll = _poll(s, "ideas")
        from smsapp.models import Answer

        answer = s.scalar(sa.select(Answer).where(Answer.poll_id == answer_poll.id).limit(1))
        assert answer is not None
        made = nominations.collect(s, answer)
        assert [n.code for n in made] == ["N6", "N7"]


def test_cli_list_is_code_text_pseudonym_status(runtime, nominated, runner) -> None:
    result = runner.invoke(["nominations", "list", "ideas"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert len(lines) == 5
    code, text, pseudonym, status = lines[3].split("\t")
    assert (code, text, status) == ("N4", "Helth Voices", "pending")
    assert pseudonym == nominated["N4"]


def test_reject_and_approve_are_audited(runtime, nominated, runner) -> None:
    result = runner.invoke(["nominations", "reject", "ideas", "n2", "--reason", "unkind"])
    assert result.exit_code == 0, result.output
    assert runner.invoke(["nominations", "approve", "ideas", "N1"]).exit_code == 0
    with runtime.db.transaction() as s:
        statuses = dict(s.execute(sa.select(Nomination.code, Nomination.status)).all())
        events = s.execute(
            sa.select(AuditEvent.action, AuditEvent.subject, AuditEvent.details).where(
                AuditEvent.action.like("nomination.%")
            )
        ).all()
    assert statuses["N2"] == "rejected" and statuses["N1"] == "approved"
    assert ("nomination.rejected", "ideas:N2", {"reason": "unkind"}) in events
    assert any(a == "nomination.approved" and subj == "ideas:N1" for a, subj, _ in events)
    bad = runner.invoke(["nominations", "reject", "ideas", "N99"])
    assert bad.exit_code != 0 and "N99" in bad.output


def test_suggestions_group_the_near_duplicates(runtime, nominated, runner) -> None:
    with runtime.db.transaction() as s:
        [suggestion] = nominations.merge_suggestions(s, _poll(s, "ideas"))
    assert (suggestion.keep, suggestion.duplicates) == ("N1", ("N3", "N4"))
    out = runner.invoke(["nominations", "suggest", "ideas"]).output
    assert "--merge N3=N1 --merge N4=N1" in out
    # a rejected nomination is no longer suggested
    runner.invoke(["nominations", "reject", "ideas", "N4"])
    with runtime.db.transaction() as s:
        [suggestion] = nominations.merge_suggestions(s, _poll(s, "ideas"))
    assert suggestion.duplicates == ("N3",)


def test_shortlist_fills_the_vote_poll_in_the_order_given(runtime, nominated, runner) -> None:
    runner.invoke(["nominations", "reject", "ideas", "N2"])
    result = runner.invoke(
        [
            "nominations",
            "shortlist",
            "ideas",
            "--keep",
            "N5",
            "N1",
            "--merge",
            "N3=N1",
            "N4=N1",
            "--into",
            "vote",
        ]
    )
    assert result.exit_code == 0, result.output
    assert "A) Young Researchers  (from N5)" in result.output
    with runtime.db.transaction() as s:
        vote = _poll(s, "vote")
        question = load_definition(vote).question("name")
        assert [(o.code, o.label) for o in question.options] == [
            ("A", "Young Researchers"),
            ("B", "Health Voices"),
        ]
        assert question.max == 2  # lowered to the number of options
        rows = {n.code: n for n in s.scalars(sa.select(Nomination))}
        assert rows["N3"].status == rows["N4"].status == NominationStatus.MERGED
        assert rows["N3"].merged_into_id == rows["N1"].id
        assert rows["N1"].status == rows["N5"].status == NominationStatus.APPROVED
        assert rows["N2"].status == NominationStatus.REJECTED
        open_poll(s, vote)  # now it can open


@pytest.mark.parametrize(
    "args, message",
    [
        (["--keep", "N2", "N1", "--into", "vote"], "rejected"),
        (["--keep", "N1", "N3", "--into", "vote"], "read the same"),
        (["--keep", "N1", "--merge", "N3=N5", "--into", "vote"], "must be one of the kept"),
        (["--keep", "N1", "--into", "other"], "options_from: ideas.idea"),
        (["--keep", "N1", "--into", "ideas"], "fixed once it opens"),
        (["--keep", "N1", "N9", "--into", "vote"], "N9"),
        (["--keep", "N1"], "--into"),
        (["--keep", "N1", "--into", "nope"], "nope"),
    ],
)
def test_a_bad_shortlist_changes_nothing(runtime, nominated, runner, args, message) -> None:
    runner.invoke(["nominations", "reject", "ideas", "N2"])
    result = runner.invoke(["nominations", "shortlist", "ideas", *args])
    assert result.exit_code != 0
    assert message in result.output
    with runtime.db.transaction() as s:
        assert load_definition(_poll(s, "vote")).question("name").options == ()
        statuses = set(s.scalars(sa.select(Nomination.status)))
    assert statuses == {"pending", "rejected"}


def test_shortlist_into_an_open_poll_is_refused(runtime, nominated) -> None:
    with runtime.db.transaction() as s:
        nominations.shortlist(s, "ideas", keep=["N1", "N2"], into="vote")
        open_poll(s, _poll(s, "vote"))
    with runtime.db.transaction() as s, pytest.raises(PollError, match="fixed once it opens"):
        nominations.shortlist(s, "ideas", keep=["N5"], into="vote")


def test_rejecting_a_kept_nomination_rejects_what_was_merged_into_it(runtime, nominated) -> None:
    with runtime.db.transaction() as s:
        poll = _poll(s, "ideas")
        nominations.merge(s, poll, "N3", "N1", actor="t")
        nominations.merge(s, poll, "N1", "N4", actor="t")  # chains are flattened
        rows = {n.code: n for n in s.scalars(sa.select(Nomination))}
        assert rows["N3"].merged_into_id == rows["N4"].id
        nominations.reject(s, poll, ["N4"], actor="t")
        statuses = dict(s.execute(sa.select(Nomination.code, Nomination.status)).all())
    assert statuses["N1"] == statuses["N3"] == statuses["N4"] == "rejected"


def test_simulated_participants_nominate_nothing(runtime, phone) -> None:
    make_participant(runtime, PHONES[0])
    with runtime.db.transaction() as s:
        s.execute(sa.update(Participant).values(simulated=True))
    _polls(runtime)
    _nominate(phone, PHONES[0], "Secret Name")
    with runtime.db.transaction() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(Nomination)) == 0
