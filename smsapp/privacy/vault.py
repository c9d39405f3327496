"""Phone numbers encrypted at rest (AES-256-GCM) and found again by a keyed HMAC index.

One data key (SMSAPP_DATA_KEY) is stretched with HKDF into separate keys for encryption, the
look-up index and pseudonyms, so none of them can be used in place of another. Old keys stay
readable during a rotation: every ciphertext starts with the id of the key that made it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

PSEUDONYM_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # no 0/O, 1/I: read aloud safely
PSEUDONYM_LENGTH = 5


class VaultError(ValueError):
    pass


def _decode_key(text: str) -> bytes:
    text = text.strip()
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, TypeError):
        raw = b""
    if len(raw) < 32:
        raise VaultError("SMSAPP_DATA_KEY must be at least 32 random bytes, urlsafe-base64 encoded")
    return raw


def _derive(master: bytes, purpose: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"smsapp:" + purpose).derive(
        master
    )


@dataclass(frozen=True)
class _Key:
    key_id: bytes  # 4 bytes naming the key inside each ciphertext
    enc: bytes
    index: bytes
    pseudonym: bytes


def _make_key(text: str) -> _Key:
    master = _decode_key(text)
    return _Key(
        key_id=hashlib.sha256(b"smsapp-key-id:" + master).digest()[:4],
        enc=_derive(master, b"encrypt"),
        index=_derive(master, b"index"),
        pseudonym=_derive(master, b"pseudonym"),
    )


class PhoneVault:
    """Encrypt, decrypt and index phone numbers with the current key; read with old keys too."""

    def __init__(self, current_key: str, old_keys: tuple[str, ...] = ()) -> None:
        self.current = _make_key(current_key)
        self.keys = {self.current.key_id: self.current}
        for text in old_keys:
            key = _make_key(text)
            self.keys.setdefault(key.key_id, key)
        self.old = [k for k in self.keys.values() if k is not self.current]
        # One cipher object per key, made once: building one costs as much as a decryption,
        # and a send decrypts a number per text. (AESGCM keeps no state between calls.)
        self._ciphers = {key_id: AESGCM(key.enc) for key_id, key in self.keys.items()}

    @property
    def key_id(self) -> str:
        return self.current.key_id.hex()

    def encrypt(self, e164: str) -> bytes:
        nonce = os.urandom(12)
        sealed = self._ciphers[self.current.key_id].encrypt(
            nonce, e164.encode(), self.current.key_id
        )
        return self.current.key_id + nonce + sealed

    def decrypt(self, blob: bytes) -> str:
        key_id = bytes(blob[:4])
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            raise VaultError("phone number was encrypted with a key that is not configured")
        nonce, sealed = bytes(blob[4:16]), bytes(blob[16:])
        return cipher.decrypt(nonce, sealed, key_id).decode()

    def needs_reencrypt(self, blob: bytes) -> bool:
        return bytes(blob[:4]) != self.current.key_id

    def index(self, e164: str) -> str:
        """The keyed look-up value for a number: equal numbers, equal index; not reversible."""
        return hmac.new(self.current.index, e164.encode(), hashlib.sha256).hexdigest()

    def old_indexes(self, e164: str) -> list[str]:
        return [hmac.new(k.index, e164.encode(), hashlib.sha256).hexdigest() for k in self.old]

    def pseudonym(self, e164: str, attempt: int = 0) -> str:
        """A stable pseudonym such as P-7K3Q9; `attempt` moves on past a collision."""
        digest = hmac.new(
            self.current.pseudonym, f"{attempt}:{e164}".encode(), hashlib.sha256
        ).digest()
        value = int.from_bytes(digest[:8], "big")
        chars = []
        for _ in range(PSEUDONYM_LENGTH):
            value, rem = divmod(value, len(PSEUDONYM_ALPHABET))
            chars.append(PSEUDONYM_ALPHABET[rem])
        return "P-" + "".join(chars)
