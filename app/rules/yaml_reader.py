"""A ruleset file's YAML, read exactly as PyYAML's safe loader reads it — at rapidyaml's speed.

PyYAML (even with libyaml's ``CSafeLoader``) builds every node in Python: a 100 000-rule file
(9 MB) takes it 10-20 s. rapidyaml parses the same file in C++ in 0.2 s and writes it out as
JSON, which the standard library reads in C; what is left in Python is one pass that checks the
two trees line up (node for node, parent for parent) and gives each scalar PyYAML's meaning:

- A quoted or block scalar is a string, as rapidyaml's JSON has it — save a text rapidyaml
  writes as ``.inf``/``.nan`` (``inf``, ``.NaN``, ``-Infinity``…), which is read again from
  rapidyaml's copy of the source.
- A plain scalar whose text PyYAML would read as a string is that string.
- Any other plain scalar — ``yes``, ``off``, ``0777``, ``18:00``, ``~``, ``2026-12-04``, a
  number — is read again from the source and given to PyYAML's own resolver and constructors,
  so ``on`` is ``True`` and ``1:30`` is ``90`` as YAML 1.1 says.

Whatever the shortcut does not know is read by PyYAML itself (:func:`pyyaml_load`): tags,
anchors and aliases, merge keys, directives, more than one document, a top level that is not a
mapping, line breaks other than LF and CR LF, characters PyYAML refuses, text rapidyaml refuses
or reads where PyYAML would not (a plain scalar starting with ``}`` or ``@``), a duplicate key.
PyYAML stays the reference: its errors, with line and column, are the ones users see. Duplicate
keys are refused on both paths — the second ``to:`` in a rule would otherwise silently win.
``tests/rules/test_yaml_reader.py`` holds the two readers equal over every ruleset in the tests
and docs and over generated documents. (rapidyaml prints a line to stderr for text it refuses;
PyYAML's error is the one reported.)
"""

from __future__ import annotations

import json
from itertools import repeat
from typing import Any, Callable

import ryml
import yaml
from ryml import ryml as _swig

_PYYAML_BASE = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml's parser when present
_NATIVE = _swig._ryml  # the C functions behind ryml.Tree's methods, called without the Python shim

# rapidyaml node type bits (ryml.NodeType_e)
_MAP, _SEQ, _STREAM = ryml.MAP, ryml.SEQ, ryml.STREAM
_CONTAINER = _MAP | _SEQ
_KEY_STYLED = ryml.KEY_SQUO | ryml.KEY_DQUO | ryml.KEY_LITERAL | ryml.KEY_FOLDED
_VAL_STYLED = ryml.VAL_SQUO | ryml.VAL_DQUO | ryml.VAL_LITERAL | ryml.VAL_FOLDED
_NOT_HANDLED = (ryml.KEYREF | ryml.VALREF | ryml.KEYANCH | ryml.VALANCH | ryml.KEYTAG | ryml.VALTAG
                | ryml.KEY_UNFILT | ryml.VAL_UNFILT | ryml.KEYNIL)
# Line breaks in YAML 1.1 (PyYAML) but not in YAML 1.2 (rapidyaml): NEL, LINE and PARAGRAPH SEPARATOR.
_BREAKS_1_1 = ("\x85", "\u2028", "\u2029")

_STR = "tag:yaml.org,2002:str"
_CONSTRUCTED = {f"tag:yaml.org,2002:{name}" for name in ("null", "bool", "int", "float", "timestamp")}
# PyYAML's implicit resolvers are keyed by a plain scalar's first character; any other first
# character (and not empty) means a string.
_MAYBE_TYPED = frozenset().union(*(set(first) for first in yaml.resolver.Resolver.yaml_implicit_resolvers if first))
_RESERVED = frozenset("@`,[]{}#&*!|>'\"%")  # indicators no plain scalar may start with (PyYAML refuses it)
_LOOK_AGAIN = _MAYBE_TYPED | _RESERVED
_WRITTEN_AS_FLOAT = frozenset({".inf", "-.inf", ".nan"})  # what rapidyaml's JSON makes of any infinity or NaN
_NON_PRINTABLE = yaml.reader.Reader.NON_PRINTABLE  # characters PyYAML refuses anywhere in a stream


class DuplicateKey(yaml.constructor.ConstructorError):
    """A mapping names the same key twice."""


class _Loader(_PYYAML_BASE):
    """PyYAML's safe loader, refusing a key a mapping already has (merged ``<<`` keys aside)."""

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen: set = set()
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    duplicate = key in seen
                    seen.add(key)
                except TypeError:
                    continue  # unhashable: PyYAML's own check names it
                if duplicate:
                    raise DuplicateKey("while constructing a mapping", node.start_mark,
                                       f"found duplicate key {key!r}: each key may appear once", key_node.start_mark)
        return super().construct_mapping(node, deep)


def pyyaml_load(text: str) -> Any:
    """The document as PyYAML's safe loader reads it, duplicate keys refused (yaml.YAMLError)."""
    return yaml.load(text, Loader=_Loader)


def load(text: str) -> Any:
    """The document as :func:`pyyaml_load` reads it; the same values, types and errors."""
    tree = _fast(text)
    return pyyaml_load(text) if tree is None else tree


class _Unknown(Exception):
    """Not something the shortcut reads: PyYAML decides."""


def _fast(text: str) -> dict | None:
    text = text.replace("\r\n", "\n")  # PyYAML reads CR LF as one line break, as LF
    if (text.startswith("%") or "\n%" in text or "\r" in text or any(b in text for b in _BREAKS_1_1)
            or _NON_PRINTABLE.search(text)):
        return None  # a directive (%YAML, %TAG), another line break than LF, a character PyYAML refuses
    try:
        tree = ryml.parse_in_arena(text.encode())
    except Exception:  # noqa: BLE001 - rapidyaml refuses it: PyYAML reports where and why
        return None
    size = tree.size()
    types = list(map(_NATIVE.Tree_type, repeat(tree, size), range(size)))
    root = 0
    if types[0] & _STREAM == _STREAM:
        if size < 2 or tree.num_children(0) != 1:
            return None
        root = 1
    if not types[root] & _MAP or types[root] & _NOT_HANDLED:
        return None
    parents = list(map(_NATIVE.Tree_parent, repeat(tree, size), range(size)))
    try:
        document = json.loads(ryml.emit_json(tree), strict=False, parse_constant=_refuse)
        if root:
            document = document[0]
        reader = _Reader(tree, types, parents, root)
        document = reader.mapping(document, root)
    except Exception:  # noqa: BLE001 - _Unknown, JSON rapidyaml wrote that is not JSON, …: PyYAML decides
        return None
    # Every node was met once: a duplicate key (JSON keeps one of the two) leaves nodes unmet.
    return document if reader.last == size - 1 else None


def _refuse(constant: str):
    raise _Unknown


class _Reader:
    """Walks rapidyaml's JSON beside its tree (node ids in document order) and types each scalar."""

    def __init__(self, tree, types: list[int], parents: list[int], root: int):
        self.tree, self.types, self.parents, self.last = tree, types, parents, root
        self.resolver = yaml.resolver.Resolver()
        self.constructor = yaml.constructor.SafeConstructor()
        self.typed: dict[str, bool] = {}

    def mapping(self, value: dict, node: int) -> dict:
        types, parents, retyped = self.types, self.parents, None
        for key, item in value.items():
            child = self.last = self.last + 1
            kind = types[child]
            if parents[child] != node or kind & _NOT_HANDLED:
                raise _Unknown
            if not key or key[0] in _LOOK_AGAIN:
                read = self._string(key, self.tree.key, child, kind & _KEY_STYLED)
                if type(read) is not str or read != key:
                    retyped = retyped or {}
                    retyped[key] = read
            if type(item) is str:
                if kind & _CONTAINER:
                    raise _Unknown
                if item and item[0] not in _LOOK_AGAIN:
                    continue
            value[key] = self._item(item, child, kind)
        if retyped:  # a key such as 1, yes or ~, or one rapidyaml wrote otherwise: rebuilt in order
            rebuilt = {retyped.get(key, key): item for key, item in value.items()}
            if len(rebuilt) != len(value):
                raise _Unknown  # two keys that mean the same (yes and true): PyYAML names it
            return rebuilt
        return value

    def sequence(self, value: list, node: int) -> list:
        types, parents = self.types, self.parents
        for index, item in enumerate(value):
            child = self.last = self.last + 1
            kind = types[child]
            if parents[child] != node or kind & _NOT_HANDLED:
                raise _Unknown
            value[index] = self._item(item, child, kind)
        return value

    def _item(self, item: Any, node: int, kind: int) -> Any:
        if type(item) is dict:
            if not kind & _MAP:
                raise _Unknown
            return self.mapping(item, node)
        if type(item) is list:
            if not kind & _SEQ:
                raise _Unknown
            return self.sequence(item, node)
        if kind & _CONTAINER:
            raise _Unknown
        if type(item) is str:
            return self._string(item, self.tree.val, node, kind & _VAL_STYLED)
        if kind & _VAL_STYLED:  # a number, true, false or null in the JSON must have been plain
            raise _Unknown
        return self._plain(self._source(self.tree.val(node)))  # PyYAML reads the source text

    def _string(self, text: str, read: Callable, node: int, styled: int) -> Any:
        """A string of the JSON as PyYAML reads its node: itself, unless the node is a plain
        scalar PyYAML types (``on``, ``18:00``) or refuses (``@x``, ``}``), or a scalar rapidyaml
        wrote as ``.inf``/``-.inf``/``.nan`` (it does so for ``inf``, ``.NaN``, ``-Infinity``, …,
        even quoted): then the node's own source text is read and given PyYAML's meaning."""
        if text in _WRITTEN_AS_FLOAT:
            source = self._source(read(node))
            return source if styled else self._plain(source)
        if styled:
            return text
        if text[:1] in _RESERVED:
            raise _Unknown  # rapidyaml took } or @ for the start of a plain scalar; PyYAML refuses it
        if text and not self._maybe_typed(text):
            return text
        return self._plain(self._source(read(node)))

    @staticmethod
    def _source(view) -> str:
        return "" if view is None else str(view, "utf-8")

    def _maybe_typed(self, text: str) -> bool:
        if text and text[0] not in _MAYBE_TYPED:
            return False
        typed = self.typed.get(text)
        if typed is None:
            typed = self.typed[text] = self.resolver.resolve(yaml.ScalarNode, text, (True, False)) != _STR
        return typed

    def _plain(self, text: str) -> Any:
        """A plain scalar's source text as PyYAML reads it."""
        tag = self.resolver.resolve(yaml.ScalarNode, text, (True, False))
        if tag == _STR:
            return text
        if tag not in _CONSTRUCTED:
            raise _Unknown  # a merge key (<<) or a value (=)
        return self.constructor.yaml_constructors[tag](self.constructor, yaml.ScalarNode(tag, text))
