"""The whole naming story by text, through the signed webhook: nominate, moderate, shortlist,
vote (messy ballots and a changed vote), close, tally, recount from the export, announce."""

from __future__ import annotations

import json
from pathlib import Path

import sqlalchemy as sa

from smsapp.models import Answer, OutboundMessage, Poll, TallyRun
from smsapp.services.polls.closing import close_poll
from smsapp.services.polls.definitions import import_poll, load_definition, open_poll
from smsapp.services.votes import announce, tallying
from smsapp.voting import Ballot, tally
from tests.support.exports import exported_ballots
from tests.support.factories import make_group, make_participant

IDEAS = """
slug: ideas
title: Name ideas
group: oakfield
keyword: IDEAS
questions:
  - key: idea
    kind: nominate
    prompt: "Suggest a name for our group (up to 2)"
    max: 2
"""

VOTE = """
slug: vote
title: Name our group
group: oakfield
keyword: VOTE
tie_seed: naming-story-seed
questions:
  - key: name
    kind: rank
    prompt: "Rank up to 3, best first, e.g. C A B"
    options_from: ideas.idea
    max: 3
    tally: {method: irv}
"""

PHONES = [f"+4479111234{i:02d}" for i in range(7)]


def _poll(runtime, slug: str) -> Poll:
    with runtime.db.transaction() as s:
        poll = s.scalar(sa.select(Poll).where(Poll.slug == slug))
        assert poll is not None
        return poll


def _close(runtime, slug: str) -> None:
    with runtime.db.transaction() as s:
        poll = s.scalar(sa.select(Poll).where(Poll.slug == slug))
        assert poll is not None
        close_poll(runtime, s, poll, actor="test")


def test_name_our_group_by_text_end_to_end(runtime, phone, runner, monkeypatch, tmp_path: Path):
    import jobs.tally

    monkeypatch.setattr(jobs.tally, "get_runtime", lambda: runtime)
    make_group(runtime)
    for i, number in enumerate(PHONES):
        make_participant(runtime, number, nickname=f"Kid{i}")
    with runtime.db.transaction() as s:
        open_poll(s, import_poll(s, IDEAS).poll)
        import_poll(s, VOTE)
    kids = [phone(n) for n in PHONES]

    # -- nominate --------------------------------------------------------------------------
    nominations = [
        ["Health Voices", "Team Spark"],
        ["health voices!!"],
        ["Helth Voices", "Young Researchers"],
        ["Jordan from year 8 smells"],  # unkind and identifying: the facilitator rejects it
        ["TEAM SPARK"],
    ]
    for kid, entries in zip(kids, nominations, strict=False):
        [intro] = kid.replies("ideas")
        assert "Suggest a name" in intro
        for entry in entries:
            [reply] = kid.replies(entry)
        if len(entries) == 1:
            assert "1 of 2" in reply
            [reply] = kid.replies("done")
        assert "Thanks" in reply
    _close(runtime, "ideas")

    # -- moderate --------------------------------------------------------------------------
    listed = runner.invoke(["nominations", "list", "ideas"]).output.splitlines()
    assert [line.split("\t")[:2] for line in listed] == [
        ["N1", "Health Voices"],
        ["N2", "Team Spark"],
        ["N3", "health voices!!"],
        ["N4", "Helth Voices"],
        ["N5", "Young Researchers"],
        ["N6", "Jordan from year 8 smells"],
        ["N7", "TEAM SPARK"],
    ]
    assert all(PHONES[0][-6:] not in line for line in listed)  # pseudonyms, not numbers
    suggested = runner.invoke(["nominations", "suggest", "ideas"]).output
    assert "--merge N3=N1 --merge N4=N1" in suggested and "--merge N7=N2" in suggested
    assert runner.invoke(["nominations", "reject", "ideas", "N6"]).exit_code == 0
    made = runner.invoke(
        ["nominations", "shortlist", "ideas", "--keep", "N2", "N1", "N5"]
        + ["--merge", "N3=N1", "N4=N1", "N7=N2", "--into", "vote"]
    )
    assert made.exit_code == 0, made.output
    with runtime.db.transaction() as s:
        vote = s.scalar(sa.select(Poll).where(Poll.slug == "vote"))
        assert vote is not None
        open_poll(s, vote)
        question = load_definition(vote).question("name")
    assert [(o.code, o.label) for o in question.options] == [
        ("A", "Team Spark"),
        ("B", "Health Voices"),
        ("C", "Young Researchers"),
    ]

    # -- vote by text: messy ballots --------------------------------------------------------
    ballots = {
        0: ("b, a c", ["B", "A", "C"]),
        1: ("1st C 2nd A", ["C", "A"]),
        2: ("health voices then team spark", ["B", "A"]),
        3: ("C > B > A", ["C", "B", "A"]),
        4: ("a a b", ["A", "B"]),
        5: ("B", ["B"]),
    }
    label_of = {o.code: o.label for o in question.options}
    for i, (text, codes) in ballots.items():
        [prompt] = kids[i].replies("vote")
        assert "A) Team Spark" in prompt and "Jordan" not in prompt
        [reply] = kids[i].replies(text)
        labels = ", ".join(f"{n} {label_of[c]}" for n, c in enumerate(codes, 1))
        assert f"Got it: {labels}." in reply, (text, reply)
    [prompt] = kids[6].replies("VOTE")  # starts, never answers: still open at the close

    # a changed vote: the reply reads it back; the earlier ballot is kept for audit
    [changed] = kids[0].replies("c then b")
    assert changed == (
        "Got it: 1 Young Researchers, 2 Health Voices. Send a new order to change it."
    )
    ballots[0] = ("c then b", ["C", "B"])
    [not_a_ballot] = kids[1].replies("thanks!")
    assert "nothing to answer" in not_a_ballot

    # live results while open, without recounting on every text
    assert jobs.tally.refresh_provisional() == 1
    assert jobs.tally.refresh_provisional() == 0

    # -- close, tally ------------------------------------------------------------------------
    _close(runtime, "vote")
    [late] = kids[6].replies("a b c")
    assert "has now closed" in late
    [too_late] = kids[5].replies("a")
    assert "nothing to answer" in too_late
    assert jobs.tally.tally_poll(_poll(runtime, "vote").id) == 3

    vote = _poll(runtime, "vote")
    with runtime.db.transaction() as s:
        stored = {
            r.method: r
            for r in s.scalars(
                sa.select(TallyRun).where(
                    TallyRun.poll_id == vote.id, TallyRun.provisional.is_(False)
                )
            )
        }
        kept = s.scalars(
            sa.select(Answer.value).where(Answer.poll_id == vote.id).order_by(Answer.id)
        ).all()
        path = tmp_path / "ballots.csv"
        exported_ballots(s, vote, path)  # the file a researcher downloads
    assert kept.count(["B", "A", "C"]) == 1  # the superseded ballot is still there
    expected_ballots = [Ballot(tuple(codes)) for _, codes in ballots.values()]
    recount = tally("irv", ["A", "B", "C"], expected_ballots, seed="naming-story-seed")
    irv = stored["irv"]
    assert irv.result == recount.to_json_dict() and irv.ballots == 6
    assert irv.consensus is not None and "agrees" in irv.consensus

    # -- a researcher recounts from the exported ballots ------------------------------------
    for method, run in stored.items():
        args = tallying.reproduce_args(vote, question, method)
        result = runner.invoke(["tally", str(path), *args])
        assert result.exit_code == 0, result.output
        assert result.stdout == json.dumps(run.result, ensure_ascii=False, indent=2) + "\n"

    # -- results back to everyone who took part ----------------------------------------------
    with runtime.db.transaction() as s:
        plan = announce.preview(runtime, s, s.get(Poll, vote.id))
    winner = question.option(recount.order[0])
    assert winner is not None
    assert f"1st {winner.label}" in plan.text and "Jordan" not in plan.text
    assert len(plan.recipients) == 6  # the voters; kid 6 started but never answered
    assert plan.segments_each == 1
    from smsapp import queue

    kicks: list[str] = []  # the send jobs would share the test's one connection from a thread
    monkeypatch.setattr(queue, "enqueue", lambda rt, job, *a, **kw: kicks.append(job))
    shown = runner.invoke(["polls", "announce", "vote"], input="n\n")
    assert "Recipients: 6" in shown.output and "Not sent." in shown.output
    sent = runner.invoke(["polls", "announce", "vote", "--yes"])
    assert sent.exit_code == 0, sent.output
    with runtime.db.transaction() as s:
        queued = s.scalars(
            sa.select(OutboundMessage).where(
                OutboundMessage.poll_id == vote.id, OutboundMessage.kind == "results"
            )
        ).all()
    assert len(queued) == 6 and {m.status for m in queued} == {"queued"}
    assert {m.body for m in queued} == {plan.text}
    assert kicks and all(job.startswith("jobs.sending.") for job in kicks)


def test_a_text_for_a_conversation_whose_poll_closed_gets_a_polite_reply(runtime, phone) -> None:
    make_group(runtime)
    make_participant(runtime, PHONES[0])
    with runtime.db.transaction() as s:
        open_poll(s, import_poll(s, IDEAS).poll)
    kid = phone(PHONES[0])
    kid.replies("IDEAS")
    with runtime.db.transaction() as s:  # closed behind the conversation's back
        s.execute(sa.update(Poll).values(status="closed"))
    [reply] = kid.replies("Team Spark")
    assert reply == "Sorry, \u201cName ideas\u201d has closed. Thanks for taking part!"
    with runtime.db.transaction() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(Answer)) == 0
