"""A small DOM for server-rendered pages, the recipe's selector language, and forms.

Built on the standard library's :mod:`html.parser` (no new dependency). The tree is
forgiving the way browsers are where server-rendered admin pages need it: void
elements (``<input>``) have no end tag, a new ``<tr>``/``<td>``/``<li>``/``<option>``
closes the open one, and a stray end tag is ignored.

The selector language (docs/connectors/form-login.md) is a small subset of CSS, enough
to point at a row, a cell or a link of a server-rendered page:

* a compound: ``tag``, ``#id``, ``.class``, ``[attr]``, ``[attr=value]`` (also ``~=``
  a word of the value, ``^=``, ``$=``, ``*=``), ``:nth-child(n)``, ``:first-child``,
  ``:last-child``, in any combination (``td.status:nth-child(3)``);
* combinators: descendant (a space) and child (``>``);
* a list: ``a, b`` (any of them);
* a *value* is a selector with an optional ``@attribute`` suffix: ``a[rel=next]@href``;
  without it, the element's text; ``@data-id`` alone is an attribute of the element
  the value is read from (a member row).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser

VOID = frozenset(
    [
        "area",
        "base",
        "br",
        "col",
        "embed",
        "hr",
        "img",
        "input",
        "link",
        "meta",
        "param",
        "source",
        "track",
        "wbr",
    ]
)
#: HTML's implied end tags: a start tag closes an open element of the first set, looked
#: for from the innermost element out, stopping at one of the second (a nested table's
#: row does not close the outer table's).
_ROW = ({"tr"}, {"table", "tbody", "thead", "tfoot"})
_CELL = ({"td", "th"}, {"tr", "table"})
_SECTION = ({"tbody", "thead", "tfoot"}, {"table"})
_PARAGRAPH = ({"p"}, {"div", "section", "form", "table", "li", "td", "th", "body", "button"})
_IMPLIED: dict[str, tuple[set[str], set[str]]] = {
    "li": ({"li"}, {"ul", "ol"}),
    "option": ({"option"}, {"select", "optgroup", "datalist"}),
    "tr": _ROW,
    "td": _CELL,
    "th": _CELL,
    "tbody": _SECTION,
    "thead": _SECTION,
    "tfoot": _SECTION,
    **{
        t: _PARAGRAPH
        for t in [
            "p",
            "div",
            "table",
            "form",
            "ul",
            "ol",
            "h1",
            "h2",
            "h3",
            "h4",
            "h5",
            "h6",
            "section",
        ]
    },
}
#: Elements whose text is not shown (never matched by text markers).
_HIDDEN_TEXT = frozenset({"script", "style", "template", "noscript", "head", "title"})
#: How deep a document may nest; deeper content is attached to the deepest element.
MAX_DEPTH = 256


class SelectorError(ValueError):
    """A selector the language does not have; the message quotes it."""


@dataclass(eq=False)
class Node:
    """An element: its tag, attributes (lower-case names), children and parent."""

    tag: str
    attrs: dict[str, str] = field(default_factory=dict)
    children: list[Node | str] = field(default_factory=list)
    parent: Node | None = field(default=None, repr=False)

    def elements(self) -> list[Node]:
        return [c for c in self.children if isinstance(c, Node)]

    def descendants(self) -> Iterator[Node]:
        stack = list(reversed(self.elements()))
        while stack:
            node = stack.pop()
            yield node
            stack.extend(reversed(node.elements()))

    def text(self) -> str:
        """The visible text, whitespace collapsed (scripts and styles left out)."""
        parts: list[str] = []
        stack: list[Node | str] = [self]
        while stack:
            item = stack.pop()
            if isinstance(item, str):
                parts.append(item)
            elif item is self or item.tag not in _HIDDEN_TEXT:
                stack.extend(reversed(item.children))
        return " ".join(" ".join(parts).split())

    def get(self, name: str) -> str | None:
        return self.attrs.get(name.lower())

    def classes(self) -> set[str]:
        return set((self.attrs.get("class") or "").split())

    def select(self, selector: str | Selector) -> list[Node]:
        """Descendants matching ``selector``, in document order."""
        compiled = selector if isinstance(selector, Selector) else Selector.parse(selector)
        return [n for n in self.descendants() if compiled.matches(n, self)]

    def first(self, selector: str | Selector) -> Node | None:
        found = self.select(selector)
        return found[0] if found else None


class _Builder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#document")
        self.stack: list[Node] = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        implied = _IMPLIED.get(tag)
        if implied is not None:
            self._implied_end(*implied)
        node = Node(tag, {k.lower(): (v or "") for k, v in attrs}, parent=self.stack[-1])
        self.stack[-1].children.append(node)
        if tag not in VOID and len(self.stack) < MAX_DEPTH:
            self.stack.append(node)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, {k.lower(): (v or "") for k, v in attrs}, parent=self.stack[-1])
        self.stack[-1].children.append(node)

    def _implied_end(self, closes: set[str], boundary: set[str]) -> None:
        for depth in range(len(self.stack) - 1, 0, -1):
            open_tag = self.stack[depth].tag
            if open_tag in closes:
                del self.stack[depth:]
                return
            if open_tag in boundary:
                return

    def handle_endtag(self, tag: str) -> None:
        for depth in range(len(self.stack) - 1, 0, -1):
            if self.stack[depth].tag == tag:
                del self.stack[depth:]
                return

    def handle_data(self, data: str) -> None:
        if data:
            self.stack[-1].children.append(data)


def parse(markup: str) -> Node:
    """The document of ``markup`` (never raises: malformed markup makes a partial tree)."""
    builder = _Builder()
    builder.feed(markup)
    builder.close()
    return builder.root


# -- selectors ---------------------------------------------------------------------------

_IDENT = r"[A-Za-z_][\w-]*"
_TOKEN = re.compile(
    rf"""
    (?P<tag>{_IDENT}|\*)
    | \#(?P<id>[\w-]+)
    | \.(?P<cls>[\w-]+)
    | \[\s*(?P<attr>[\w:-]+)\s*(?:(?P<op>[~^$*]?=)\s*
          (?:"(?P<dq>[^"]*)"|'(?P<sq>[^']*)'|(?P<bare>[^\]\s]+))\s*)?\]
    | :nth-child\(\s*(?P<nth>\d+)\s*\)
    | :(?P<pseudo>first-child|last-child)
    """,
    re.VERBOSE,
)


@dataclass(frozen=True)
class _Compound:
    tag: str | None = None
    ids: tuple[str, ...] = ()
    classes: tuple[str, ...] = ()
    attrs: tuple[tuple[str, str | None, str], ...] = ()
    nth: int | None = None
    last: bool = False

    def matches(self, node: Node) -> bool:
        if self.tag is not None and node.tag != self.tag:
            return False
        if any(node.get("id") != i for i in self.ids):
            return False
        if self.classes and not set(self.classes) <= node.classes():
            return False
        for name, op, value in self.attrs:
            have = node.get(name)
            if have is None or (op is not None and not _attr_matches(have, op, value)):
                return False
        if self.nth is not None or self.last:
            siblings = node.parent.elements() if node.parent is not None else [node]
            if self.nth is not None and (
                self.nth > len(siblings) or siblings[self.nth - 1] is not node
            ):
                return False
            if self.last and siblings[-1] is not node:
                return False
        return True


def _attr_matches(have: str, op: str, value: str) -> bool:
    if op == "=":
        return have == value
    if op == "~=":
        return value in have.split()
    if op == "^=":
        return have.startswith(value)
    if op == "$=":
        return have.endswith(value)
    return value in have  # *=


def _compound(text: str, whole: str) -> _Compound:
    tag: str | None = None
    ids: list[str] = []
    classes: list[str] = []
    attrs: list[tuple[str, str | None, str]] = []
    nth: int | None = None
    last = False
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            raise SelectorError(f"selector {whole!r}: cannot read {text[pos:]!r}")
        if m.group("tag"):
            if pos != 0:
                raise SelectorError(f"selector {whole!r}: a tag name must come first")
            tag = None if m.group("tag") == "*" else m.group("tag").lower()
        elif m.group("id"):
            ids.append(m.group("id"))
        elif m.group("cls"):
            classes.append(m.group("cls"))
        elif m.group("attr"):
            value = next((g for g in (m.group("dq"), m.group("sq"), m.group("bare")) if g), "")
            attrs.append((m.group("attr").lower(), m.group("op"), value))
        elif m.group("nth"):
            nth = int(m.group("nth"))
            if nth < 1:
                raise SelectorError(f"selector {whole!r}: nth-child counts from 1")
        elif m.group("pseudo") == "first-child":
            nth = 1
        else:
            last = True
        pos = m.end()
    return _Compound(tag, tuple(ids), tuple(classes), tuple(attrs), nth, last)


def _split_top(text: str, sep: str) -> list[str]:
    """Split on ``sep`` outside brackets, quotes and parentheses."""
    parts, depth, quote, start = [], 0, "", 0
    for i, ch in enumerate(text):
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "\"'":
            quote = ch
        elif ch in "[(":
            depth += 1
        elif ch in "])":
            depth -= 1
        elif ch == sep and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return parts


@dataclass(frozen=True)
class Selector:
    """A compiled selector: alternatives, each a chain of (combinator, compound)."""

    source: str
    alternatives: tuple[tuple[tuple[str, _Compound], ...], ...]

    @classmethod
    def parse(cls, source: str) -> Selector:
        if not isinstance(source, str) or not source.strip():
            raise SelectorError("a selector must be a non-empty string")
        alternatives = []
        for alternative in _split_top(source, ","):
            spaced = re.sub(r"\s*>\s*", " > ", alternative.strip())
            words = [w for w in _split_top(spaced, " ") if w]
            if not words or words[0] == ">" or words[-1] == ">":
                raise SelectorError(f"selector {source!r}: an empty part")
            chain: list[tuple[str, _Compound]] = []
            combinator = " "
            for word in words:
                if word == ">":
                    if combinator == ">":
                        raise SelectorError(f"selector {source!r}: two '>' in a row")
                    combinator = ">"
                    continue
                chain.append((combinator, _compound(word, source)))
                combinator = " "
            alternatives.append(tuple(chain))
        return cls(source, tuple(alternatives))

    def matches(self, node: Node, scope: Node | None = None) -> bool:
        """Whether ``node`` matches; ancestors are looked for below ``scope`` only."""
        return any(_chain(chain, len(chain) - 1, node, scope) for chain in self.alternatives)


def _chain(
    chain: tuple[tuple[str, _Compound], ...], i: int, node: Node, scope: Node | None
) -> bool:
    combinator, compound = chain[i]
    if not compound.matches(node):
        return False
    if i == 0:
        return True
    parent = node.parent
    if combinator == ">":
        return parent is not None and parent is not scope and _chain(chain, i - 1, parent, scope)
    while parent is not None and parent is not scope:
        if _chain(chain, i - 1, parent, scope):
            return True
        parent = parent.parent
    return False


_VALUE_ATTR = re.compile(r"@([\w:-]+)$")


@dataclass(frozen=True)
class ValueSpec:
    """Where a value is: a selector (or the element itself) and an attribute (or text)."""

    source: str
    selector: Selector | None
    attribute: str | None

    @classmethod
    def parse(cls, source: str) -> ValueSpec:
        if not isinstance(source, str) or not source.strip():
            raise SelectorError("a value selector must be a non-empty string")
        text = source.strip()
        attribute = None
        m = _VALUE_ATTR.search(text)
        if m is not None and text[: m.start()].count("[") == text[: m.start()].count("]"):
            attribute = m.group(1).lower()
            text = text[: m.start()].strip()
        selector = Selector.parse(text) if text else None
        return cls(source, selector, attribute)

    def read(self, node: Node) -> str | None:
        """The value in ``node`` (the first match), stripped; ``None`` when absent."""
        target = node if self.selector is None else node.first(self.selector)
        if target is None:
            return None
        value = target.get(self.attribute) if self.attribute else target.text()
        return value.strip() if value is not None else None


# -- forms -------------------------------------------------------------------------------

_NOT_SENT = frozenset({"submit", "button", "image", "reset", "file"})


def form_fields(form: Node) -> list[tuple[str, str]]:
    """What a browser sends for ``form`` untouched: hidden inputs (the CSRF token), filled
    text fields, checked boxes, selected options and text areas; no buttons."""
    out: list[tuple[str, str]] = []
    for node in form.descendants():
        name = node.get("name")
        if not name or node.get("disabled") is not None:
            continue
        if node.tag == "input":
            kind = (node.get("type") or "text").lower()
            if kind in _NOT_SENT:
                continue
            if kind in ("checkbox", "radio"):
                if node.get("checked") is not None:
                    out.append((name, node.get("value") or "on"))
                continue
            out.append((name, node.get("value") or ""))
        elif node.tag == "select":
            options = node.select("option")
            chosen = [o for o in options if o.get("selected") is not None] or options[:1]
            out.extend((name, o.get("value") or o.text()) for o in chosen)
        elif node.tag == "textarea":
            out.append((name, node.text()))
    return out


def default_button(form: Node) -> tuple[str, str] | None:
    """The name and value of the form's first submit button, which a browser sends
    when the form is submitted with Enter; ``None`` when it has no name."""
    for node in form.descendants():
        kind = (node.get("type") or ("submit" if node.tag == "button" else "")).lower()
        if node.tag in ("input", "button") and kind == "submit":
            name = node.get("name")
            if not name:
                return None
            value = node.get("value")
            return name, value if value is not None else node.text()
    return None


def fields_of_type(form: Node, *types: str) -> list[Node]:
    """The form's inputs of the given types (``text``, ``email``, ``password`` ...)."""
    return [
        n
        for n in form.descendants()
        if n.tag == "input" and (n.get("type") or "text").lower() in types and n.get("name")
    ]
