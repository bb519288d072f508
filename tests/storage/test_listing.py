"""Listing with prefix and delimiter (storage/listing.py), over an in-memory ordered fetch.

The reference model below computes a whole listing the slow, obvious way; the paged listing
must reproduce it exactly however it is cut into pages.
"""

from __future__ import annotations

import asyncio
import bisect
import random

import pytest

from bayou.errors import InvalidArgument
from bayou.meta.records import ObjectRecord
from bayou.storage.listing import Cursor, Page, list_page, successor


class MemoryKeys:
    """An ordered key space (UTF-8 byte order) that counts the rows each fetch returns."""

    def __init__(self, keys: list[str]) -> None:
        self.encoded = sorted({k.encode() for k in keys})
        self.rows = 0
        self.calls = 0

    async def fetch(self, start: bytes, inclusive: bool, end: bytes | None, limit: int) -> list[ObjectRecord]:
        self.calls += 1
        find = bisect.bisect_left if inclusive else bisect.bisect_right
        i = find(self.encoded, start)
        out = []
        while i < len(self.encoded) and len(out) < limit:
            key = self.encoded[i]
            if end is not None and key >= end:
                break
            out.append(ObjectRecord("b", key.decode(), 1, "etag", 0.0, "blob", True))
            i += 1
        self.rows += len(out)
        return out


def page(space: MemoryKeys, *, prefix: str = "", delimiter: str = "", after: Cursor | None = None, max_keys: int = 1000) -> Page:
    return asyncio.run(list_page(space.fetch, prefix=prefix, delimiter=delimiter, after=after, max_keys=max_keys))


def entries(p: Page) -> list[tuple[str, str]]:
    """A page's entries in listing order: ('K', key) or ('P', common prefix)."""
    items = [("K", r.key) for r in p.objects] + [("P", c) for c in p.common_prefixes]
    return sorted(items, key=lambda item: item[1].encode())


def reference(keys: list[str], prefix: str, delimiter: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for key in sorted(set(keys), key=str.encode):
        if not key.startswith(prefix):
            continue
        rest = key[len(prefix):]
        if delimiter and delimiter in rest:
            common = prefix + rest[: rest.index(delimiter) + len(delimiter)]
            if ("P", common) not in out:
                out.append(("P", common))
        else:
            out.append(("K", key))
    return out


KEYS = [
    "a", "a/", "a/b", "a/b/c", "a/b/d", "a/c", "a//x", "ab", "b/1", "b/2", "b/3/4", "c",
    "photos/2024/jan/1.jpg", "photos/2024/feb/2.jpg", "photos/2025/x.jpg", "photos/index.html",
    "x--y--z", "x--y", "x-", "x", "é/1", "é/2", "\uffff/a", "😀/a", "😀b", "\ue000", "z\x01/ctl",
]


# --- one page -----------------------------------------------------------------------------------


def test_no_delimiter_lists_every_key_in_utf8_byte_order() -> None:
    p = page(MemoryKeys(KEYS))
    assert [r.key for r in p.objects] == sorted(KEYS, key=str.encode)
    assert p.common_prefixes == []
    assert not p.is_truncated


def test_delimiter_rolls_up_common_prefixes() -> None:
    p = page(MemoryKeys(KEYS), delimiter="/")
    assert entries(p) == reference(KEYS, "", "/")
    assert "a/" in p.common_prefixes and "photos/" in p.common_prefixes
    assert "a" in [r.key for r in p.objects]
    assert not any("/" in r.key for r in p.objects)


def test_prefix_and_delimiter() -> None:
    p = page(MemoryKeys(KEYS), prefix="photos/", delimiter="/")
    assert p.common_prefixes == ["photos/2024/", "photos/2025/"]
    assert [r.key for r in p.objects] == ["photos/index.html"]


def test_prefix_that_is_itself_a_key_ending_in_delimiter() -> None:
    p = page(MemoryKeys(KEYS), prefix="a/", delimiter="/")
    assert entries(p) == [("K", "a/"), ("P", "a//"), ("K", "a/b"), ("P", "a/b/"), ("K", "a/c")]
    assert entries(p) == reference(KEYS, "a/", "/")


def test_prefix_without_delimiter_excludes_neighbours() -> None:
    p = page(MemoryKeys(KEYS), prefix="a/b")
    assert [r.key for r in p.objects] == ["a/b", "a/b/c", "a/b/d"]


def test_multi_character_delimiter() -> None:
    p = page(MemoryKeys(KEYS), prefix="x", delimiter="--")
    assert p.common_prefixes == ["x--"]
    assert [r.key for r in p.objects] == ["x", "x-"]
    p = page(MemoryKeys(KEYS), prefix="x--", delimiter="--")
    assert p.common_prefixes == ["x--y--"]
    assert [r.key for r in p.objects] == ["x--y"]


def test_non_ascii_delimiter_and_prefix() -> None:
    keys = ["aéb", "aéc", "aéé1", "aéé2", "b"]
    p = page(MemoryKeys(keys), prefix="a", delimiter="é")
    assert p.common_prefixes == ["aé"]
    p = page(MemoryKeys(keys), prefix="aé", delimiter="é")
    assert entries(p) == [("K", "aéb"), ("K", "aéc"), ("P", "aéé")]


def test_delimiter_not_matched_inside_the_prefix() -> None:
    # The prefix "a/" contains the delimiter; only occurrences after it count.
    p = page(MemoryKeys(["a/x", "a/y/z"]), prefix="a/", delimiter="/")
    assert [r.key for r in p.objects] == ["a/x"]
    assert p.common_prefixes == ["a/y/"]


def test_non_bmp_and_bmp_private_use_order_by_utf8_bytes() -> None:
    keys = ["😀", "\uffff", "\ue000", "z", "é", "\x7f"]
    p = page(MemoryKeys(keys))
    got = [r.key for r in p.objects]
    assert got == sorted(keys, key=lambda k: k.encode("utf-8"))
    # UTF-8 byte order (which equals code point order) and not UTF-16 order, where the
    # surrogate pair of U+1F600 (0xD83D...) sorts before U+E000 and U+FFFF.
    assert got.index("\ue000") < got.index("\uffff") < got.index("😀")
    assert got != sorted(keys, key=lambda k: k.encode("utf-16-be"))


def test_prefix_bound_with_high_utf8_bytes() -> None:
    keys = ["\uffff", "\uffffa", "\uffff😀", "😀", "\U0010ffff"]
    p = page(MemoryKeys(keys), prefix="\uffff")
    assert [r.key for r in p.objects] == ["\uffff", "\uffffa", "\uffff😀"]
    p = page(MemoryKeys(keys), prefix="\U0010ffff")
    assert [r.key for r in p.objects] == ["\U0010ffff"]


def test_max_keys_zero_returns_an_empty_untruncated_page_without_fetching() -> None:
    space = MemoryKeys(KEYS)
    p = page(space, max_keys=0)
    assert p.objects == [] and p.common_prefixes == [] and p.last is None
    assert space.calls == 0


def test_empty_space_and_missing_prefix() -> None:
    assert entries(page(MemoryKeys([]), delimiter="/")) == []
    p = page(MemoryKeys(KEYS), prefix="nothing-here/", delimiter="/")
    assert entries(p) == [] and not p.is_truncated and p.last is None


def test_truncation_exactly_at_max_keys() -> None:
    keys = ["k1", "k2", "k3"]
    p = page(MemoryKeys(keys), max_keys=3)
    assert not p.is_truncated
    p = page(MemoryKeys(keys), max_keys=2)
    assert p.is_truncated and p.last == Cursor(b"k2", False)


def test_truncated_only_if_another_entry_exists_after_rollup() -> None:
    # Two keys but one common prefix: a page of one entry is complete.
    p = page(MemoryKeys(["d/1", "d/2"]), delimiter="/", max_keys=1)
    assert p.common_prefixes == ["d/"]
    assert not p.is_truncated


# --- pagination ---------------------------------------------------------------------------------


async def _walk(space: MemoryKeys, prefix: str, delimiter: str, max_keys: int, resume) -> list[tuple[str, str]]:
    got: list[tuple[str, str]] = []
    after: Cursor | None = None
    for _ in range(10_000):
        p = await list_page(space.fetch, prefix=prefix, delimiter=delimiter, after=after, max_keys=max_keys)
        assert len(entries(p)) <= max_keys
        got.extend(entries(p))
        if not p.is_truncated:
            return got
        assert p.last is not None
        after = resume(p.last)
    raise AssertionError("pagination did not terminate")


def _all_pages(space: MemoryKeys, prefix: str, delimiter: str, max_keys: int, resume) -> list[tuple[str, str]]:
    return asyncio.run(_walk(space, prefix, delimiter, max_keys, resume))


@pytest.mark.parametrize("max_keys", [1, 2, 3, 7, 1000])
@pytest.mark.parametrize(("prefix", "delimiter"), [("", ""), ("", "/"), ("a/", "/"), ("photos/", "/"), ("x", "--"), ("", "é")])
def test_pages_via_cursor_reproduce_full_listing(max_keys: int, prefix: str, delimiter: str) -> None:
    space = MemoryKeys(KEYS)
    assert _all_pages(space, prefix, delimiter, max_keys, lambda c: c) == reference(KEYS, prefix, delimiter)


@pytest.mark.parametrize("seed", range(4))
def test_pages_over_random_keys_reproduce_full_listing(seed: int) -> None:
    rng = random.Random(seed)
    alphabet = ["a", "b", "/", "//", "-", "é", "😀", "\uffff", "\x01"]
    keys = ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 6))) for _ in range(400)]
    space = MemoryKeys(keys)

    async def check() -> None:
        for prefix, delimiter in [("", "/"), ("a", "/"), ("", "-"), ("b/", "/"), ("", "é"), ("", "//"), ("", "")]:
            expected = reference(keys, prefix, delimiter)
            for max_keys in (1, 3, 50):
                assert await _walk(space, prefix, delimiter, max_keys, lambda c: c) == expected
                via_token = await _walk(space, prefix, delimiter, max_keys, lambda c: Cursor.decode_token(c.encode_token()))
                assert via_token == expected

    asyncio.run(check())


@pytest.mark.parametrize("max_keys", [1, 2, 5])
@pytest.mark.parametrize(("prefix", "delimiter"), [("", "/"), ("photos/", "/"), ("", "")])
def test_pages_via_continuation_token_reproduce_full_listing(max_keys: int, prefix: str, delimiter: str) -> None:
    space = MemoryKeys(KEYS)
    got = _all_pages(space, prefix, delimiter, max_keys, lambda c: Cursor.decode_token(c.encode_token()))
    assert got == reference(KEYS, prefix, delimiter)


@pytest.mark.parametrize("max_keys", [1, 2, 5])
@pytest.mark.parametrize(("prefix", "delimiter"), [("", "/"), ("photos/", "/"), ("", ""), ("b/", "/")])
def test_pages_via_v1_next_marker_reproduce_full_listing(max_keys: int, prefix: str, delimiter: str) -> None:
    """ListObjects V1: the client sends NextMarker back as `marker` (Cursor.from_marker)."""
    space = MemoryKeys(KEYS)
    got = _all_pages(space, prefix, delimiter, max_keys, lambda c: Cursor.from_marker(c.value.decode(), prefix, delimiter))
    assert got == reference(KEYS, prefix, delimiter)


@pytest.mark.parametrize("max_keys", [1, 2])
def test_v1_next_marker_after_a_folder_object_equal_to_the_prefix(max_keys: int) -> None:
    """A "folder" object `dir/` listed under prefix `dir/` is a key, not a common prefix: a
    NextMarker of `dir/` must resume after that key, not skip everything under `dir/`."""
    keys = ["dir/", "dir/a", "dir/b", "dir/c/d"]
    space = MemoryKeys(keys)
    got = _all_pages(space, "dir/", "/", max_keys, lambda c: Cursor.from_marker(c.value.decode(), "dir/", "/"))
    assert got == [("K", "dir/"), ("K", "dir/a"), ("K", "dir/b"), ("P", "dir/c/")]


def test_marker_that_is_a_common_prefix_skips_everything_under_it() -> None:
    space = MemoryKeys(KEYS)
    p = page(space, delimiter="/", after=Cursor.from_marker("a/", "", "/"))
    got = entries(p)
    assert ("P", "a/") not in got
    assert got[0] == ("K", "ab")
    assert got == [e for e in reference(KEYS, "", "/") if e[1].encode() > b"a/"]


def test_marker_plain_key_resumes_strictly_after_it() -> None:
    p = page(MemoryKeys(KEYS), after=Cursor.from_marker("b/1", "", ""))
    assert p.objects[0].key == "b/2"


def test_marker_before_prefix_starts_at_prefix_and_after_prefix_range_is_empty() -> None:
    space = MemoryKeys(KEYS)
    p = page(space, prefix="b/", after=Cursor.from_marker("a", "", ""))
    assert [r.key for r in p.objects] == ["b/1", "b/2", "b/3/4"]
    p = page(space, prefix="b/", after=Cursor.from_marker("c", "", ""))
    assert entries(p) == [] and not p.is_truncated


def test_start_after_a_key_that_does_not_exist() -> None:
    p = page(MemoryKeys(KEYS), prefix="b/", after=Cursor.from_marker("b/15", "", ""))
    assert [r.key for r in p.objects] == ["b/2", "b/3/4"]


# --- tokens -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "cursor",
    [Cursor(b"a", False), Cursor(b"a/", True), Cursor("é/😀\x01".encode(), False), Cursor(b"", False), Cursor(b"x" * 1024, True)],
)
def test_continuation_token_round_trip(cursor: Cursor) -> None:
    token = cursor.encode_token()
    assert token.isascii()
    assert Cursor.decode_token(token) == cursor


def test_continuation_token_is_url_safe() -> None:
    token = Cursor(bytes(range(256)).decode("latin-1").encode(), False).encode_token()
    assert "+" not in token and "/" not in token


@pytest.mark.parametrize("token", ["", "!!!!", "abc", "é", "WA==", "Zm9v", "K"])
def test_garbage_continuation_token_is_invalid_argument(token: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        Cursor.decode_token(token)
    assert info.value.fields.get("ArgumentName") == "continuation-token"


def test_from_marker_flags_prefix_only_with_delimiter() -> None:
    assert Cursor.from_marker("a/", "", "/") == Cursor(b"a/", True)
    assert Cursor.from_marker("a/", "", "") == Cursor(b"a/", False)
    assert Cursor.from_marker("a", "", "/") == Cursor(b"a", False)
    assert Cursor.from_marker("x--", "", "--") == Cursor(b"x--", True)


# --- successor ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("prefix", "expected"),
    [
        (b"a", b"b"),
        (b"a/", b"a0"),
        (b"ab\xff", b"ac"),
        (b"a\xff\xff", b"b"),
        (b"\xff", None),
        (b"\xff\xff", None),
        (b"", None),
        ("\uffff".encode(), b"\xef\xbf\xc0"),
        (b"\x00", b"\x01"),
    ],
)
def test_successor(prefix: bytes, expected: bytes | None) -> None:
    assert successor(prefix) == expected


@pytest.mark.parametrize("prefix", [b"a", b"a/", "é".encode(), "😀".encode(), b"z\xff"])
def test_successor_bounds_every_extension(prefix: bytes) -> None:
    nxt = successor(prefix)
    assert nxt is not None and nxt > prefix
    for tail in (b"", b"\x00", b"\xff" * 8, "😀".encode()):
        assert prefix + tail < nxt


# --- cost ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fat_prefix() -> MemoryKeys:
    return MemoryKeys([f"a/{i:06d}" for i in range(100_000)] + ["0", "b", "c/d", "c/e", "zz"])


@pytest.mark.parametrize("max_keys", [1, 10, 1000])
def test_rows_fetched_do_not_grow_with_keys_under_a_common_prefix(fat_prefix: MemoryKeys, max_keys: int) -> None:
    space = fat_prefix
    after = None
    got: list[tuple[str, str]] = []
    while True:
        space.rows = 0
        p = page(space, delimiter="/", after=after, max_keys=max_keys)
        assert space.rows < 5 * (max_keys + 1), f"{space.rows} rows fetched for a page of {max_keys}"
        got.extend(entries(p))
        if not p.is_truncated:
            break
        after = p.last
    assert got == [("K", "0"), ("P", "a/"), ("K", "b"), ("P", "c/"), ("K", "zz")]


def test_rows_fetched_stay_proportional_to_the_page_with_many_fat_common_prefixes() -> None:
    """Each common prefix should cost a seek, not a batch of up to max_keys rows below it."""
    keys = [f"d{p:03d}/{i:03d}" for p in range(120) for i in range(150)]
    space = MemoryKeys(keys)
    max_keys = 100
    p = page(space, delimiter="/", max_keys=max_keys)
    assert p.common_prefixes == [f"d{i:03d}/" for i in range(max_keys)]
    assert space.rows < 5 * (max_keys + 1), f"{space.rows} rows fetched for a page of {max_keys}"
