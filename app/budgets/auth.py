"""``KeyTable``: who sent a request, from its bearer key (the keys file's entries and ``COSTMUX_API_KEY``).

Keys are kept only as SHA-256 digests; a presented key is hashed and looked up (a digest lookup leaks nothing usable
about other keys' values through timing). No key configured at all: the gateway is open (every request is anonymous).
"""

from __future__ import annotations

from app.budgets.config import KeysFile, Principal, hash_key

__all__ = ["ADMIN_ENV_NAME", "KeyTable"]

ADMIN_ENV_NAME = "default"
"""The name of the key given by ``COSTMUX_API_KEY`` (an admin, with no budget of its own)."""


class KeyTable:
    """Bearer keys to principals.

    Args:
        keys: the keys file's keys (or ``None``).
        api_key: ``COSTMUX_API_KEY``: one more key, named ``default``, an admin without budgets of its own.
    """

    def __init__(self, keys: KeysFile | None = None, api_key: str | None = None) -> None:
        self._by_digest: dict[str, Principal] = {}
        for spec in keys.keys if keys is not None else ():
            self._by_digest[spec.digest] = Principal(
                name=spec.name, team=spec.team, admin=spec.admin, budgets=spec.budgets
            )
        if api_key:
            digest = hash_key(api_key)
            if digest not in self._by_digest:  # the same key in the file keeps the file's name and budgets
                self._by_digest[digest] = Principal(name=ADMIN_ENV_NAME, admin=True)

    @property
    def open(self) -> bool:
        """Whether no key is configured (then nothing is authenticated)."""
        return not self._by_digest

    def __len__(self) -> int:
        return len(self._by_digest)

    def lookup(self, authorization: str | None) -> Principal | None:
        """The principal of an ``Authorization: Bearer <key>`` header, or ``None`` (missing or unknown key)."""
        if authorization is None or authorization[:7].lower() != "bearer ":
            return None
        key = authorization[7:].strip()
        return self._by_digest.get(hash_key(key)) if key else None
