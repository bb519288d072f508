"""The `webhook` target: an HTTP POST of each event as JSON, in order, one request per event.

Config keys:

- `url` (required): `http://` or `https://`. Redirects are not followed (a redirect could lead
  anywhere, past the address check below).
- `secret`: when set, `X-Bayou-Signature: sha256=<hex>` is the HMAC-SHA256 of the exact body bytes
  with this secret, so the receiver can check that the event came from this server.
- `timeout`: seconds for each request in all (connect, send, answer); default 5.
- `headers`: extra request headers, e.g. `{"Authorization": "Bearer ..."}`.
- `batch`: when true, one POST per batch (up to 100 events) with a JSON array of the bodies.

Every request carries `X-Bayou-Event` (the eventName, `s3:TestEvent` for the test event) and
`X-Bayou-Key` (`<bucket>/<key>`, percent-encoded as UTF-8) unless batched. A 2xx answer
acknowledges the event; any other status, a timeout or a connection error is a `TargetError`.

Address check (SSRF): the host is resolved when the target is configured and again before each
batch (DNS answers change), and link-local addresses (169.254.0.0/16, fe80::/10) and cloud
metadata endpoints (169.254.169.254, fd00:ec2::254, metadata.google.internal) are refused.
Loopback and private ranges are allowed on purpose: Bayou runs on laptops and in private
networks, and a webhook on localhost or 10.x is the common case. Proxy variables are ignored, so
the address checked is the address connected to (up to the resolver's answer changing between the
check and the connection).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import ipaddress
import json
import socket
from typing import Any
from urllib.parse import quote, urlsplit

import httpx

from bayou.services.events.targets import TargetConfigError, TargetError, TargetSpec

DEFAULT_TIMEOUT = 5.0
METADATA_HOSTS = frozenset({"metadata.google.internal"})
METADATA_ADDRESSES = frozenset({ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")})
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def create(spec: TargetSpec) -> WebhookTarget:
    check_config(spec.config)
    return WebhookTarget(spec)


async def validate_config(config: dict[str, Any]) -> None:
    """The admin API's and config file's check: shape first, then the URL's addresses."""
    check_config(config)
    await check_url(config["url"])


def check_config(config: dict[str, Any]) -> None:
    url = config.get("url")
    if not isinstance(url, str) or not url:
        raise TargetConfigError("a webhook needs config.url")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise TargetConfigError(f"webhook url must be http:// or https:// with a host, not {url!r}")
    timeout = config.get("timeout", DEFAULT_TIMEOUT)
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not timeout > 0:
        raise TargetConfigError("webhook timeout must be a positive number of seconds")
    headers = config.get("headers") or {}
    if not isinstance(headers, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in headers.items()):
        raise TargetConfigError("webhook headers must be a table of strings")
    if not isinstance(config.get("secret", ""), str):
        raise TargetConfigError("webhook secret must be a string")


def refusal(address: IPAddress) -> str | None:
    """Why a webhook may not connect to this address, or None."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address in METADATA_ADDRESSES:
        return "a cloud metadata address"
    if address.is_link_local:
        return "a link-local address"
    return None


def _origin(url: str) -> str:
    parts = urlsplit(url)
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname}{port}/..."


async def check_url(url: str) -> None:
    """Raise TargetConfigError if the URL's host is, or resolves to, a refused address.

    A host that does not resolve (yet) passes: it cannot be reached, and each send checks again."""
    parts = urlsplit(url)
    host = (parts.hostname or "").rstrip(".").lower()
    if host in METADATA_HOSTS:
        raise TargetConfigError(f"webhook host {host} is a cloud metadata endpoint")
    for address in await _addresses(host, parts.port or (443 if parts.scheme == "https" else 80)):
        reason = refusal(address)
        if reason is not None:
            raise TargetConfigError(f"webhook host {host} is {reason} ({address}); refused")


async def _addresses(host: str, port: int) -> list[IPAddress]:
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError:
        return []
    return [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def event_name(body: Any) -> str:
    """eventName of an S3 record message, a CloudEvents envelope around one, or S3's test event."""
    if isinstance(body, dict):
        if isinstance(body.get("data"), dict) and "specversion" in body:
            body = body["data"]
        records = body.get("Records")
        if isinstance(records, list) and records and isinstance(records[0], dict):
            return str(records[0].get("eventName", ""))
        return str(body.get("eventName") or body.get("Event") or "")
    return ""


class WebhookTarget:
    def __init__(self, spec: TargetSpec) -> None:
        self.arn = spec.arn
        config = spec.config
        self._url: str = config["url"]
        #: What errors and logs may show: hook URLs often carry their secret in the path or query.
        self._where = _origin(self._url)
        self._secret: str = config.get("secret") or ""
        self._timeout = float(config.get("timeout", DEFAULT_TIMEOUT))
        self._headers: dict[str, str] = dict(config.get("headers") or {})
        self._batch = bool(config.get("batch", False))
        self._client: httpx.AsyncClient | None = None

    async def send(self, messages: list[dict[str, Any]]) -> None:
        try:
            await check_url(self._url)
        except TargetConfigError as exc:
            raise TargetError(str(exc)) from None
        if self._batch:
            await self._post([m["body"] for m in messages], {})
            return
        for done, message in enumerate(messages):
            headers = {"X-Bayou-Event": event_name(message["body"]), "X-Bayou-Key": quote(message.get("key", ""), safe="/")}
            try:
                await self._post(message["body"], headers)
            except TargetError as exc:
                raise TargetError(str(exc), delivered=done) from exc.__cause__

    async def _post(self, body: Any, headers: dict[str, str]) -> None:
        data = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
        headers = {**self._headers, **headers, "Content-Type": "application/json", "User-Agent": "Bayou-Webhook"}
        if self._secret:
            headers["X-Bayou-Signature"] = signature(self._secret, data)
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self._timeout, follow_redirects=False, trust_env=False)
        try:
            async with asyncio.timeout(self._timeout):
                response = await self._client.post(self._url, content=data, headers=headers)
        except TimeoutError:
            raise TargetError(f"POST {self._where}: no answer within {self._timeout:g} s") from None
        except httpx.HTTPError as exc:
            raise TargetError(f"POST {self._where}: {type(exc).__name__}") from exc
        if not 200 <= response.status_code < 300:
            raise TargetError(f"POST {self._where}: HTTP {response.status_code}")

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None
