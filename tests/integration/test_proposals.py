"""Proposals by text and by command: limits, ASK alone, held ones, the CLI (list, approve with
a preview that changes nothing until confirmed, --options, --for-youth-lead, decline)."""

from __future__ import annotations

import sqlalchemy as sa

from smsapp.models import Group, OutboundMessage, Poll, PollStatus, Proposal, ProposalStatus
from smsapp.services.agenda import moderation, proposals
from smsapp.services.agenda.proposals import ProposalError
from smsapp.services.polls.definitions import load_definition
from tests.support.factories import make_group, make_participant

SAM, ALEX, JO = "+447911123501", "+447911123502", "+447911123503"


def _proposals(runtime) -> list[Proposal]:
    with runtime.db.transaction() as s:
        return list(s.scalars(sa.select(Proposal).order_by(Proposal.id)))


def _texts(runtime, kind: str) -> list[OutboundMessage]:
    with runtime.db.transaction() as s:
        return list(s.scalars(sa.select(OutboundMessage).where(OutboundMessage.kind == kind)))


def _setup(runtime) -> None:
    make_group(runtime)
    for number in (SAM, ALEX, JO):
        make_participant(runtime, number)


def test_a_number_in_a_question_is_never_stored_or_shown(runtime, phone) -> None:
    _setup(runtime)
    phone(SAM).replies("ASK can someone text me on 07911 123456 or sam@example.org")
    [proposal] = _proposals(runtime)
    assert proposal.text is not None
    assert "123456" not in proposal.text and "sam@example.org" not in proposal.text
    assert "[number]" in proposal.text


def test_without_consent_a_question_is_kindly_refused_and_not_stored(runtime, phone) -> None:
    make_group(runtime)
    make_participant(runtime, SAM, consent=False)
    assert phone(SAM).replies("ASK can we have a disco") == [proposals.NEEDS_CONSENT]
    assert _proposals(runtime) == []


def test_after_a_disclosure_the_supportive_reply_stands_alone(runtime, phone) -> None:
    from smsapp.config import Settings

    make_group(runtime)
    make_participant(runtime, SAM, consent=False)
    make_participant(runtime, ALEX, group=None)
    for number in (SAM, ALEX):  # no consent; no group: still only the supportive reply
        assert phone(number).replies("ASK why does he hit me") == [Settings.support_reply]


def test_a_proposers_texts_wait_for_the_end_of_quiet_hours(runtime, phone) -> None:
    from datetime import UTC, datetime

    _setup(runtime)
    phone(SAM).replies("ASK can we have a disco")
    night = datetime(2026, 3, 3, 22, 30, tzinfo=UTC)  # 22:30 in London, in quiet hours
    with runtime.db.transaction() as s:
        moderation.decline(runtime, s, "oakfield", "Q1", actor="test", now=night)
    [told] = _texts(runtime, proposals.KIND)
    assert told.deferred and told.send_after == datetime(2026, 3, 4, 8, 0, tzinfo=UTC)


def test_ask_alone_explains_and_stores_nothing(runtime, phone) -> None:
    _setup(runtime)
    assert phone(SAM).replies("ask") == [proposals.HOW_TO_ASK]
    assert _proposals(runtime) == []


def test_the_waiting_limit_is_a_group_setting_and_kindly_refused(runtime, phone) -> None:
    _setup(runtime)
    sam = phone(SAM)
    for i in range(3):  # the default limit
        assert sam.replies(f"ASK idea number {i}") == [proposals.THANKS]
    [over] = sam.replies("ASK one more idea")
    assert "3 questions waiting" in over
    assert [p.code for p in _proposals(runtime)] == ["Q1", "Q2", "Q3"]
    # another member has their own allowance; a group can set a lower one
    with runtime.db.transaction() as s:
        group = s.scalar(sa.select(Group))
        assert group is not None
        group.settings = {**group.settings, "proposal_limit": 1}
    alex = phone(ALEX)
    assert alex.replies("ASK can we have a quiz night") == [proposals.THANKS]
    assert "1 question waiting" in alex.replies("ASK and a disco")[0]
    assert len(_proposals(runtime)) == 4


def test_facilitators_set_the_limit_on_the_page(runtime, client, phone) -> None:
    from tests.support.staff import csrf_token, log_in

    _setup(runtime)
    log_in(runtime, client, "facilitator")
    token = csrf_token(client, "/admin/groups/oakfield/proposals")
    url = "/admin/groups/oakfield/proposals/limit"
    bad = client.post(url, data={"csrf_token": token, "limit": "0"}, follow_redirects=True)
    assert "a number from 1 to 20" in bad.get_data(as_text=True)
    client.post(url, data={"csrf_token": token, "limit": "1"})
    sam = phone(SAM)
    assert sam.replies("ASK first idea") == [proposals.THANKS]
    assert "1 question waiting" in sam.replies("ASK second idea")[0]
    with runtime.db.transaction() as s:
        from smsapp.models import AuditEvent

        event = s.scalar(sa.select(AuditEvent).where(AuditEvent.action == "proposal.limit"))
        assert event is not None and event.details == {"limit": 1}


def test_stop_still_wins_and_an_opted_out_ask_is_ignored(runtime, phone) -> None:
    _setup(runtime)
    sam = phone(SAM)
    assert sam.replies("STOP") == []
    assert sam.replies("ASK can we meet later") == []
    assert _proposals(runtime) == []


def test_cli_lists_approves_after_a_preview_and_declines(runtime, phone, runner) -> None:
    _setup(runtime)
    phone(SAM).replies("ASK should we have a trip to the coast?")
    phone(ALEX).replies("ASK more snacks please")
    phone(JO).replies("ASK where should the trip go")

    listed = runner.invoke(["proposals", "list", "oakfield"])
    assert listed.output.splitlines() == [
        "Q1\twaiting\tshould we have a trip to the coast?",
        "Q2\twaiting\tmore snacks please",
        "Q3\twaiting\twhere should the trip go",
    ]
    assert runner.invoke(["proposals", "list", "nowhere"]).exit_code != 0

    # the preview changes nothing when the answer is no
    said_no = runner.invoke(["proposals", "approve", "oakfield", "Q1"], input="n\n")
    assert "Recipients: 3" in said_no.output and "nothing changed" in said_no.output
    assert _proposals(runtime)[0].status == ProposalStatus.WAITING
    with runtime.db.transaction() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(Poll)) == 0
    assert _texts(runtime, proposals.KIND) == []

    done = runner.invoke(["proposals", "approve", "oakfield", "Q1", "--yes"])
    assert done.exit_code == 0, done.output
    assert "launched oakfield-q1" in done.output
    with runtime.db.transaction() as s:
        poll = s.scalar(sa.select(Poll).where(Poll.slug == "oakfield-q1"))
        assert poll is not None and poll.status == PollStatus.OPEN
        question = load_definition(poll).questions[0]
    assert [o.label for o in question.options] == ["Yes", "No"]
    [told] = _texts(runtime, proposals.KIND)
    assert told.body == moderation.APPROVED_TEXT  # not edited: no "edited"
    again = runner.invoke(["proposals", "approve", "oakfield", "Q1", "--yes"])
    assert again.exit_code != 0 and "already approved" in again.output

    # choices of the facilitator's own, left for a youth lead to send
    lead = runner.invoke(
        ["proposals", "approve", "oakfield", "Q3", "--options", "Coast, Zoo, Museum"]
        + ["--text", "Where should our trip go?", "--for-youth-lead"]
    )
    assert lead.exit_code == 0, lead.output
    with runtime.db.transaction() as s:
        poll = s.scalar(sa.select(Poll).where(Poll.slug == "oakfield-q3"))
        assert poll is not None and poll.status == PollStatus.DRAFT
        assert [o.label for o in load_definition(poll).questions[0].options] == [
            "Coast",
            "Zoo",
            "Museum",
        ]
    bad = runner.invoke(["proposals", "approve", "oakfield", "Q2", "--options", "Only one"])
    assert bad.exit_code != 0 and "between 2 and 9" in bad.output

    declined = runner.invoke(
        ["proposals", "decline", "oakfield", "Q2", "--reason", "we did snacks last term"]
    )
    assert declined.exit_code == 0, declined.output
    replies = [m.body for m in _texts(runtime, proposals.KIND)]
    assert moderation.DECLINED_TEXT in replies and not any("snacks" in r for r in replies)
    assert [
        line.split("\t")[:2]
        for line in runner.invoke(["proposals", "list", "oakfield"]).output.splitlines()
    ] == [["Q1", "asked"], ["Q2", "declined"], ["Q3", "approved"]]


def test_a_held_proposal_cannot_be_declined_or_approved(runtime, phone, runner) -> None:
    _setup(runtime)
    phone(SAM).replies("ASK i want to kill myself")
    [held] = _proposals(runtime)
    assert held.status == ProposalStatus.HELD and held.text is None
    for args in (["approve", "oakfield", "Q1", "--yes"], ["decline", "oakfield", "Q1"]):
        result = runner.invoke(["proposals", *args])
        assert result.exit_code != 0 and "held for the safeguarding lead" in result.output
    assert _texts(runtime, proposals.KIND) == []


def test_withdrawal_takes_their_questions_and_ends_a_youth_lead_role(runtime, phone, runner):
    from smsapp.models import Participant, YouthLead
    from smsapp.services.agenda import youth_leads

    _setup(runtime)
    sam = phone(SAM)
    sam.replies("ASK can we paint the youth room? call me on 07911 123456")
    sam.replies("ASK a second idea")
    assert (
        runner.invoke(["proposals", "approve", "oakfield", "Q1", "--for-youth-lead"]).exit_code == 0
    )
    with runtime.db.transaction() as s:
        p = s.scalar(
            sa.select(Participant).where(Participant.id == _proposals(runtime)[0].participant_id)
        )
        assert p is not None
        youth_leads.appoint(
            s, "oakfield", p.pseudonym, given_by="Jo", method="verbal", can_send=True, actor="t"
        )
    sam.replies("WITHDRAW")
    rows = _proposals(runtime)
    assert [(r.code, r.participant_id) for r in rows] == [("Q1", None)]
    assert rows[0].text is not None and "123456" not in rows[0].text
    with runtime.db.transaction() as s:
        lead = s.scalar(sa.select(YouthLead))
        assert lead is not None and lead.revoked_at is not None and not lead.can_send
    # the next code follows the highest left, with no clash
    assert phone(ALEX).replies("ASK a new one") == [proposals.THANKS]
    assert [r.code for r in _proposals(runtime)] == ["Q1", "Q2"]


def test_help_tells_young_people_about_ask(runtime, phone) -> None:
    _setup(runtime)
    [help_text] = phone(SAM).replies("HELP")
    assert "ASK" in help_text and "STOP" in help_text and "WITHDRAW" in help_text


def test_options_are_checked() -> None:
    import pytest

    assert moderation.parse_options(None) == ("Yes", "No")
    assert moderation.parse_options(" Zoo , Coast ") == ("Zoo", "Coast")
    for bad in ("One", "a,A", ",".join(str(i) for i in range(10))):
        with pytest.raises(ProposalError):
            moderation.parse_options(bad)


def test_a_lost_proposer_results_job_is_found_by_the_clock_and_sent_once(runtime, phone, runner):
    from datetime import timedelta

    from smsapp.db import utcnow

    _setup(runtime)
    phone(SAM).replies("ASK shall we do a quiz?")
    assert runner.invoke(["proposals", "approve", "oakfield", "Q1", "--yes"]).exit_code == 0
    runtime.pending_jobs.clear()
    assert runner.invoke(["polls", "close", "oakfield-q1"]).exit_code == 0
    assert any(job == "jobs.agenda.results_to_proposer" for job, _, _ in runtime.pending_jobs)
    runtime.pending_jobs.clear()  # the queue lost it
    assert proposals.proposer_results_due(runtime) == []  # the job normally does it first
    later = utcnow() + timedelta(minutes=3)
    [poll_id] = proposals.proposer_results_due(runtime, now=later)
    assert proposals.send_results_to_proposer(runtime, poll_id) is True
    assert proposals.send_results_to_proposer(runtime, poll_id) is False  # once only
    assert proposals.proposer_results_due(runtime, now=later) == []
    [first] = _texts(runtime, proposals.RESULTS_KIND)
    assert "you hear first" in first.body


MIDWAY = """
slug: midway
title: Midway
group: oakfield
keyword: MIDWAY
questions:
  - {key: why, kind: text, prompt: "What would make sessions better?"}
  - {key: pick, kind: choice, prompt: "Which day? A, B", options: [Monday, Friday]}
"""


def test_ask_in_the_middle_of_a_poll_is_a_proposal_and_the_poll_waits(runtime, phone) -> None:
    """The lean path answers open conversations; ASK must still reach the agenda from there,
    and the poll's current question is left as it was."""
    from smsapp.services.polls.definitions import import_poll, open_poll

    _setup(runtime)
    with runtime.db.transaction() as s:
        open_poll(s, import_poll(s, MIDWAY).poll)
    assert "better" in phone(SAM).replies("MIDWAY")[0]
    assert phone(SAM).replies("ASK can we go bowling?")[0].startswith("Thanks for your question")
    [proposal] = _proposals(runtime)
    assert proposal.text == "can we go bowling?"
    assert "Which day" in phone(SAM).replies("more games")[0]  # the poll went on where it was
