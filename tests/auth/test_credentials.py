from __future__ import annotations

from bayou.auth.credentials import Keyring, StaticKeyring


def test_static_keyring() -> None:
    keyring: Keyring = StaticKeyring({"AK": "secret"})
    assert keyring.secret_for("AK") == "secret"
    assert keyring.secret_for("ak") is None
    assert keyring.secret_for("") is None
