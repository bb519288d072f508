"""The part of an HTTP request that authentication looks at, free of any HTTP framework.

SigV4 signs the request *as sent on the wire*: the path still percent-encoded, the query string
byte for byte. A framework that decodes the path or re-serialises the query before we see it makes
valid signatures fail (or, worse, lets two different requests share one signature), so the API
layer hands over the raw forms and nothing else.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RequestHead:
    """Method, raw path, raw query and headers of one request.

    ``raw_path`` is the path exactly as sent, still percent-encoded, without the query
    (``/bucket/a%20b``). ``raw_query`` is the query string exactly as sent, without ``?``
    (``""`` if none). ``headers`` has lower-case names; a header sent several times is one entry,
    its values joined with ``","`` (use :meth:`from_raw` to get that right).
    """

    method: str
    raw_path: str
    raw_query: str
    headers: Mapping[str, str]
    #: ``parse_query(raw_query)`` if the caller already has it (the query is parsed once per request).
    query_pairs: tuple[tuple[str, str], ...] | None = None

    @classmethod
    def from_raw(
        cls,
        method: str,
        raw_path: bytes | str,
        raw_query: bytes | str,
        header_pairs: Iterable[tuple[bytes, bytes]],
    ) -> RequestHead:
        """Build from wire bytes (an ASGI scope's ``raw_path``, ``query_string``, ``headers``).

        Header bytes are decoded as UTF-8 with ``surrogateescape`` so that the canonical request
        (encoded back the same way) reproduces the exact bytes the client signed, even when a
        value is not valid UTF-8. Repeated headers are trimmed one by one and joined with ``","``,
        which is how SigV4 canonicalises them.
        """
        joined: dict[str, list[str]] = {}
        for name, value in header_pairs:
            key = name.decode("latin-1").lower()
            joined.setdefault(key, []).append(value.decode("utf-8", "surrogateescape").strip())
        return cls(
            method=method.upper(),
            raw_path=_text(raw_path),
            raw_query=_text(raw_query),
            headers={k: ",".join(v) for k, v in joined.items()},
        )


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "surrogateescape") if isinstance(value, bytes) else value
