"""Youth leads: appointed on the page with consent recorded, SEND launches the oldest approved
question through the launch use case when allowed, SEND RESULTS texts the latest headline
results, every use is audited, and revoking ends it at once."""

from __future__ import annotations

import sqlalchemy as sa

from smsapp.models import AuditEvent, Participant, Poll, PollStatus, YouthLead
from smsapp.services.agenda import youth_leads
from smsapp.services.polls.closing import close_poll
from smsapp.services.votes import tallying
from tests.support.factories import make_group, make_participant
from tests.support.staff import csrf_token, log_in

LEAD, OTHER = "+447911123601", "+447911123602"
PAGE = "/admin/groups/oakfield/proposals"


def _pseudonym(runtime, participant_id: int) -> str:
    with runtime.db.transaction() as s:
        p = s.get(Participant, participant_id)
        assert p is not None
        return p.pseudonym


def _actions(runtime) -> list[tuple[str, str]]:
    with runtime.db.transaction() as s:
        rows = s.execute(
            sa.select(AuditEvent.actor, AuditEvent.action)
            .where(AuditEvent.action.like("youth_lead.%"))
            .order_by(AuditEvent.id)
        ).all()
    return [(actor, action) for actor, action in rows]


def test_a_youth_lead_sends_asks_for_results_and_is_revoked(runtime, client, phone, runner):
    make_group(runtime)
    lead_id = make_participant(runtime, LEAD, nickname="Lee").id
    others = [make_participant(runtime, f"+4479111236{i:02d}").id for i in range(10, 16)]
    assert others
    pseudonym = _pseudonym(runtime, lead_id)
    lead, other = phone(LEAD), phone(OTHER)
    make_participant(runtime, OTHER)

    # not a lead yet: a kind "not available", for SEND and SEND RESULTS alike
    assert lead.replies("SEND") == [youth_leads.NOT_AVAILABLE]
    assert lead.replies("send results") == [youth_leads.NOT_AVAILABLE]

    log_in(runtime, client, "facilitator")
    token = csrf_token(client, PAGE)
    no_consent = client.post(
        "/admin/groups/oakfield/youth-leads",
        data={
            "csrf_token": token,
            "pseudonym": pseudonym,
            "consent_by": " ",
            "consent_method": "verbal",
        },
        follow_redirects=True,
    ).get_data(as_text=True)
    assert "say who gave consent" in no_consent
    client.post(
        "/admin/groups/oakfield/youth-leads",
        data={
            "csrf_token": token,
            "pseudonym": pseudonym,
            "consent_by": "Lee and Jo (mother)",
            "consent_method": "paper form",
        },
    )
    with runtime.db.transaction() as s:
        row = s.scalar(sa.select(YouthLead))
        assert row is not None and row.consent_by == "Lee and Jo (mother)"
        assert row.consent_method == "paper form" and not row.can_send
    page = client.get(PAGE).get_data(as_text=True)
    assert pseudonym in page and "Allow SEND" in page and LEAD[-6:] not in page

    # a lead who may not SEND is told so; a question waits for them
    other.replies("ASK can we go bowling?")
    approved = runner.invoke(["proposals", "approve", "oakfield", "Q1", "--for-youth-lead"])
    assert approved.exit_code == 0, approved.output
    assert lead.replies("SEND") == [youth_leads.SEND_NOT_ALLOWED]
    client.post(
        f"/admin/groups/oakfield/youth-leads/{pseudonym}",
        data={"csrf_token": token, "action": "allow-send"},
    )
    [sent] = lead.replies("SEND")
    assert sent.startswith(("Sent!", "Done!")) and " 8 people" in sent
    with runtime.db.transaction() as s:
        poll = s.scalar(sa.select(Poll).where(Poll.slug == "oakfield-q1"))
        assert poll is not None and poll.status == PollStatus.OPEN
    assert lead.replies("SEND") == [youth_leads.NOTHING_TO_SEND]
    assert other.replies("SEND") == [youth_leads.NOT_AVAILABLE]  # not a lead

    # SEND RESULTS: nothing closed yet, then the closed poll's headline
    assert lead.replies("SEND RESULTS") == [youth_leads.NO_RESULTS]
    with runtime.db.transaction() as s:
        poll = s.scalar(sa.select(Poll).where(Poll.slug == "oakfield-q1"))
        assert poll is not None
        close_poll(runtime, s, poll, actor="test")
        tallying.tally_poll(s, poll, final=True)
    [results] = lead.replies("send the results")
    assert results.startswith("Results of A group member's question:")

    # revoke: at once, SEND and SEND RESULTS are no longer available; STOP still wins
    client.post(
        f"/admin/groups/oakfield/youth-leads/{pseudonym}",
        data={"csrf_token": token, "action": "revoke"},
    )
    assert lead.replies("SEND RESULTS") == [youth_leads.NOT_AVAILABLE]
    assert lead.replies("SEND") == [youth_leads.NOT_AVAILABLE]
    assert "revoked" in client.get(PAGE).get_data(as_text=True)
    assert lead.replies("STOP") == []

    actor = f"youth lead {pseudonym}"
    assert _actions(runtime) == [
        ("facilitator@example.org", "youth_lead.appoint"),
        ("facilitator@example.org", "youth_lead.allow_send"),
        (actor, "youth_lead.send"),
        (actor, "youth_lead.results"),
        ("facilitator@example.org", "youth_lead.revoke"),
    ]
    with runtime.db.transaction() as s:
        launch = s.scalar(sa.select(AuditEvent).where(AuditEvent.action == "poll.launch"))
        assert launch is not None and launch.actor == actor


def test_a_member_without_consent_cannot_be_made_a_lead(runtime) -> None:
    make_group(runtime)
    p = make_participant(runtime, LEAD, consent=False)
    with runtime.db.transaction() as s:
        try:
            youth_leads.appoint(
                s,
                "oakfield",
                p.pseudonym,
                given_by="Jo",
                method="verbal",
                can_send=True,
                actor="test",
            )
        except youth_leads.YouthLeadError as exc:
            assert "cannot be a youth lead" in str(exc)
        else:
            raise AssertionError("appointed without consent")
        assert s.scalar(sa.select(sa.func.count()).select_from(YouthLead)) == 0


def test_who_may_be_a_lead_is_the_text_rule_on_the_page_and_in_appoint(runtime, client) -> None:
    """A youth lead works by text, so the one text rule (consent.text_gate) decides: the page
    offers only members it lets us text, and appoint refuses the rest with its reason."""
    from smsapp.models import ParticipantStatus

    group = make_group(runtime)
    ok = make_participant(runtime, LEAD)
    no_consent = make_participant(runtime, OTHER, consent=False)
    pretend = make_participant(runtime, "+447911123603")
    stopped = make_participant(runtime, "+447911123604")
    with runtime.db.transaction() as s:
        s.execute(sa.update(Participant).where(Participant.id == pretend.id).values(simulated=True))
        s.execute(
            sa.update(Participant)
            .where(Participant.id == stopped.id)
            .values(status=ParticipantStatus.OPTED_OUT)
        )
        assert [c.pseudonym for c in youth_leads.candidates(s, group.id)] == [ok.pseudonym]
    for refused, reason in [
        (no_consent, "no guardian consent"),
        (pretend, "simulated participant"),
        (stopped, "participant is opted-out"),
    ]:
        with runtime.db.transaction() as s:
            try:
                youth_leads.appoint(
                    s,
                    "oakfield",
                    refused.pseudonym,
                    given_by="Jo",
                    method="verbal",
                    can_send=False,
                    actor="test",
                )
            except youth_leads.YouthLeadError as exc:
                assert reason in str(exc)
            else:
                raise AssertionError(f"{refused.pseudonym} was appointed")
    log_in(runtime, client)
    page = client.get(PAGE).get_data(as_text=True)
    offered = page.split('name="pseudonym"', 1)[1].split("</select>", 1)[0]
    assert ok.pseudonym in offered
    assert all(p.pseudonym not in offered for p in (no_consent, pretend, stopped))
