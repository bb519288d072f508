"""Where secrets come from: one lookup, behind a Protocol, so authentication stays pure."""

from __future__ import annotations

from typing import Protocol


class Keyring(Protocol):
    def secret_for(self, access_key: str) -> str | None:
        """The secret key for ``access_key``, or ``None`` if there is no such key.

        Called on every authenticated request, before any I/O on the body: it must be fast
        (an in-memory lookup, or a cache in front of the metadata store) and must not raise for
        an unknown key.
        """
        ...


class StaticKeyring(dict[str, str]):
    """A fixed ``access_key -> secret`` mapping: the single-user default and the tests' keyring."""

    def secret_for(self, access_key: str) -> str | None:
        return self.get(access_key)
