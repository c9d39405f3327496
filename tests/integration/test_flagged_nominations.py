"""A safeguarding-flagged text sent as a nomination, through the signed webhook: the young person
gets the supportive reply and no read-back of their words; no stored reply holds the words; staff
see the nomination by code and status ("held") only; and no command or page can approve, merge
or shortlist it. Only the safeguarding inbox shows the words."""

from __future__ import annotations

import functools
import io
import re
import zipfile
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.security import generate_password_hash

from smsapp.config import Settings
from smsapp.models import (
    InboundMessage,
    Nomination,
    OutboundMessage,
    OutboundStatus,
    Participant,
    Poll,
)
from smsapp.services.people import staff
from smsapp.services.people.staff import create_user
from smsapp.services.polls.definitions import import_poll, load_definition, open_poll
from smsapp.services.research.exports import write_floip
from tests.support.factories import IDEAS, VOTE, make_group, make_participant

DATA = Path(__file__).parent.parent / "data"
PHONES = ["+447911123401", "+447911123402", "+447911123403"]
PASSWORD = "correct horse battery"
DISCLOSURE = "i want to kill myself"
SECRET = re.compile(r"kill\s*myself", re.IGNORECASE)


def _says(text: str) -> bool:
    return SECRET.search(text) is not None


@pytest.fixture
def cheap_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    # Several staff accounts per test: a cheap hash keeps it quick (log-in still checks it).
    monkeypatch.setattr(
        staff,
        "generate_password_hash",
        functools.partial(generate_password_hash, method="pbkdf2:sha256:1000"),
    )


def _polls(runtime: Any) -> None:
    make_group(runtime)
    for number in PHONES:
        make_participant(runtime, number, nickname="Kid")
    with runtime.db.transaction() as s:
        open_poll(s, import_poll(s, IDEAS).poll)
        import_poll(s, VOTE)


def _login(app: Flask, runtime: Any, role: str) -> FlaskClient:
    with runtime.db.transaction() as s:
        create_user(s, f"{role}@example.org", PASSWORD, role)
    client = app.test_client()
    token = _token(client.get("/login").get_data(as_text=True))
    done = client.post(
        "/login", data={"email": f"{role}@example.org", "password": PASSWORD, "csrf_token": token}
    )
    assert done.status_code == 302
    return client


def _token(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found
    return found.group(1)


def _statuses(runtime: Any) -> dict[str, tuple[str, str | None, int | None]]:
    with runtime.db.transaction() as s:
        return {
            n.code: (n.status, n.moderated_by, n.merged_into_id)
            for n in s.scalars(sa.select(Nomination))
        }


def _vote_options(runtime: Any) -> tuple[Any, ...]:
    with runtime.db.transaction() as s:
        vote = s.scalar(sa.select(Poll).where(Poll.slug == "vote"))
        assert vote is not None
        return load_definition(vote).question("name").options


def _stored_reply_bodies(runtime: Any) -> list[str]:
    """Every reply the service stored: the outbound log and the replies kept on each text."""
    with runtime.db.transaction() as s:
        bodies = list(s.scalars(sa.select(OutboundMessage.body)))
        for replies in s.scalars(sa.select(InboundMessage.replies)):
            bodies.extend(replies or [])
    return [b for b in bodies if b]


@pytest.fixture
def story(runtime: Any, phone: Any) -> dict[str, list[list[str]]]:
    """Kid 0 nominates two ordinary names; kid 1 sends the disclosure as a nomination, then
    DONE; kid 2 sends an ordinary name, then the disclosure (which completes the answer)."""
    _polls(runtime)
    kids = [phone(n) for n in PHONES]
    said: dict[str, list[list[str]]] = {}
    for i, entries in enumerate(
        (["Team Spark", "Health Voices"], [DISCLOSURE, "done"], ["Team Spark", DISCLOSURE])
    ):
        kids[i].replies("IDEAS")
        said[f"kid{i}"] = [kids[i].replies(entry) for entry in entries]
    return said


def test_the_disclosure_gets_only_the_supportive_reply(story) -> None:
    assert story["kid1"][0] == [Settings.support_reply]  # no "Got it: “…” (1 of 2)"
    assert story["kid0"][0] == [
        "Got it: \u201cTeam Spark\u201d (1 of 2). Send another, or DONE if that's all."
    ]
    # Completing the nomination moves the poll on as usual, still without a read-back.
    support, thanks = story["kid2"][1]
    assert support == Settings.support_reply and "Thanks" in thanks
    assert not any(_says(reply) for replies in story.values() for r in replies for reply in r)


def test_no_stored_reply_holds_the_words(runtime, story) -> None:
    bodies = _stored_reply_bodies(runtime)
    assert Settings.support_reply in bodies
    assert [b for b in bodies if _says(b)] == []


def test_the_list_shows_held_nominations_by_code_and_status_only(runtime, story, runner) -> None:
    result = runner.invoke(["nominations", "list", "ideas"])
    assert result.exit_code == 0, result.output
    lines = [line.split("\t") for line in result.output.splitlines()]
    with runtime.db.transaction() as s:
        kid0 = s.scalar(sa.select(Participant.pseudonym).where(Participant.nickname == "Kid"))
    assert [(code, status) for code, _, _, status in lines] == [
        ("N1", "pending"),
        ("N2", "pending"),
        ("N3", "held"),  # kid 1's disclosure
        ("N4", "held"),  # kid 2's answer came in a flagged text: all of it is held
        ("N5", "held"),
    ]
    assert lines[0][1] == "Team Spark" and lines[0][2] == kid0
    for code, text, pseudonym, _ in lines[2:]:
        assert (text, pseudonym) == ("", "-"), code  # neither the words nor who sent them
    assert not _says(result.output)


def test_held_nominations_cannot_be_approved_merged_or_shortlisted(runtime, story, runner) -> None:
    before = _statuses(runtime)
    attempts = [
        ["nominations", "approve", "ideas", "N3"],
        ["nominations", "approve", "ideas", "N1", "n5"],
        ["nominations", "reject", "ideas", "N4"],
        ["nominations", "shortlist", "ideas", "--keep", "N1", "N3", "--into", "vote"],
        ["nominations", "shortlist", "ideas", "--keep", "N1", "--merge", "N4=N1", "--into", "vote"],
    ]
    for args in attempts:
        result = runner.invoke(args)
        assert result.exit_code != 0, (args, result.output)
        assert "held for safeguarding" in result.stderr, (args, result.stderr)
        assert result.stdout == "" and not _says(result.output), args
    assert _statuses(runtime) == before  # nothing changed, not even N1 next to N5
    assert _vote_options(runtime) == ()
    suggested = runner.invoke(["nominations", "suggest", "ideas"])
    assert suggested.exit_code == 0
    # N4 reads exactly like N1 but is held: never offered as a merge either way
    assert "N4" not in suggested.output and "N3" not in suggested.output
    assert "N5" not in suggested.output and not _says(suggested.output)


def test_the_moderation_page_offers_nothing_for_a_held_one(
    runtime, story, app, cheap_hashes
) -> None:
    client = _login(app, runtime, "facilitator")
    page = client.get("/admin/polls/ideas/nominations").get_data(as_text=True)
    assert "Team Spark" in page and not _says(page)
    token = _token(page)
    for code in ("N3", "N4", "N5"):
        assert f'value="{code}"' not in page  # no approve / reject button, no keep box
    assert "held" in page
    before = _statuses(runtime)
    forged = [
        ("moderate", {"action": "approve", "code": "N3"}),
        ("moderate", {"action": "reject", "code": "N4"}),
        ("merge", {"duplicate": "N4", "kept": "N1"}),
        ("merge", {"duplicate": "N1", "kept": "N5"}),
        ("shortlist", {"keep": ["N1", "N3"], "into": "vote"}),
    ]
    for action, form in forged:
        answer = client.post(
            f"/admin/polls/ideas/nominations/{action}",
            data={**form, "csrf_token": token},
            follow_redirects=True,
        )
        html = answer.get_data(as_text=True)
        assert answer.status_code == 200 and "held for safeguarding" in html, (action, form)
        assert not _says(html)
    assert _statuses(runtime) == before
    assert _vote_options(runtime) == ()


def test_no_staff_page_or_export_shows_the_words(
    runtime, story, app, runner, cheap_hashes, tmp_path: Path
) -> None:
    with runtime.db.transaction() as s:
        pid = s.scalar(sa.select(Participant.id).order_by(Participant.id).offset(1).limit(1))
    pages = [
        "/admin/",
        "/admin/messages?direction=out",
        "/admin/messages?direction=in",
        "/admin/messages?direction=out&poll=ideas",
        "/admin/polls/ideas/status",
        "/admin/polls/ideas/results",
        "/admin/polls/ideas/nominations",
        "/admin/polls/vote/edit",
        f"/admin/participants/{pid}",
        "/admin/audit",
        "/admin/polls/ideas/exports",
        "/admin/polls/ideas/export/responses.csv",
        "/admin/polls/ideas/export/responses-wide.csv",
    ]
    seen = 0
    for role in ("admin", "facilitator", "researcher"):
        client = _login(app, runtime, role)
        for url in pages:
            response = client.get(url)
            if response.status_code == 200:
                seen += 1
                assert not _says(response.get_data(as_text=True)), (role, url)
    assert seen >= 20
    for kind in ("responses", "ballots", "codebook"):
        for extra in ([], ["--wide"]) if kind == "responses" else ([],):
            out = tmp_path / f"{kind}{len(extra)}.csv"
            done = runner.invoke(["export", kind, "ideas", "-o", str(out), *extra])
            assert done.exit_code == 0, done.output
            assert "Team Spark" in out.read_text() or kind != "responses"
            assert not _says(out.read_text()), (kind, extra)
    archive = io.BytesIO()
    with runtime.db.transaction() as s:
        ideas = s.scalar(sa.select(Poll).where(Poll.slug == "ideas"))
        write_floip(archive, s, ideas)
    with zipfile.ZipFile(archive) as z:
        assert not any(_says(z.read(name).decode()) for name in z.namelist())

    # The safeguarding lead does see the words, in the inbox: the check above could find them.
    lead = _login(app, runtime, "safeguarding")
    assert _says(lead.get("/admin/safeguarding/").get_data(as_text=True))


@pytest.mark.parametrize(
    "text",
    [
        "everyone hates me",  # bullying
        "he hits me every night",  # abuse
        "I don't feel safe at home",  # feeling unsafe
        "k1ll mys3lf",  # self-harm, in leet
        "I w a n t to d i e",  # self-harm, typed apart
    ],
)
def test_any_flagged_nomination_is_held_and_never_read_back(runtime, phone, runner, text) -> None:
    _polls(runtime)
    kid = phone(PHONES[0])
    kid.replies("IDEAS")
    assert kid.replies(text) == [Settings.support_reply]
    kid.replies("done")
    assert not any(text.lower() in body.lower() for body in _stored_reply_bodies(runtime))
    listed = runner.invoke(["nominations", "list", "ideas"])
    assert listed.output == "N1\t\t-\theld\n"
    refused = runner.invoke(["nominations", "approve", "ideas", "N1"])
    assert refused.exit_code != 0 and "N1 is held for safeguarding" in refused.stderr
    assert _statuses(runtime)["N1"][0] == "rejected"  # stored out of play, as before


def test_a_reply_stored_before_this_fix_is_not_shown_in_the_message_log(
    runtime, phone, app, cheap_hashes
) -> None:
    """Rows written by an older version echoed the words; the log shows no reply to a flagged
    text, so those rows do not reach a facilitator either."""
    _polls(runtime)
    kid = phone(PHONES[0])
    kid.replies("IDEAS")
    kid.replies(DISCLOSURE)
    with runtime.db.transaction() as s:
        flagged = s.scalar(sa.select(InboundMessage).where(InboundMessage.flagged.is_(True)))
        assert flagged is not None
        s.add(
            OutboundMessage(
                participant_id=flagged.participant_id,
                in_reply_to_id=flagged.id,
                kind="reply",
                body=f"Got it: \u201c{DISCLOSURE}\u201d (1 of 2). Send another, or DONE.",
                segments=1,
                backend="twiml",
                status=OutboundStatus.SENT,
            )
        )
    client = _login(app, runtime, "facilitator")
    page = client.get("/admin/messages?direction=out").get_data(as_text=True)
    assert "reply to a flagged text" in page and not _says(page)


def test_a_disclosure_whose_handling_fails_still_reaches_the_lead(
    runtime, phone, app, cheap_hashes, monkeypatch
) -> None:
    """A failure rolls the safeguarding check back with the rest; the text is screened again,
    so the lead is told, the young person gets the supportive reply, and the stored error
    (which would quote the failed statement's values) does not show the words."""
    from sqlalchemy.exc import DataError

    from smsapp.models import SafeguardingFlag
    from smsapp.services.inbox import receive

    make_group(runtime)
    kid = make_participant(runtime, PHONES[0], nickname="Kid")

    def broken(runtime, session, row, participant):
        receive.screening.check_inbound(runtime, session, row, participant)  # rolled back
        raise DataError("UPDATE answer SET raw_text=%(raw)s", {"raw": row.body}, Exception("bad"))

    monkeypatch.setattr(receive, "_route", broken)
    assert phone(PHONES[0]).replies(DISCLOSURE) == [Settings.support_reply]
    with runtime.db.transaction() as s:
        [flag] = s.scalars(sa.select(SafeguardingFlag)).all()
        stored = s.get(InboundMessage, flag.inbound_message_id)
        assert stored is not None and stored.flagged and stored.route == "error"
        assert flag.participant_id == kid.id and not _says(stored.error or "")
        assert stored.replies == [Settings.support_reply]
    client = _login(app, runtime, "facilitator")
    for tab in ("in", "out"):
        assert not _says(client.get(f"/admin/messages?direction={tab}").get_data(as_text=True))
    assert _says(_login(app, runtime, "safeguarding").get("/admin/safeguarding/").text)
