"""Response bodies are written exactly, whatever encoder writes them."""

from __future__ import annotations

import json

import pytest

from scimcore.jsontext import MAX_DEPTH, JsonTextError, encode, parse


def test_a_list_page_is_written_as_the_standard_library_reads_it() -> None:
    page = {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
        "totalResults": 2,
        "Resources": [
            {"id": "1", "userName": "山田太郎", "active": True, "name": None},
            {"id": "2", "userName": 'quote " and \\\\ slash', "weight": 0.1},
        ],
    }
    text = encode(page)
    assert json.loads(text) == page
    assert "山田太郎".encode() in text  # non-ASCII written as itself, not \\u escapes


def test_an_integer_beyond_64_bits_keeps_every_digit() -> None:
    big = 2**70 + 1
    assert json.loads(encode({"n": big, "m": -big})) == {"n": big, "m": -big}


def test_a_stored_lone_surrogate_is_written_escaped_and_the_rest_as_itself() -> None:
    """A value stored before such input was refused must not take a list page down."""
    text = encode({"nickName": "a\ud800b", "name": "山田"})
    assert json.loads(text) == {"nickName": "a\ud800b", "name": "山田"}
    assert b"\\ud800" in text


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ('{"nickName": "\\ud800"}', "'nickName'"),
        ('{"a": [{"b": "x\\udfffy"}]}', "'a[0].b'"),
        ('{"\\udc00": 1}', "'\\udc00'"),
        ('["\\ud83d"]', "'[0]'"),
    ],
)
def test_a_lone_surrogate_escape_is_refused_naming_where_it_is(body: str, where: str) -> None:
    with pytest.raises(JsonTextError, match="lone UTF-16 surrogate") as refused:
        parse(body.encode())
    assert where in str(refused.value)


def test_a_surrogate_pair_is_one_character() -> None:
    assert parse(b'{"n": "\\ud83d\\ude00"}') == {"n": "\U0001f600"}


@pytest.mark.parametrize("raw", [b'{"n": "\xed\xa0\x80"}', b'{"n": "\xff"}', b'{"n": "\xc3"}'])
def test_bytes_that_are_not_utf8_are_refused(raw: bytes) -> None:
    with pytest.raises(JsonTextError, match="not UTF-8"):
        parse(raw)


def test_a_utf8_byte_order_mark_is_ignored() -> None:
    assert parse(b'\xef\xbb\xbf{"n": "\xe5\xb1\xb1"}') == {"n": "山"}


def test_nesting_up_to_the_limit_is_read_and_one_more_level_is_refused() -> None:
    assert parse("[" * MAX_DEPTH + "]" * MAX_DEPTH) is not None
    deeper = "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1)
    with pytest.raises(JsonTextError, match=f"more than {MAX_DEPTH} levels"):
        parse(deeper)


@pytest.mark.parametrize("levels", [1000, 200_000])
def test_nesting_deep_enough_to_exhaust_the_parser_is_refused_the_same_way(levels: int) -> None:
    with pytest.raises(JsonTextError, match=f"more than {MAX_DEPTH} levels"):
        parse(b'{"a": ' + b"[" * levels + b"]" * levels + b"}")


def test_many_brackets_that_do_not_nest_are_fine() -> None:
    wide = "[" + ",".join(['{"a": [1]}'] * 5000) + "]"
    assert len(parse(wide)) == 5000


@pytest.mark.parametrize(
    ("body", "named"),
    [
        (b'{"userName": "a", "userName": "b"}', "'userName' appears twice"),
        (b'{"userName": "a", "USERNAME": "b"}', "as 'userName' and as 'USERNAME'"),
        (b'[{"op": "add"}, {"op": "x", "value": 1, "Value": 2}]', "as 'value' and as 'Value'"),
        (b'{"a": {"b": {"c": 1, "c": 1}}}', "'c' appears twice"),
    ],
)
def test_a_key_twice_in_one_object_is_refused_in_any_case(body: bytes, named: str) -> None:
    """RFC 8259 4 leaves such an object to each reader; another reader may pick the first."""
    with pytest.raises(JsonTextError, match="twice in one object") as refused:
        parse(body)
    assert named in str(refused.value)


def test_the_same_key_in_different_objects_is_fine() -> None:
    body = b'{"a": {"value": 1}, "b": [{"value": 2}, {"value": 3}], "value": 4}'
    assert parse(body) == {"a": {"value": 1}, "b": [{"value": 2}, {"value": 3}], "value": 4}
