"""From bot.yaml's text to plain data, with `${ENV}` substituted and the place of every value remembered.

The YAML node tree is kept while it is turned into dicts, lists and scalars, so each value's path (as
pydantic's error `loc` spells it) maps back to the line it was written on. Problems only YAML can see
(a duplicate key, an unset variable, an unsupported tag) are reported here; the value is then left out.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from botkit.config.errors import ConfigError

__all__ = ["Loc", "Place", "Reader", "describe", "label", "read_document", "yaml_scalar"]

_NULL_TAG = "tag:yaml.org,2002:null"
_MAP_TAG = "tag:yaml.org,2002:map"
_SEQ_TAG = "tag:yaml.org,2002:seq"
_MERGE_TAG = "tag:yaml.org,2002:merge"

_REFERENCE = re.compile(r"\$\$\{|\$\{(?:(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>[^}]*))?\})?")
"""`$${` (a literal `${`), `${NAME}` or `${NAME:-default}`; a `${` that starts neither leaves `name` unset."""

Loc = tuple[Any, ...]
"""A value's path from the top of the file: mapping keys and list indices, as in pydantic's error `loc`."""


@dataclass(frozen=True, slots=True)
class Place:
    """Where a value came from: its line (and its key's), or the environment variable that set it."""

    label: str
    line: int | None = None
    key_line: int | None = None
    variable: str | None = None


def label(loc: Loc) -> str:
    """A path as errors show it: `connect.retry.max_attempts`, `plugins[1]`."""
    text = ""
    for part in loc:
        text = f"{text}[{part}]" if isinstance(part, int) and not isinstance(part, bool) else _join(text, part)
    return text


def _join(path: str, key: Any) -> str:
    return f"{path}.{key}" if path else str(key)


def describe(value: Any) -> str:
    """A value as the YAML author wrote it: null and true rather than None and True."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    return repr(value) if isinstance(value, str) else str(value)


def yaml_scalar(text: str) -> Any:
    """`text` typed as YAML types a plain scalar (`8080` an int, `true` a bool, `null` None): never a structure."""
    loader = yaml.SafeLoader("")
    try:
        return loader.construct_object(yaml.ScalarNode(loader.resolve(yaml.ScalarNode, text, (True, False)), text))
    finally:
        loader.dispose()


class _FailedScalar(yaml.ScalarNode):
    """A scalar whose `${...}` references could not all be substituted; the reader reports `problems` with its key."""

    def __init__(self, problems: list[str], *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.problems = problems


class _Loader(yaml.SafeLoader):
    """A SafeLoader that substitutes `${NAME}` in scalar values before their tags are resolved.

    Substitution happens on scalars, never on the text, so a variable can only ever supply a scalar: its
    value is typed as YAML types a plain scalar when it makes up the whole value, and is a string otherwise.
    """

    def __init__(self, text: str, environ: Mapping[str, str]) -> None:
        super().__init__(text)
        self.environ = environ
        self._composing_key = False

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        """Note whether this node is a mapping key: keys name settings, so they are never substituted."""
        self._composing_key = isinstance(parent, yaml.MappingNode) and index is None
        return super().compose_node(parent, index)

    def compose_scalar_node(self, anchor: str | None) -> yaml.ScalarNode:
        event = self.get_event()
        value, implicit, problems = event.value, event.implicit, []
        if not self._composing_key and _REFERENCE.search(value):
            whole = _REFERENCE.fullmatch(value)
            if whole is None or whole["name"] is None:
                implicit = (False, True)
            value, problems = self._substitute(value)
        tag = event.tag
        if tag is None or tag == "!":
            tag = self.resolve(yaml.ScalarNode, value, implicit)
        if problems:
            node = _FailedScalar(problems, tag, value, event.start_mark, event.end_mark, style=event.style)
        else:
            node = yaml.ScalarNode(tag, value, event.start_mark, event.end_mark, style=event.style)
        if anchor is not None:
            self.anchors[anchor] = node
        return node

    def _substitute(self, value: str) -> tuple[str, list[str]]:
        """The value with references replaced, and what went wrong (reported later, when the key is known)."""
        problems: list[str] = []

        def replace(match: re.Match[str]) -> str:
            name, default = match["name"], match["default"]
            if match[0] == "$${":
                return "${"
            if name is None:
                problems.append("'${' must start ${NAME} or ${NAME:-default} (write $${ for a literal '${')")
                return ""
            if default is not None and "${" in default:
                problems.append(f"the default of ${{{name}}} cannot contain another ${{...}} reference")
                return ""
            found = self.environ.get(name)
            if default is not None:
                return found or default
            if found is None:
                problems.append(
                    f"environment variable {name} is not set (write ${{{name}:-default}} to give a default)"
                )
                return ""
            return found

        return _REFERENCE.sub(replace, value), problems


_INVALID: Any = object()
"""What the reader returns for a value it has reported as wrong; the value is then left out."""

_Pair = tuple[yaml.Node, yaml.Node]

TOP_LEVEL = "a mapping of sections (connect, server, plugins, ...)"


class Reader:
    """Turns the node tree into plain data, recording each value's `Place` and a ConfigError per problem."""

    def __init__(self, loader: _Loader, source: str) -> None:
        self.loader = loader
        self.source = source
        self.errors: list[ConfigError] = []
        self.places: dict[Loc, Place] = {(): Place("", line=1)}
        self._built: dict[int, Any] = {}

    def error(self, node: yaml.Node, key: str, reason: str) -> None:
        self.errors.append(ConfigError(reason, source=self.source, line=node.start_mark.line + 1, key=key or None))

    def document(self, root: yaml.Node | None) -> dict[Any, Any]:
        """The top-level mapping; an empty file is an empty one."""
        if root is None or _is_null(root):
            return {}
        if not isinstance(root, yaml.MappingNode):
            got = "a list" if isinstance(root, yaml.SequenceNode) else describe(self.scalar(root, ""))
            self.error(root, "", f"the top level must be {TOP_LEVEL}, got {got}")
            return {}
        data = self.plain(root, (), "")
        return data if isinstance(data, dict) else {}

    def plain(self, node: yaml.Node, loc: Loc, path: str, key_node: yaml.Node | None = None) -> Any:
        """Dicts, lists and scalars; aliases share one object, as in PyYAML."""
        self.places[loc] = Place(
            path, line=node.start_mark.line + 1, key_line=None if key_node is None else key_node.start_mark.line + 1
        )
        if isinstance(node, yaml.ScalarNode):
            return self.scalar(node, path)
        if id(node) in self._built:
            built = self._built[id(node)]
            if built is _INVALID:
                self.error(node, path, "an alias refers to a node that contains it")
            return built
        self._built[id(node)] = _INVALID
        if isinstance(node, yaml.SequenceNode) and node.tag == _SEQ_TAG:
            built = []
            for index, item in enumerate(node.value):
                value = self.plain(item, (*loc, len(built)), f"{path}[{index}]")
                if value is not _INVALID:
                    built.append(value)
        elif isinstance(node, yaml.MappingNode) and node.tag == _MAP_TAG:
            built = {}
            for key, (key_node, value_node) in self.items(node, path).items():
                value = self.plain(value_node, (*loc, key), _join(path, key), key_node)
                if value is not _INVALID:
                    built[key] = value
        else:
            self.error(node, path, f"the tag {node.tag} is not supported here")
            return _INVALID
        self._built[id(node)] = built
        return built

    def items(self, node: yaml.MappingNode, path: str) -> dict[Any, _Pair]:
        """Key → (key node, value node), with `<<` merges expanded; a key written twice in one mapping is an error."""
        inherited, own = self._merged(node, path, frozenset({id(node)}))
        items: dict[Any, _Pair] = {}
        for key_node, value_node in inherited:
            if (key := self._key(key_node, path)) is not _INVALID:
                items[key] = (key_node, value_node)
        first_line: dict[Any, int] = {}
        for key_node, value_node in own:
            if (key := self._key(key_node, path)) is _INVALID:
                continue
            if key in first_line:
                self.error(key_node, _join(path, key), f"duplicate key (first on line {first_line[key]})")
                continue
            first_line[key] = key_node.start_mark.line + 1
            items[key] = (key_node, value_node)
        return items

    def _merged(self, node: yaml.MappingNode, path: str, seen: frozenset[int]) -> tuple[list[_Pair], list[_Pair]]:
        """Split a mapping into the pairs it merges in with `<<` (earlier sources last, so they win) and its own."""
        inherited: list[_Pair] = []
        own: list[_Pair] = []
        for key_node, value_node in node.value:
            if key_node.tag != _MERGE_TAG:
                own.append((key_node, value_node))
                continue
            sources = value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
            for source in reversed(sources):
                if not isinstance(source, yaml.MappingNode):
                    self.error(source, path, f"must be a mapping to merge with <<, got {self._got(source, path)}")
                elif id(source) in seen:
                    self.error(source, path, "<< merges a mapping into itself")
                else:
                    their_inherited, their_own = self._merged(source, path, seen | {id(source)})
                    inherited += their_inherited + their_own
        return inherited, own

    def _got(self, node: yaml.Node, path: str) -> str:
        if isinstance(node, yaml.MappingNode):
            return "a mapping"
        if isinstance(node, yaml.SequenceNode):
            return "a list"
        return describe(self.scalar(node, path))

    def _key(self, node: yaml.Node, path: str) -> Any:
        if not isinstance(node, yaml.ScalarNode):
            self.error(node, path, f"must be a mapping with scalar keys, got a key that is {self._got(node, path)}")
            return _INVALID
        return self.scalar(node, path)

    def scalar(self, node: yaml.ScalarNode, path: str) -> Any:
        """The Python value of a scalar, as SafeLoader constructs it."""
        if isinstance(node, _FailedScalar):
            for problem in node.problems:
                self.error(node, path, problem)
            return _INVALID
        try:
            return self.loader.construct_object(node)
        except yaml.MarkedYAMLError as error:
            self.error(node, path, f"cannot read this value: {error.problem}")
        except (AttributeError, LookupError, TypeError, ValueError):  # what SafeConstructor lets out of bad !!tags
            tag = node.tag.replace("tag:yaml.org,2002:", "!!")
            self.error(node, path, f"cannot read {node.value!r} as {tag}")
        return _INVALID


def _is_null(node: yaml.Node) -> bool:
    return isinstance(node, yaml.ScalarNode) and not isinstance(node, _FailedScalar) and node.tag == _NULL_TAG


def _syntax_error(error: yaml.YAMLError, source: str) -> ConfigError:
    if not isinstance(error, yaml.MarkedYAMLError):
        return ConfigError(f"invalid YAML: {error}", source=source)
    mark = error.problem_mark or error.context_mark
    reason = "invalid YAML: "
    if error.context:
        reason += (
            f"{error.context} on line {error.context_mark.line + 1}: " if error.context_mark else f"{error.context}: "
        )
    reason += error.problem or ""
    if mark is not None and mark.buffer is not None and mark.buffer[mark.pointer - 1 : mark.pointer + 1] == "${":
        reason += " (inside [...] or {...}, quote a value holding ${...}, or write it in block style)"
    return ConfigError(reason, source=source, line=mark.line + 1 if mark else None)


def read_document(
    text: str, source: str, environ: Mapping[str, str]
) -> tuple[dict[Any, Any], dict[Loc, Place], list[ConfigError]]:
    """The file as plain data, where each value was written, and the problems found on the way.

    A YAML syntax error is raised at once: nothing after it can be read.
    """
    loader = _Loader(text, environ)
    try:
        try:
            root = loader.get_single_node()
        except yaml.YAMLError as error:
            raise _syntax_error(error, source) from error
        reader = Reader(loader, source)
        data = reader.document(root)
    finally:
        loader.dispose()
    return data, reader.places, reader.errors
