"""`smsapp keys rotate`: after moving to a new data key every look-up still works (webhook,
find by phone, decrypt with the new key alone), pseudonyms stay the same, and nothing is left
under the old key."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from smsapp import create_app
from smsapp.config import new_data_key
from smsapp.models import InboundMessage, Participant, UnknownSenderReply
from smsapp.privacy.vault import PhoneVault
from smsapp.runtime import Runtime, build_runtime
from smsapp.services.people.keys import rotate
from smsapp.services.people.participants import find_by_phone
from tests.conftest import DATA_KEY, Phone, SmsappRunner
from tests.support.factories import make_participant

NUMBERS = [f"+4479111235{i:02d}" for i in range(12)]
STRANGER = "+447911123999"


def _rotated(runtime: Runtime, new_key: str) -> Runtime:
    settings = runtime.settings.with_overrides(data_key=new_key, old_data_keys=(DATA_KEY,))
    return build_runtime(settings, database=runtime.db)


def _state(runtime: Runtime) -> dict[int, tuple[str, bytes | None, str | None]]:
    with runtime.db.transaction() as s:
        return {
            p.id: (p.pseudonym, p.phone_ciphertext, p.phone_index)
            for p in s.scalars(sa.select(Participant))
        }


def test_rotation_keeps_every_look_up_working(runtime, client, tmp_path: Path) -> None:
    made = [make_participant(runtime, n, nickname=f"N{i}") for i, n in enumerate(NUMBERS)]
    for number in NUMBERS[:3]:
        Phone(client, number).replies("hello")
    Phone(client, STRANGER).replies("who is this")
    before = _state(runtime)

    new_key = new_data_key()
    rt = _rotated(runtime, new_key)
    with rt.db.transaction() as s:
        # The index is still the old one, and the one look-up by number finds them anyway
        # (the admin page's search and duplicate check as well as the webhook).
        found = find_by_phone(s, rt.vault, NUMBERS[0])
        assert found is not None and found.id == made[0].id
        assert found.phone_index != rt.vault.index(NUMBERS[0])
    # So does a text (the lean path looks up by both keys' indexes).
    mid = create_app({"RUNTIME": rt, "INSTANCE_PATH": str(tmp_path / "mid"), "TESTING": True})
    [reply] = Phone(mid.test_client(), NUMBERS[0]).replies("hello again")
    assert "Hi N0" in reply

    report = rotate(rt, actor="test", batch=5)  # several batches
    assert report.participants == len(NUMBERS) and report.remaining_old == 0
    assert report.inbound_rekeyed == 3 and report.inbound_cleared == 1
    assert report.unknown_cleared == 1

    only_new = PhoneVault(new_key)  # no old key: everything must be readable without it
    after = _state(runtime)
    for p in made:
        pseudonym, blob, index = after[p.id]
        assert pseudonym == before[p.id][0]  # stable
        assert blob is not None and blob != before[p.id][1]
        assert only_new.decrypt(blob) == NUMBERS[made.index(p)]
        assert index == only_new.index(NUMBERS[made.index(p)]) != before[p.id][2]
    with rt.db.transaction() as s:
        for number, p in zip(NUMBERS, made, strict=True):
            found = find_by_phone(s, rt.vault, number)
            assert found is not None and found.id == p.id
        indexes = set(s.scalars(sa.select(InboundMessage.sender_index)))
        assert indexes == {only_new.index(n) for n in NUMBERS[:3]} | {None}
        assert s.scalar(sa.select(sa.func.count()).select_from(UnknownSenderReply)) == 0

    # The webhook, on an app that has only the new key, still knows everyone.
    app = create_app({"RUNTIME": rt, "INSTANCE_PATH": str(tmp_path), "TESTING": True})
    [reply] = Phone(app.test_client(), NUMBERS[5]).replies("hello")
    assert "Hi N5" in reply

    again = rotate(rt, actor="test")
    assert again.participants == 0 and again.unchanged == len(NUMBERS)


def test_cli_rotate_reports_and_refuses_an_unknown_key(runtime, tmp_path: Path) -> None:
    make_participant(runtime, NUMBERS[0])
    rt = _rotated(runtime, new_data_key())
    app = create_app({"RUNTIME": rt, "INSTANCE_PATH": str(tmp_path), "TESTING": True})
    result = SmsappRunner(app).invoke(["keys", "rotate"])
    assert result.exit_code == 0, result.output
    assert "1 numbers moved to the current key" in result.output
    assert "still under an old key: 0" in result.output

    # A third key with the second forgotten: the command says what to do and changes nothing.
    lost = build_runtime(runtime.settings.with_overrides(data_key=new_data_key()), database=rt.db)
    app = create_app({"RUNTIME": lost, "INSTANCE_PATH": str(tmp_path), "TESTING": True})
    failed = SmsappRunner(app).invoke(["keys", "rotate"])
    assert failed.exit_code != 0 and "SMSAPP_OLD_DATA_KEYS" in failed.output


def test_keys_new_prints_a_usable_key(runner) -> None:
    result = runner.invoke(["keys", "new"])
    assert result.exit_code == 0
    PhoneVault(result.output.strip())  # raises if it is not a 32-byte key
