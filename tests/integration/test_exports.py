"""Research exports from the CLI: exact columns and contents for a poll with every question kind,
ballots that re-tally to the stored count, privacy and formula safety, and clean failures."""

from __future__ import annotations

import csv
import io
import json
import re
import zipfile
from datetime import timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from smsapp.formats import columns
from smsapp.models import (
    Answer,
    AuditEvent,
    OutboundMessage,
    TallyRun,
)
from smsapp.runtime import Runtime
from smsapp.voting import Ballot, tally
from tests.support.every_kind import (
    SAM_ANSWERS,
    SEED,
    T0,
    Built,
    add_conversation,
    build_every_kind,
    load_kind,
    open_every_kind,
)
from tests.support.factories import make_participant


def run_export(runner: Any, tmp_path: Path, *args: str) -> tuple[list[str], list[list[str]]]:
    out = tmp_path / f"{'-'.join(args).replace('/', '_')}.csv"
    result = runner.invoke(["export", *args, "-o", str(out)])
    assert result.exit_code == 0, result.output
    with out.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    return rows[0], rows[1:]


def store_tally(
    runtime: Runtime,
    poll_id: int,
    key: str,
    method: str,
    ballots: list[Ballot],
    options: list[str],
    *,
    provisional: bool = False,
) -> dict[str, Any]:
    result = tally(method, options, ballots, seed=SEED).to_json_dict()
    with runtime.db.transaction() as s:
        s.add(
            TallyRun(
                poll_id=poll_id,
                question_key=key,
                method=method,
                provisional=provisional,
                seed=SEED,
                ballots=result["ballots"],
                input_sha256=result["input_sha256"],
                version=result["version"],
                result=result,
            )
        )
    return result


# ---------------------------------------------------------------------------------------------


def test_long_responses_have_the_contract_columns_then_paradata(runtime, runner, tmp_path) -> None:
    built = build_every_kind(runtime)
    head, rows = run_export(runner, tmp_path, "responses", built.slug)
    assert head == [*columns.RESPONSES, *columns.RESPONSES_EXTRA]
    assert head[:9] == [
        "participant",
        "poll",
        "question",
        "kind",
        "answer",
        "answer_label",
        "raw_text",
        "answered_at",
        "attempts",
    ]
    sam = [r for r in rows if r[0] == built.pseudonyms["sam"]]
    by_key = {r[2]: r for r in sam}
    assert [r[2] for r in sam] == list(SAM_ANSWERS)  # in the order they were answered
    assert by_key["colour"] == [
        built.pseudonyms["sam"],
        "every-kind",
        "colour",
        "choice",
        "A",
        "Red",
        "a",
        "2026-03-02T16:00:30Z",
        "1",
        "2026-03-02T16:00:00Z",
        "0",
        "30",
        "0",
    ]
    expected_answers = {
        "snacks": "A C",
        "mood": "4",
        "again": "Y",
        "siblings": "2",
        "ideas": "Health Voices",
        "name": "C A B",
        "topics": "A C",
        "budget": "A:3 C:2",
    }
    for key, answer in expected_answers.items():
        assert by_key[key][4] == answer, key
        assert by_key[key][3] == load_definition_kind(runtime, built, key)
    assert by_key["snacks"][8] == "2"
    # the formula in free text is neutralised in both the answer and the raw text
    assert by_key["why_red"][4].startswith("'=HYPERLINK")
    assert by_key["why_red"][6].startswith("'=HYPERLINK")
    # every answer came 30 s after the one before
    assert {r[11] for r in sam} == {"30"}

    ali = {r[2]: r for r in rows if r[0] == built.pseudonyms["ali"]}
    assert ali["mood"][4] == "" and ali["mood"][5] == "" and ali["mood"][12] == "1"
    assert "again" not in ali  # its text was flagged
    assert "[number]" in ali["ideas"][4] and "[email]" in ali["ideas"][4]
    assert not any(r[0] == built.pseudonyms["sim"] for r in rows)  # simulated phone
    assert len(rows) == len(SAM_ANSWERS) + 8


def load_definition_kind(runtime: Runtime, built: Built, key: str) -> str:
    with runtime.db.transaction() as s:
        return load_kind(s, built.poll_id, key)


def test_reminders_and_timing_paradata(runtime, runner, tmp_path) -> None:
    person = make_participant(runtime, "+447911123456")
    poll_id = open_every_kind(runtime)
    conv_id = add_conversation(
        runtime,
        poll_id,
        person.id,
        {"colour": ("C", "Blue", "c"), "snacks": (["B"], "Fruit", "b")},
        step=timedelta(hours=30),
    )
    with runtime.db.transaction() as s:
        for hours, status in ((24, "sent"), (25, "cancelled"), (48, "delivered"), (54, "sent")):
            s.add(
                OutboundMessage(
                    participant_id=person.id,
                    poll_id=poll_id,
                    conversation_id=conv_id,
                    kind="reminder",
                    body="reminder",
                    backend="outbox",
                    status=status,
                    created_at=T0 + timedelta(hours=hours),
                )
            )
    _, rows = run_export(runner, tmp_path, "responses", "every-kind")
    colour, snacks = rows
    assert colour[9] == "2026-03-02T16:00:00Z"
    # one reminder before the first answer (the cancelled one never went), two before the second
    assert (colour[10], colour[11]) == ("1", str(30 * 3600))
    assert (snacks[10], snacks[11]) == ("2", str(30 * 3600))


def test_wide_responses_one_row_per_participant(runtime, runner, tmp_path) -> None:
    built = build_every_kind(runtime)
    head, rows = run_export(runner, tmp_path, "responses", built.slug, "--wide")
    keys = [q for q in SAM_ANSWERS]
    assert head == ["participant", *keys]
    by_person = {r[0]: dict(zip(head, r, strict=True)) for r in rows}
    assert set(by_person) == {built.pseudonyms["sam"], built.pseudonyms["ali"]}
    sam = by_person[built.pseudonyms["sam"]]
    assert sam["name"] == "C A B" and sam["budget"] == "A:3 C:2" and sam["again"] == "Y"
    ali = by_person[built.pseudonyms["ali"]]
    assert ali["mood"] == "" and ali["again"] == "" and ali["why_red"] == ""
    assert ali["colour"] == "B"


def test_ballots_and_round_trip_through_smsapp_tally(runtime, runner, tmp_path) -> None:
    built = build_every_kind(runtime)
    head, rows = run_export(runner, tmp_path, "ballots", built.slug)
    assert head == [*columns.BALLOTS, *columns.BALLOTS_EXTRA]
    sam, ali = built.pseudonyms["sam"], built.pseudonyms["ali"]
    got = {(r[0], r[2]): (r[3], r[5], r[6]) for r in rows}
    assert got == {
        (sam, "colour"): ("A", "choice", ""),
        (ali, "colour"): ("B", "choice", ""),
        (sam, "name"): ("C A B", "rank", ""),
        (ali, "name"): ("B C", "rank", ""),
        (sam, "topics"): ("A C", "approve", ""),
        (ali, "topics"): ("B", "approve", ""),
        (sam, "budget"): ("A C", "points", "3 2"),
        (ali, "budget"): ("B", "points", "5"),
    }
    assert all(r[1] == "every-kind" and r[4].endswith("Z") for r in rows)

    # Stored counts made from the same ballots; the exported file must count to the same result.
    stored = {
        ("name", "irv"): store_tally(
            runtime,
            built.poll_id,
            "name",
            "irv",
            [Ballot(("C", "A", "B")), Ballot(("B", "C"))],
            ["A", "B", "C"],
        ),
        ("name", "schulze"): store_tally(
            runtime,
            built.poll_id,
            "name",
            "schulze",
            [Ballot(("C", "A", "B")), Ballot(("B", "C"))],
            ["A", "B", "C"],
        ),
        ("topics", "approval"): store_tally(
            runtime,
            built.poll_id,
            "topics",
            "approval",
            [Ballot(("A", "C")), Ballot(("B",))],
            ["A", "B", "C"],
        ),
        ("colour", "plurality"): store_tally(
            runtime,
            built.poll_id,
            "colour",
            "plurality",
            [Ballot(("A",)), Ballot(("B",))],
            ["A", "B", "C"],
        ),
    }
    for (key, method), result in stored.items():
        out = tmp_path / f"ballots-{key}.csv"
        done = runner.invoke(["export", "ballots", built.slug, "--question", key, "-o", str(out)])
        assert done.exit_code == 0, done.output
        counted = runner.invoke(
            ["tally", str(out), "--method", method, "--options", "A,B,C", "--seed", SEED, "--json"]
        )
        assert counted.exit_code == 0, counted.output
        recount = json.loads(counted.output[counted.output.index("{") :])
        for field in (
            "order",
            "winners",
            "scores",
            "rounds",
            "tie_breaks",
            "input_sha256",
            "ballots",
        ):
            assert recount[field] == result[field], (key, method, field)


def test_tally_export_every_round_with_statuses_and_notes(runtime, runner, tmp_path) -> None:
    built = build_every_kind(runtime)
    # IRV over three rounds with a tie for last in round 1 (A and B both 1), broken by the lot.
    ballots = [Ballot(("C", "A")), Ballot(("C",)), Ballot(("A", "B")), Ballot(("B", "A"))]
    irv = store_tally(runtime, built.poll_id, "name", "irv", ballots, ["A", "B", "C"])
    # an older provisional run of the same method is not reported
    store_tally(
        runtime, built.poll_id, "name", "irv", ballots[:1], ["A", "B", "C"], provisional=True
    )
    points = store_tally(
        runtime,
        built.poll_id,
        "budget",
        "points",
        [Ballot(("A", "C")), Ballot(("C", "A"))],
        ["A", "B", "C"],
    )
    head, rows = run_export(runner, tmp_path, "tally", built.slug)
    assert head == [*columns.TALLY, *columns.TALLY_EXTRA]
    irv_rows = [r for r in rows if r[2] == "irv"]
    assert len(irv["rounds"]) >= 2
    assert [int(r[3]) for r in irv_rows] == [
        rnd["round"] for rnd in irv["rounds"] for _ in rnd["votes"]
    ]
    for r in irv_rows:
        record = irv["rounds"][int(r[3]) - 1]
        assert int(r[6]) == record["votes"][r[4]]
        if record["eliminated"] == r[4]:
            assert r[7] == "eliminated"
        elif record["elected"] == r[4]:
            assert r[7] == "elected"
        assert r[5] == {"A": "Young Researchers", "B": "Health Voices", "C": "Team Spark"}[r[4]]
        assert r[head.index("final")] == "1" and r[head.index("ballots")] == "4"
        assert r[head.index("input_sha256")] == irv["input_sha256"]
    first = [r for r in irv_rows if r[3] == "1"]
    eliminated = next(r for r in first if r[7] == "eliminated")
    assert "lot" in eliminated[8] or "tied" in eliminated[8]
    points_rows = [r for r in rows if r[2] == "points"]
    assert [r[4] for r in points_rows] == points["order"]
    assert {r[3] for r in points_rows} == {"1"}
    assert [int(r[6]) for r in points_rows] == [points["scores"][c] for c in points["order"]]
    assert points_rows[0][7] == "winner" and points_rows[0][9] == "1"
    assert all(r[7] == "not-elected" for r in points_rows[1:])

    _, suppressed = run_export(runner, tmp_path, "tally", built.slug, "--suppress-below", "3")
    rounds: dict[tuple[str, str, str], list[str]] = {}
    for plain, hidden in zip(rows, suppressed, strict=True):
        votes = int(plain[6])
        # small counts hidden; others shown as they are, or hidden with a lone small one
        assert hidden[6] == "<3" if 0 < votes < 3 else hidden[6] in ("<3", str(votes))
        rounds.setdefault((hidden[1], hidden[2], hidden[3]), []).append(hidden[6])
    for cells_of_round in rounds.values():
        assert cells_of_round.count("<3") != 1 or all(c in ("0", "<3") for c in cells_of_round)


def test_codebook_one_row_per_option(runtime, runner, tmp_path) -> None:
    build_every_kind(runtime)
    head, rows = run_export(runner, tmp_path, "codebook", "every-kind")
    assert head == [*columns.CODEBOOK, *columns.CODEBOOK_EXTRA]
    by_q: dict[str, list[tuple[str, str]]] = {}
    for r in rows:
        by_q.setdefault(r[1], []).append((r[4], r[5]))
        assert r[0] == "every-kind"
    assert by_q["colour"] == [("A", "Red"), ("B", "Green"), ("C", "Blue")]
    assert by_q["again"] == [("Y", "Yes"), ("N", "No")]
    assert by_q["mood"] == [(str(n), str(n)) for n in range(1, 6)]
    assert by_q["why_red"] == [("", "")] and by_q["siblings"] == [("", "")]
    assert by_q["budget"] == [("A", "Museum"), ("B", "Zoo"), ("C", "Beach")]
    why = next(r for r in rows if r[1] == "why_red")
    assert why[2] == "text" and why[3].startswith("Why red?")
    assert why[6] == "1" and why[10] == "colour in A"
    name = next(r for r in rows if r[1] == "name")
    assert name[9] == "irv" and name[8] == "3"


def test_floip_package(runtime, runner, tmp_path) -> None:
    built = build_every_kind(runtime)
    out = tmp_path / "floip.zip"
    result = runner.invoke(["export", "floip", built.slug, "-o", str(out)])
    assert result.exit_code == 0, result.output
    with zipfile.ZipFile(out) as archive:
        package = json.loads(archive.read("datapackage.json"))
        text = archive.read("responses.csv").decode("utf-8")
    assert package["profile"] == "flow-results-package"
    [resource] = package["resources"]
    schema = resource["schema"]
    assert [f["name"] for f in schema["fields"]] == [
        "timestamp",
        "row_id",
        "contact_id",
        "session_id",
        "question_id",
        "response",
        "response_metadata",
    ]
    assert schema["questions"]["colour"]["type"] == "select_one"
    assert schema["questions"]["colour"]["type_options"]["choices"] == ["A", "B", "C"]
    assert schema["questions"]["mood"]["type"] == "numeric"
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == [f["name"] for f in schema["fields"]]
    sam_rows = [r for r in rows[1:] if r[2] == built.pseudonyms["sam"]]
    assert {r[4]: r[5] for r in sam_rows}["name"] == '["C", "A", "B"]'
    assert len(rows) - 1 == len(SAM_ANSWERS) + 8


def digits(text: str) -> str:
    return re.sub(r"\D", "", text)


def test_no_phone_number_or_email_anywhere_after_texting_them(runtime, runner, phone, tmp_path):
    """Participants text their own and friends' numbers in every format; no export has one."""
    sam_number, ali_number = "+447911123456", "+447911123457"
    friends = ["07911 123 460", "+44 (0)7911-123-461", "0044 7911 123462", "0 7 9 1 1 1 2 3 4 6 3"]
    make_participant(runtime, sam_number, nickname="Sam")
    make_participant(runtime, ali_number, nickname="Ali")
    poll_id = open_every_kind(runtime)
    for number, friend in ((sam_number, friends[0]), (ali_number, friends[1])):
        person = phone(number)
        person.replies("ALL")
        person.replies("a")
        person.replies(f"ring {friend} or {friends[2]} or mail me@example.org")
        person.replies("a")
        person.replies("4")
        person.replies("y")
        person.replies("2")
        person.replies(f"{friends[3]} is my number")
        person.replies("done")
        person.replies("c a b")
        person.replies("ac")
        person.replies("a3 c2")
    store_tally(runtime, poll_id, "name", "irv", [Ballot(("C", "A", "B"))] * 2, ["A", "B", "C"])
    files = []
    for args in (("responses",), ("responses", "--wide"), ("ballots",), ("tally",), ("codebook",)):
        out = tmp_path / f"{'-'.join(args)}.csv"
        done = runner.invoke(["export", args[0], "every-kind", *args[1:], "-o", str(out)])
        assert done.exit_code == 0, done.output
        files.append(out.read_text(encoding="utf-8"))
    out = tmp_path / "floip.zip"
    assert runner.invoke(["export", "floip", "every-kind", "-o", str(out)]).exit_code == 0
    with zipfile.ZipFile(out) as archive:
        files += [archive.read(n).decode("utf-8") for n in archive.namelist()]
    with runtime.db.transaction() as s:
        stored = list(s.scalars(sa.select(Answer.raw_text).where(Answer.poll_id == poll_id)))
    assert any("7911" in (t or "") for t in stored)  # the numbers really were texted
    national = [digits(n)[-10:] for n in [sam_number, ali_number, *friends]]
    for text in files:
        assert "@example" not in text
        for number in national:
            # digits only, so no separator, bracket or prefix can hide a number
            assert number not in digits(text.replace("2026", "")), number
    responses = files[0]
    assert "[number]" in responses and "[email]" in responses


FORMULAS = ["=1+2", "+SUM(A1)", "-2+3", "@cmd", "\tx=1", "\r=1", '=HYPERLINK("http://evil")']


def test_formula_in_free_text_is_neutralised(runtime, runner, tmp_path) -> None:
    poll_id = open_every_kind(runtime)
    for i, text in enumerate(FORMULAS):
        person = make_participant(runtime, f"+4479111234{i:02d}")
        add_conversation(runtime, poll_id, person.id, {"why_red": (text, text, text)})
    head, rows = run_export(runner, tmp_path, "responses", "every-kind")
    assert len(rows) == len(FORMULAS)
    for text, values in zip(FORMULAS, rows, strict=True):
        row = dict(zip(head, values, strict=True))
        assert row["answer"] == row["answer_label"] == row["raw_text"] == "'" + text
    head, rows = run_export(runner, tmp_path, "responses", "every-kind", "--wide")
    assert [dict(zip(head, r, strict=True))["why_red"] for r in rows] == ["'" + t for t in FORMULAS]
    # a plain negative number is data, not a formula, and stays a number
    person = make_participant(runtime, "+447911123499")
    add_conversation(runtime, poll_id, person.id, {"siblings": (-3, "-3", "-3")})
    _, rows = run_export(runner, tmp_path, "responses", "every-kind")
    assert rows[-1][4] == "-3"


def test_errors_go_to_stderr_and_leave_no_file(runtime, runner, tmp_path) -> None:
    open_every_kind(runtime)
    out = tmp_path / "nothing.csv"
    for args, message in (
        (["responses", "no-such-poll"], "no poll called"),
        (["ballots", "every-kind", "--wide"], "--wide"),
        (["responses", "every-kind", "--suppress-below", "5"], "tally export only"),
        (["ballots", "every-kind", "--question", "mood"], "not a ballot"),
        (["ballots", "every-kind", "--question", "nope"], "no question"),
    ):
        result = runner.invoke(["export", *args, "-o", str(out)])
        assert result.exit_code != 0 and message in result.output, (args, result.output)
        assert list(tmp_path.iterdir()) == []


def test_bom_on_request_and_every_export_audited(runtime, runner, tmp_path) -> None:
    build_every_kind(runtime)
    plain, with_bom = tmp_path / "plain.csv", tmp_path / "bom.csv"
    assert runner.invoke(["export", "codebook", "every-kind", "-o", str(plain)]).exit_code == 0
    assert (
        runner.invoke(["export", "codebook", "every-kind", "--bom", "-o", str(with_bom)]).exit_code
        == 0
    )
    assert not plain.read_bytes().startswith(b"\xef\xbb\xbf")
    assert with_bom.read_bytes() == b"\xef\xbb\xbf" + plain.read_bytes()
    with runtime.db.transaction() as s:
        events = s.scalars(
            sa.select(AuditEvent).where(AuditEvent.action == "export.download")
        ).all()
    assert len(events) == 2
    assert all(e.subject == "poll:every-kind" and e.details["via"] == "cli" for e in events)
    assert all(e.actor.startswith("cli") and e.details["export"] == "codebook" for e in events)
