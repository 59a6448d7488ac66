"""Index paging parameters (RFC 7644 3.4.2.4)."""

from __future__ import annotations

import pytest

from scimcore.errors import InvalidValue
from scimcore.pagination import PageRequest, list_response


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


def test_list_response_uses_integers_and_always_has_resources() -> None:
    body = list_response([], 0, 1)
    assert body["totalResults"] == 0 and body["itemsPerPage"] == 0 and body["startIndex"] == 1
    assert body["Resources"] == []
