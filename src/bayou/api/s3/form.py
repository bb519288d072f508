"""Streaming multipart/form-data reader for browser POST uploads.

Fields before the `file` part are collected (bounded); the file part is handed on as an async
stream without being buffered; anything after it is drained and ignored, as S3 does.
Parsing is python-multipart's; this module only adapts its callbacks to an async stream.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from python_multipart.multipart import MultipartParser, parse_options_header

from bayou.errors import MalformedPOSTRequest, MaxMessageLengthExceeded

MAX_FIELDS_BYTES = 64 * 1024


class FormReader:
    def __init__(self, content_type: str, source: AsyncIterator[bytes]) -> None:
        _, options = parse_options_header(content_type)
        boundary = options.get(b"boundary")
        if not boundary:
            raise MalformedPOSTRequest("The body of your POST request is not well-formed multipart/form-data: no boundary.")
        self._source = source
        self.fields: dict[str, str] = {}
        self.filename: str | None = None
        self.file_content_type: str | None = None
        self._headers: dict[str, str] = {}
        self._header_name = bytearray()
        self._header_value = bytearray()
        self._current_name: str | None = None
        self._current_value = bytearray()
        self._in_file = False
        self._file_done = False
        self._seen_file = False
        self._pending: list[bytes] = []
        self._field_bytes = 0
        self._ended = False
        callbacks: Any = {
            "on_part_begin": self._part_begin,
            "on_part_data": self._part_data,
            "on_part_end": self._part_end,
            "on_header_field": lambda d, s, e: self._header_name.extend(d[s:e]),
            "on_header_value": lambda d, s, e: self._header_value.extend(d[s:e]),
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_end": self._end,
        }
        self._parser = MultipartParser(boundary, callbacks)

    # --- callbacks ---------------------------------------------------------------------------

    def _part_begin(self) -> None:
        self._headers = {}
        self._current_name = None
        self._current_value = bytearray()

    def _header_end(self) -> None:
        self._headers[bytes(self._header_name).decode("latin-1").lower()] = bytes(self._header_value).decode("latin-1")
        self._header_name.clear()
        self._header_value.clear()

    def _headers_finished(self) -> None:
        _, options = parse_options_header(self._headers.get("content-disposition", ""))
        name = options.get(b"name")
        if name is None:
            raise MalformedPOSTRequest()
        self._current_name = name.decode("utf-8", "replace")
        if self._current_name.lower() == "file" and not self._seen_file:
            self._in_file = True
            self._seen_file = True
            raw = options.get(b"filename")
            self.filename = raw.decode("utf-8", "replace") if raw is not None else ""
            self.file_content_type = self._headers.get("content-type")

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if self._in_file:
            self._pending.append(bytes(data[start:end]))
        elif not self._seen_file:
            self._field_bytes += end - start
            if self._field_bytes > MAX_FIELDS_BYTES:
                raise MaxMessageLengthExceeded("Your POST request fields preceding the upload file were too large.")
            self._current_value.extend(data[start:end])

    def _part_end(self) -> None:
        if self._in_file:
            self._in_file = False
            self._file_done = True
        elif not self._seen_file and self._current_name is not None:
            self.fields.setdefault(self._current_name.lower(), self._current_value.decode("utf-8", "replace"))

    def _end(self) -> None:
        self._ended = True

    # --- driving -----------------------------------------------------------------------------

    async def _feed_next(self) -> bool:
        try:
            chunk = await anext(self._source)
        except StopAsyncIteration:
            return False
        try:
            self._parser.write(chunk)
        except (MalformedPOSTRequest, MaxMessageLengthExceeded):
            raise
        except Exception as exc:  # python-multipart's parse errors
            raise MalformedPOSTRequest() from exc
        return True

    async def read_fields(self) -> dict[str, str]:
        """Read up to the start of the file part; the fields before it, lower-cased names."""
        while not self._seen_file:
            if not await self._feed_next():
                raise MalformedPOSTRequest("POST requires exactly one file upload per request.")
        return self.fields

    async def file_chunks(self) -> AsyncIterator[bytes]:
        while True:
            while self._pending:
                yield self._pending.pop(0)
            if self._file_done:
                break
            if not await self._feed_next():
                raise MalformedPOSTRequest()
        while await self._feed_next():
            self._pending.clear()
        if not self._ended:
            raise MalformedPOSTRequest()
