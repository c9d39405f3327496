"""Young people set the agenda: questions arrive by signed text, one of them a disclosure; the
facilitator finds the queue from the group page, sees the held one as "held" only, edits and
approves the other, launches it from the usual preview, then makes a member a youth lead with
consent, allows SEND, and revokes the role."""

from __future__ import annotations

import re
from typing import Any

import sqlalchemy as sa

from smsapp.models import OutboundMessage, Proposal, ProposalStatus
from smsapp.runtime import Runtime
from tests.support.browser import Shoot, both_widths, text_in
from tests.support.factories import make_participant

PROPOSER = "+447911123701"
WORRIED = "+447911123702"
MEMBERS = [PROPOSER, WORRIED, "+447911123703", "+447911123704"]
QUESTION = "can we go to the science museum"
EDITED = "Should we go to the science museum in the summer?"
DISCLOSURE = "ASK why does my dad hit me"
DISCLOSED_WORD = "dad"  # on no page but the safeguarding lead's
DISCLOSED_WORDS = "my dad hit me"
QUICK_POLL = "oakfield-q1"


def seed_members(runtime: Runtime) -> None:
    """Four members of Oakfield (consent recorded) who will text their questions."""
    for i, number in enumerate(MEMBERS):
        make_participant(runtime, number, nickname=f"Ali{i}")


def step_questions_arrive_by_text(page: Any, base_url: str, shoot: Shoot) -> None:
    text_in(base_url, PROPOSER, f"ASK {QUESTION}")
    text_in(base_url, WORRIED, DISCLOSURE)


def step_moderate_a_proposal(page: Any, base_url: str, shoot: Shoot, *, recipients: int) -> None:
    """Group page -> the queue: the disclosure is only "held"; the other question is edited,
    approved and launched to the whole group (`recipients` people) as a member's question."""
    from playwright.sync_api import expect

    page.goto(base_url + "/admin/groups/oakfield")
    page.get_by_role("link", name="Young people's questions and youth leads").click()
    expect(page.get_by_role("heading", name=re.compile("Waiting for you \\(1\\)"))).to_be_visible()
    expect(page.locator("#row-Q2")).to_contain_text("held")
    assert DISCLOSED_WORD not in page.content()  # the words are for the safeguarding lead only
    both_widths(page, shoot, "journey-01-proposals-queue")

    page.get_by_label("Question (edit it if it needs it)").fill(EDITED)
    page.get_by_role("button", name="Approve and preview the launch").click()
    page.wait_for_url(re.compile(rf"/admin/polls/{QUICK_POLL}/launch$"))
    expect(page.locator("[data-recipients]")).to_have_text(str(recipients))
    expect(page.locator("pre.sms").first).to_contain_text("A group member's question")
    assert DISCLOSED_WORD not in page.content()
    both_widths(page, shoot, "journey-02-launch-preview")
    page.get_by_label("I have checked the recipients").check()
    page.get_by_role("button", name=re.compile("Launch and send")).click()
    page.wait_for_url(re.compile(rf"/admin/polls/{QUICK_POLL}/status$"))

    page.goto(base_url + "/admin/groups/oakfield/proposals")
    expect(page.locator("#row-Q1")).to_contain_text("asked")
    expect(page.locator("#row-Q1")).to_contain_text("(edited)")
    expect(page.get_by_role("heading", name=re.compile("Waiting for you \\(0\\)"))).to_be_visible()
    both_widths(page, shoot, "journey-03-after-approval")


def step_appoint_and_revoke_a_youth_lead(page: Any, base_url: str, shoot: Shoot) -> None:
    from playwright.sync_api import expect

    page.goto(base_url + "/admin/groups/oakfield/proposals")
    page.get_by_label("Member", exact=True).select_option(index=0)
    page.get_by_label("Who agreed to the role").fill("Ali and Jo Smith (mother)")
    page.get_by_label("How", exact=True).select_option("paper form")
    page.get_by_role("button", name="Make youth lead").click()
    expect(page.locator(".flash")).to_contain_text("is now a youth lead")
    page.get_by_role("button", name=re.compile("^Allow SEND")).click()
    expect(page.get_by_text("allowed", exact=True)).to_be_visible()
    both_widths(page, shoot, "journey-04-youth-lead")
    page.get_by_role("button", name=re.compile("^Revoke")).click()
    expect(page.get_by_text(re.compile("^revoked"))).to_be_visible()


def assert_disclosure_never_sent(runtime: Runtime) -> None:
    """The held proposal stayed held: it never became a poll, and no text carried its words."""
    with runtime.db.transaction() as s:
        held = s.scalars(sa.select(Proposal).where(Proposal.status == ProposalStatus.HELD)).all()
        assert [(p.code, p.poll_id) for p in held] == [("Q2", None)]
        carried = s.scalar(
            sa.select(sa.func.count())
            .select_from(OutboundMessage)
            .where(OutboundMessage.body.contains(DISCLOSED_WORDS))
        )
    assert carried == 0
