"""Index paging parameters (RFC 7644 3.4.2.4)."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from scimcore.errors import InvalidCursor, InvalidValue
from scimcore.pagination import (
    MAX_START_INDEX,
    PageRequest,
    decode_cursor,
    encode_cursor,
    list_response,
)
from scimcore.storage.base import Keyset


def parse(start: object, count: object) -> PageRequest:
    return PageRequest.parse(start, count, default_count=100, max_count=500)


def test_defaults_apply_when_parameters_are_absent() -> None:
    assert parse(None, None) == PageRequest(1, 100)


def test_start_index_below_one_is_read_as_one() -> None:
    assert parse("0", "10").start_index == 1
    assert parse("-5", "10").start_index == 1


def test_negative_count_is_read_as_zero() -> None:
    assert parse("1", "-3").count == 0


def test_count_above_maximum_is_capped() -> None:
    assert parse("1", "100000").count == 500


@pytest.mark.parametrize("bad", ["abc", "1.5", True])
def test_non_integer_parameters_are_invalid_value(bad: object) -> None:
    with pytest.raises(InvalidValue):
        parse(bad, "10")


@pytest.mark.parametrize("digits", ["\u0661", "\uff11", "\u0967", "1\u0660", "\U0001d7cf"])
def test_only_ascii_digits_are_an_integer_in_a_query_string(digits: str) -> None:
    """int() reads Arabic-Indic and fullwidth digits; no proxy or log reader would."""
    for start, count in ((digits, "1"), ("1", digits)):
        with pytest.raises(InvalidValue, match="ASCII digits"):
            parse(start, count)


def test_a_search_request_takes_json_integers_only() -> None:
    page = PageRequest.parse(3, 7, default_count=100, max_count=500, from_json=True)
    assert page == PageRequest(3, 7)
    for start, count in (("1", None), (None, "5"), (None, True), (1.0, None), ("", None)):
        with pytest.raises(InvalidValue, match="JSON integer"):
            PageRequest.parse(start, count, default_count=100, max_count=500, from_json=True)


def test_a_start_index_beyond_the_maximum_is_read_as_the_maximum() -> None:
    assert parse(str(10**22), "1").start_index == MAX_START_INDEX
    assert parse(10**30, "1").start_index == MAX_START_INDEX
    with pytest.raises(InvalidValue, match="more than 100 digits"):
        parse("9" * 101, "1")


def test_list_response_uses_integers_and_always_has_resources() -> None:
    body = list_response([], 0, 1)
    assert body["totalResults"] == 0 and body["itemsPerPage"] == 0 and body["startIndex"] == 1
    assert body["Resources"] == []


def _cursor(key: Any, id: Any, fingerprint: str = "fp") -> str:
    text = json.dumps([key, id, fingerprint])
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


@pytest.mark.parametrize("key", ["name", None, 7, 2.5, True, "山田 \U0001f600"])
def test_a_cursor_round_trips_every_kind_of_sort_key(key: Any) -> None:
    assert decode_cursor(encode_cursor(Keyset(key, "id-1"), "fp"), "fp") == Keyset(key, "id-1")


@pytest.mark.parametrize(
    ("key", "id"),
    [
        ("\ud800", "x"),
        ("x", "\udc00"),
        ("a\x00", "x"),
        ("x", "a\x00"),
        ({"a": 1}, "x"),
        ([1], "x"),
        (2**63, "x"),
        ("x", ""),
        ("x", "i" * 65),
        ("x", None),
    ],
)
def test_a_forged_cursor_is_invalid_cursor(key: Any, id: Any) -> None:
    with pytest.raises(InvalidCursor, match="not issued by this service"):
        decode_cursor(_cursor(key, id), "fp")


def test_a_cursor_of_another_query_says_which_parameters_to_repeat() -> None:
    with pytest.raises(InvalidCursor, match="repeat the filter"):
        decode_cursor(_cursor("x", "y", "other"), "fp")
