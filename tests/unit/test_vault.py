"""Encryption at rest and the keyed index behave as the data model relies on."""

import pytest
from cryptography.exceptions import InvalidTag

from smsapp.config import new_data_key
from smsapp.privacy.vault import PhoneVault, VaultError


def test_round_trip_and_no_plain_digits_in_ciphertext() -> None:
    vault = PhoneVault(new_data_key())
    blob = vault.encrypt("+447911123456")
    assert b"7911123456" not in blob
    assert vault.decrypt(blob) == "+447911123456"
    assert vault.encrypt("+447911123456") != blob  # fresh nonce every time


def test_index_is_stable_and_keyed() -> None:
    key = new_data_key()
    a, b = PhoneVault(key), PhoneVault(key)
    assert a.index("+447911123456") == b.index("+447911123456")
    assert a.index("+447911123456") != a.index("+447911123457")
    assert PhoneVault(new_data_key()).index("+447911123456") != a.index("+447911123456")


def test_pseudonym_shape_and_collision_step() -> None:
    vault = PhoneVault(new_data_key())
    first = vault.pseudonym("+447911123456")
    assert first.startswith("P-") and len(first) == 7
    assert set(first[2:]) <= set("23456789ABCDEFGHJKLMNPQRSTUVWXYZ")
    assert vault.pseudonym("+447911123456", attempt=1) != first


def test_old_keys_still_decrypt_after_rotation() -> None:
    old, new = new_data_key(), new_data_key()
    blob = PhoneVault(old).encrypt("+447911123456")
    rotated = PhoneVault(new, (old,))
    assert rotated.decrypt(blob) == "+447911123456"
    assert rotated.needs_reencrypt(blob)
    with pytest.raises(VaultError):
        PhoneVault(new).decrypt(blob)


def test_tampered_ciphertext_is_refused() -> None:
    vault = PhoneVault(new_data_key())
    blob = bytearray(vault.encrypt("+447911123456"))
    blob[-1] ^= 1
    with pytest.raises(InvalidTag):
        vault.decrypt(bytes(blob))


def test_short_key_is_refused() -> None:
    with pytest.raises(VaultError):
        PhoneVault("c2hvcnQ=")
