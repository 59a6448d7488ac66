"""SCIM filters (RFC 7644 3.4.2.2): parse filter text, evaluate it in memory.

:func:`parse_filter` produces a resolved, type-checked tree of the nodes in
:mod:`.nodes`; :func:`matches` is the reference evaluation of such a tree against a
stored resource (its docstring in :mod:`.match` states the exact semantics every
other evaluator, such as a SQL compiler, must reproduce).
"""

from .match import matches
from .nodes import (
    COMPARE_OPS,
    And,
    Compare,
    CompareOp,
    Filter,
    Not,
    Or,
    Present,
    Value,
    ValuePath,
)
from .parser import SCHEMAS_ATTRIBUTE, canonical_datetime, parse_datetime, parse_filter

__all__ = [
    "COMPARE_OPS",
    "SCHEMAS_ATTRIBUTE",
    "And",
    "Compare",
    "CompareOp",
    "Filter",
    "Not",
    "Or",
    "Present",
    "Value",
    "ValuePath",
    "canonical_datetime",
    "matches",
    "parse_datetime",
    "parse_filter",
]
