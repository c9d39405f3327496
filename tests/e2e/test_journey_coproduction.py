"""The co-production journey in one real browser, on one live server: young people set the
agenda and the group keeps its record.

The facilitator logs in; members' questions arrive by signed text (one a disclosure, held for
the safeguarding lead); the facilitator edits, approves and launches the other, and appoints and
revokes a youth lead; makes a poll from a template, schedules its launch and the clock launches
it; watches live results, downloads the chart and the workbook, duplicates the poll; reads the
group's record (the proposed question is on it), celebrates with the group, and places the year
review's written answers on the tree of growth. Screenshots at phone and desktop widths go to
test-artifacts/journey-*.png. The steps are in tests/support/journeys/.
"""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from smsapp.models import OutboundMessage
from tests.e2e.conftest import LiveServer
from tests.support.browser import PageErrors, log_in
from tests.support.journeys import record, tools, voice

pytestmark = pytest.mark.browser


def test_coproduction_journey(live_server: LiveServer, browser_page: Any, shoot: Any) -> None:
    page, base, runtime = browser_page, live_server.url, live_server.runtime
    errors = PageErrors(page)
    record.seed_group_history(runtime)  # Oakfield's term so far: 8 members
    voice.seed_members(runtime)  # 4 more, who will propose questions
    members = len(record.HISTORY) + len(voice.MEMBERS)

    log_in(page, base)
    voice.step_questions_arrive_by_text(page, base, shoot)
    voice.step_moderate_a_proposal(page, base, shoot, recipients=members)
    voice.step_appoint_and_revoke_a_youth_lead(page, base, shoot)

    tools.seed_newcomers(runtime)
    members += len(tools.NEWCOMERS)
    tools.step_new_poll_from_template(page, base, shoot)
    tools.step_schedule_launch(page, base, shoot, busy=members - len(tools.NEWCOMERS))
    tools.clock_launches_due_polls(runtime)
    tools.step_scheduled_poll_is_open(page, base, shoot)
    # Only the newcomers are asked at once: the other members are still in the middle of the
    # member's question, and the priorities poll waits its turn for them.
    tools.step_live_results(page, base, shoot, asked=len(tools.NEWCOMERS))
    tools.step_downloads(page, base, shoot)
    tools.step_duplicate_poll(page, base, shoot)

    record.step_group_record(
        page, base, shoot, proposed=voice.EDITED, never_shown=voice.DISCLOSED_WORD
    )
    record.step_celebrate(page, base, shoot, group_size=members)
    record.step_year_review_results(page, base, shoot)

    assert errors.seen == []
    voice.assert_disclosure_never_sent(runtime)
    with runtime.db.transaction() as s:
        celebrations = s.scalar(
            sa.select(sa.func.count())
            .select_from(OutboundMessage)
            .where(OutboundMessage.kind == "celebrate")
        )
    assert celebrations == members
