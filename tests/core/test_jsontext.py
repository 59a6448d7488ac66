"""Response bodies are written exactly, whatever encoder writes them."""

from __future__ import annotations

import json

from scimcore.jsontext import encode


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
