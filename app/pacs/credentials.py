"""PACS credentials at rest: a source's password or token is stored encrypted (Fernet: AES-128
in CBC mode with an HMAC-SHA256 tag) under the credentials key, which is kept apart from the
session secret and the pseudonymisation key: ``MAMMOREAD_CREDENTIALS_KEY``, or else
``<data_dir>/credentials_key`` (mode 0600), generated on first use. A copy of the database
alone does not give the PACS password away. The plain secret is only ever held in memory, to
sign in to the PACS; it is never returned by the API, shown on a page, logged or audited."""

from __future__ import annotations

import base64
import threading

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from app.core.config import Settings, load_or_create_secret
from app.core.errors import Conflict

KEY_FILE = "credentials_key"
_INFO = b"mammoread pacs source credentials v1"


class Vault:
    """Encrypts and decrypts stored secrets with one key."""

    def __init__(self, key_material: bytes) -> None:
        # the key may be any text (environment variable, generated file): derive Fernet's key
        derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(
            key_material
        )
        self._fernet = Fernet(base64.urlsafe_b64encode(derived))

    def seal(self, secret: str) -> str:
        return self._fernet.encrypt(secret.encode()).decode("ascii")

    def open(self, sealed: str) -> str:
        try:
            return self._fernet.decrypt(sealed.encode("ascii")).decode()
        except (InvalidToken, ValueError):
            raise Conflict(
                "The stored PACS secret cannot be decrypted (the credentials key changed?): "
                "enter the password or token of this source again.",
                code="pacs_secret_unreadable",
            ) from None


_vaults: dict[tuple[str, str], Vault] = {}
_lock = threading.Lock()


def vault(settings: Settings) -> Vault:
    """The vault of this installation (its key read, or made, once per process)."""
    given = settings.credentials_key
    cache_key = ("env", given.get_secret_value()) if given else ("file", str(settings.data_dir))
    with _lock:
        found = _vaults.get(cache_key)
        if found is None:
            material = given.get_secret_value() if given else _file_key(settings)
            found = _vaults[cache_key] = Vault(material.encode())
        return found


def _file_key(settings: Settings) -> str:
    return load_or_create_secret(settings.data_dir, KEY_FILE)
