"""Young people set the agenda, the whole loop through the signed webhook and the admin page:
a member proposes a question by text, a proposal with a disclosure is held for the safeguarding
lead (never in the facilitator's queue, never sent), the facilitator edits and approves the
other and launches it from the usual preview, the group answers, the poll closes, the proposer
hears the results first, and the group's record shows the question and its headline."""

from __future__ import annotations

import sqlalchemy as sa

from smsapp import queue
from smsapp.models import AuditEvent, OutboundMessage, Poll, Proposal, ProposalStatus
from smsapp.services.agenda import moderation, proposals
from tests.support.factories import make_group, make_participant
from tests.support.staff import csrf_token, log_in

PHONES = [f"+4479111235{i:02d}" for i in range(10)]
QUESTION = "should we do a trip to the science museum?"
EDITED = "Should we plan a trip to the science museum this summer?"
DISCLOSURE = "ASK why does my step dad hit me when he is drunk"


def _outbound(runtime, **where) -> list[OutboundMessage]:
    with runtime.db.transaction() as s:
        stmt = sa.select(OutboundMessage).order_by(OutboundMessage.id)
        for name, value in where.items():
            stmt = stmt.where(getattr(OutboundMessage, name) == value)
        return list(s.scalars(stmt))


def test_a_young_persons_question_goes_round_the_whole_loop(runtime, app, client, phone, runner):
    make_group(runtime)
    kids = []
    for i, number in enumerate(PHONES):
        make_participant(runtime, number, nickname=f"Kid{i}")
        kids.append(phone(number))
    proposer, worried = kids[0], kids[1]

    # 1. a young person proposes a question -----------------------------------------------
    assert proposer.replies(f"ASK {QUESTION}") == [proposals.THANKS]

    # 2. a proposal with a disclosure is held: the supportive reply, no thanks, no words kept
    [support] = worried.replies(DISCLOSURE)
    assert "Childline" in support
    with runtime.db.transaction() as s:
        rows = {p.code: p for p in s.scalars(sa.select(Proposal))}
    assert rows["Q1"].status == ProposalStatus.WAITING and rows["Q1"].text == QUESTION
    assert rows["Q2"].status == ProposalStatus.HELD and rows["Q2"].text is None

    # only the safeguarding role reads its words, in the inbox, like any flagged text
    lead = app.test_client()
    log_in(runtime, lead, "safeguarding")
    assert "step dad" in lead.get("/admin/safeguarding/").get_data(as_text=True)

    # the facilitator's queue: Q1's words, Q2 as "held" only
    log_in(runtime, client, "facilitator")
    dashboard = client.get("/admin/").get_data(as_text=True)
    waiting = dashboard.split('id="waiting-questions"')[1].split("</li>")[0]
    assert ">1</span>" in waiting and "/admin/groups/oakfield/proposals" in waiting
    page = client.get("/admin/groups/oakfield/proposals").get_data(as_text=True)
    assert QUESTION in page and "Q2" in page and "held" in page
    assert "step dad" not in page and "drunk" not in page
    assert 'id="proposal-Q2"' not in page  # no approve/decline form for it
    assert "step dad" not in client.get("/admin/messages").get_data(as_text=True)
    listed = runner.invoke(["proposals", "list", "oakfield"]).output.splitlines()
    assert listed[0].startswith("Q1\twaiting\t" + QUESTION)
    assert listed[1] == "Q2\theld\t" and all("step dad" not in line for line in listed)

    # and it can never be approved, by the page or the CLI
    token = csrf_token(client, "/admin/groups/oakfield/proposals")
    refused = client.post(
        "/admin/groups/oakfield/proposals/Q2/approve",
        data={"csrf_token": token, "text": "anything", "options": "Yes,No", "then": "launch"},
        follow_redirects=True,
    ).get_data(as_text=True)
    assert "held for the safeguarding lead" in refused
    cli = runner.invoke(["proposals", "approve", "oakfield", "Q2", "--yes"])
    assert cli.exit_code != 0 and "held for the safeguarding lead" in cli.output

    # 3. the facilitator edits and approves Q1, then launches it from the usual preview ----
    approved = client.post(
        "/admin/groups/oakfield/proposals/Q1/approve",
        data={"csrf_token": token, "text": EDITED, "options": "Yes,No", "then": "launch"},
    )
    assert approved.status_code == 302
    assert approved.headers["Location"].endswith("/admin/polls/oakfield-q1/launch")
    preview = client.get("/admin/polls/oakfield-q1/launch").get_data(as_text=True)
    assert "data-recipients>10<" in preview and EDITED in preview
    launched = client.post(
        "/admin/polls/oakfield-q1/launch",
        data={
            "csrf_token": csrf_token(client, "/admin/polls/oakfield-q1/launch"),
            "confirm": "yes",
        },
    )
    assert launched.status_code == 302
    [told] = _outbound(runtime, kind=proposals.KIND)
    assert "edited" in told.body and EDITED in told.body
    invitations = _outbound(runtime, kind="invitation")
    assert len(invitations) == 10
    assert all(moderation.CREDIT in m.body for m in invitations)  # credited, never a name
    assert not any("Kid0" in m.body.replace("Hi Kid0", "") for m in invitations)

    # 4. the group answers, the poll closes, the proposer hears first ----------------------
    for kid, answer in zip(
        kids, ["a", "yes", "A", "b", "a", "no", "B", "b", "Yes", "no"], strict=True
    ):
        replies = kid.replies(answer)
        assert replies, answer
    runtime.pending_jobs.clear()
    closed = client.post(
        "/admin/polls/oakfield-q1/close",
        data={"csrf_token": csrf_token(client, "/admin/polls/oakfield-q1/close"), "confirm": "yes"},
    )
    assert closed.status_code == 302
    ran = queue.run_pending(runtime)
    assert "jobs.agenda.results_to_proposer" in ran
    [first] = _outbound(runtime, kind=proposals.RESULTS_KIND)
    assert "you hear first" in first.body and "Yes (5 votes)" in first.body
    with runtime.db.transaction() as s:
        proposer_id = s.scalar(sa.select(Proposal.participant_id).where(Proposal.code == "Q1"))
    assert first.participant_id == proposer_id
    preview = client.get("/admin/polls/oakfield-q1/announce").get_data(as_text=True)
    assert "had the results first (proposed the question)" in preview
    announced = client.post(
        "/admin/polls/oakfield-q1/announce",
        data={
            "csrf_token": csrf_token(client, "/admin/polls/oakfield-q1/announce"),
            "confirm": "yes",
        },
    )
    assert announced.status_code == 302
    group_results = _outbound(runtime, kind="results")
    assert len(group_results) == 9  # everyone else; the proposer is not texted twice
    assert proposer_id not in {m.participant_id for m in group_results}
    assert all(first.id < m.id and first.send_after <= m.send_after for m in group_results)

    # the held proposal was never sent to anyone, and made no poll
    everything = _outbound(runtime)
    assert not any("step dad" in m.body for m in everything)
    with runtime.db.transaction() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(Poll)) == 1
        actions = set(s.scalars(sa.select(AuditEvent.action)))
    assert {"proposal.ask", "proposal.held", "proposal.approve", "proposal.results"} <= actions

    # 5. the group's record: the question and its headline ----------------------------------
    with runtime.db.transaction() as s:
        group_id = s.scalar(sa.select(Proposal.group_id).where(Proposal.code == "Q1"))
        record = proposals.for_record(s, group_id)
    by_code = {r.code: r for r in record}
    assert by_code["Q1"].status == "closed" and by_code["Q1"].text == EDITED
    assert by_code["Q1"].poll_slug == "oakfield-q1"
    assert by_code["Q1"].headline is not None and "Yes (5 votes)" in by_code["Q1"].headline
    assert by_code["Q2"].status == "held" and by_code["Q2"].text is None
    assert by_code["Q2"].headline is None and by_code["Q2"].poll_slug is None
