"""`smsapp participants import`: every good row in, every bad row named with its reason."""

from __future__ import annotations

import sqlalchemy as sa

from smsapp.models import GroupMembership, Participant
from tests.support.factories import make_group


def _import(runner, tmp_path, text: str | bytes, group: str = "oakfield"):
    path = tmp_path / "people.csv"
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return runner.invoke(args=["participants", "import", str(path), "--group", group])


def _participants(runtime) -> list[Participant]:
    with runtime.db.transaction() as s:
        return list(s.scalars(sa.select(Participant).order_by(Participant.id)))


def test_report_names_every_bad_row_and_imports_the_rest(runtime, runner, tmp_path) -> None:
    make_group(runtime)
    csv_text = (
        "phone,nickname,age_band,consent,language\n"
        "07911 123456,Sam,11-12,yes,en\n"  # line 2 ok
        "+44 7911 123457,Ali,13-15,2026-09-01,\n"  # line 3 ok
        "020 7946 0000,Landline,,yes,\n"  # line 4 landline
        "447911123456,Sam again,,yes,\n"  # line 5 duplicate of line 2
        "07911 12,Short,,,\n"  # line 6 too short
        "07911 123458,Kim,,maybe,\n"  # line 7 bad consent
        "07911 123459,NoConsent,,,\n"  # line 8 ok, no consent
        "07700 900123,Drama,,yes,\n"  # line 9 invalid range
    )
    result = _import(runner, tmp_path, csv_text)
    assert result.exit_code == 0, result.output
    out = result.output
    assert "3 rows accepted" in out and "5 rejected" in out
    assert "line 4: rejected: bad number" in out and "landline" in out
    assert "line 5: rejected: duplicate of line 2" in out
    assert "line 6: rejected" in out and "digits" in out
    assert "line 7: rejected: consent must be a date" in out
    assert "line 9: rejected: bad number" in out
    assert "1 accepted without a guardian's consent" in out
    people = _participants(runtime)
    assert [p.nickname for p in people] == ["Sam", "Ali", "NoConsent"]
    assert people[2].consent_at is None and people[0].consent_at is not None
    assert all(p.phone_ciphertext and b"7911" not in p.phone_ciphertext for p in people)
    assert people[0].phone_masked == "+44 7••• •••456"


def test_reimport_updates_and_does_not_duplicate(runtime, runner, tmp_path) -> None:
    make_group(runtime)
    make_group(runtime, "riverside", "Riverside")
    _import(runner, tmp_path, "phone,nickname\n07911123456,Sam\n")
    result = _import(runner, tmp_path, "phone,nickname\n+447911123456,Sammy\n", group="riverside")
    assert "1 already known" in result.output
    people = _participants(runtime)
    assert len(people) == 1 and people[0].nickname == "Sammy"
    with runtime.db.transaction() as s:
        assert s.scalar(sa.select(sa.func.count(GroupMembership.id))) == 2


def test_whole_file_problems_change_nothing(runtime, runner, tmp_path) -> None:
    make_group(runtime)
    cases = {
        "": "empty",
        "name,mobile\nSam,07911123456\n": "no 'phone' column",
        "phone,nickname\n": "no rows",
        b"\xff\xfe\x00\x01binary": "phone",
    }
    for text, message in cases.items():
        result = _import(runner, tmp_path, text)
        assert result.exit_code != 0, text
        assert message in result.output, result.output
        assert "Nothing was imported" in result.output
    assert _participants(runtime) == []


def test_unknown_group_is_an_error(runtime, runner, tmp_path) -> None:
    result = _import(runner, tmp_path, "phone\n07911123456\n", group="nope")
    assert result.exit_code != 0 and "no group called 'nope'" in result.output


def test_excel_bom_semicolons_and_ten_thousand_rows(runtime, runner, tmp_path) -> None:
    make_group(runtime)
    rows = ["phone;nickname;consent"]
    for i in range(10_000):
        number = f"07911 {100000 + i:06d}" if i % 1000 else "not-a-number"
        rows.append(f"{number};P{i};yes")
    result = _import(runner, tmp_path, ("\ufeff" + "\n".join(rows) + "\n").encode())
    assert result.exit_code == 0, result.output
    assert "9990 rows accepted" in result.output and "10 rejected" in result.output
    assert result.output.count("rejected: bad number") == 10
