"""Safe YAML loading that remembers the line of every field.

Bundle authors need "schema/schema.yaml line 12" rather than "somewhere in the schema", so
documents are composed into nodes (which carry marks) and converted to plain data here,
recording the line of each key and list item on the way.

Beyond yaml.SafeLoader this also:
- caps aliases and expanded nodes, so "billion laughs" documents fail fast;
- refuses duplicate keys (PyYAML silently keeps the last one);
- keeps dates such as 2024-01-01 as strings (specs and schemas are JSON data, and
  JSON Schema has no date type), and refuses tags other than the JSON-compatible ones.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.events import AliasEvent
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from baryon.bundles.errors import BundleError, PathPart, YamlSyntaxError, field_path

MAX_ALIASES = 100
# Without aliases a document cannot hold more nodes than characters, so this only
# stops alias amplification, whatever the file size limit is.
EXTRA_NODES = 10_000
MAX_NESTING = 64

_TAG = "tag:yaml.org,2002:"
_SCALAR_TAGS = frozenset(_TAG + name for name in ("str", "int", "float", "bool", "null"))
_MERGE_TAG = _TAG + "merge"

Path = tuple[PathPart, ...]


# libyaml's parser is about ten times faster than the pure-Python one; both give marks.
_BaseLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_BaseLoader):  # type: ignore[misc, valid-type]
    """The fastest available safe loader, with timestamps left as strings."""

    # Plain scalars that look like dates stay strings: drop that implicit resolver.
    yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag != _TAG + "timestamp"]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }


_LONE_SURROGATE = "text holds a lone UTF-16 surrogate (such as \\ud800), which is not Unicode"


def _is_unicode(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _count_aliases(text: str) -> None:
    # Composing is linear in the text, but every alias can double what a naive walk
    # expands; a cheap event pass refuses alias-heavy documents before composing.
    aliases = 0
    for event in yaml.parse(text, Loader=_Loader):
        if isinstance(event, AliasEvent):
            aliases += 1
            if aliases > MAX_ALIASES:
                raise _Refused(f"more than {MAX_ALIASES} YAML aliases", event.start_mark.line + 1)


class _Refused(Exception):
    def __init__(self, reason: str, line: int | None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.line = line


@dataclass(frozen=True)
class YamlDocument:
    """Plain data loaded from one YAML file plus the line of every field in it."""

    file: str
    data: Any
    lines: Mapping[Path, int] = field(repr=False)

    def line(self, path: Path) -> int | None:
        """Line of `path`, or of its nearest ancestor present in the file."""
        for end in range(len(path), -1, -1):
            found = self.lines.get(tuple(path[:end]))
            if found is not None:
                return found
        return None

    def error(self, path: Path, reason: str) -> BundleError:
        return BundleError(
            reason, file=self.file, line=self.line(path), field=field_path(path) or None
        )


def load_yaml(text: str, file: str, *, max_bytes: int) -> YamlDocument:
    """Parse one YAML document; every problem becomes a BundleError naming `file`."""
    try:
        size = len(text.encode("utf-8"))
    except UnicodeEncodeError as exc:
        line = text.count("\n", 0, exc.start) + 1
        raise BundleError(_LONE_SURROGATE, file=file, line=line) from None
    if size > max_bytes:
        raise BundleError(f"file is {size} bytes; the limit is {max_bytes}", file=file)
    loader = _Loader(text)
    try:
        _count_aliases(text)
        root = loader.get_single_node()
        converter = _Converter(loader, max_nodes=len(text) + EXTRA_NODES)
        data = converter.convert(root, (), 0) if root is not None else None
    except yaml.MarkedYAMLError as exc:
        raise _syntax_error(exc, file) from None
    except yaml.YAMLError as exc:
        raise YamlSyntaxError(f"invalid YAML: {exc}", file=file) from None
    except _Refused as exc:
        raise BundleError(exc.reason, file=file, line=exc.line) from None
    except RecursionError:
        raise BundleError("YAML is nested too deeply", file=file) from None
    finally:
        loader.dispose()
    return YamlDocument(file=file, data=data, lines=converter.lines if root else {})


def _syntax_error(exc: yaml.MarkedYAMLError, file: str) -> YamlSyntaxError:
    mark = exc.problem_mark or exc.context_mark
    line = mark.line + 1 if mark is not None else None
    problem = ", ".join(part for part in (exc.context, exc.problem) if part) or "syntax error"
    # An unclosed bracket or quote is noticed lines later; say where it was opened. (For
    # block mappings the context is merely the mapping's first key, which helps nobody.)
    opened = exc.context_mark
    if (
        opened is not None
        and line is not None
        and opened.line + 1 < line
        and "block" not in (exc.context or "")
    ):
        problem += f" (opened on line {opened.line + 1})"
    return YamlSyntaxError(f"invalid YAML: {problem}", file=file, line=line)


class _Converter:
    def __init__(self, loader: _Loader, max_nodes: int) -> None:
        self.loader = loader
        self.max_nodes = max_nodes
        self.lines: dict[Path, int] = {(): 1}
        self.nodes = 0

    def convert(self, node: Node, path: Path, depth: int) -> Any:
        # Aliases make the node graph a DAG; counting visits bounds the expanded size.
        self.nodes += 1
        line = node.start_mark.line + 1
        if self.nodes > self.max_nodes:
            raise _Refused(f"YAML aliases expand to more than {self.max_nodes} nodes", line)
        if depth > MAX_NESTING:
            raise _Refused(f"YAML is nested more than {MAX_NESTING} levels deep", line)
        if isinstance(node, ScalarNode):
            if node.tag not in _SCALAR_TAGS:
                raise _Refused(f"YAML tag {node.tag!r} is not supported here", line)
            value = self.loader.construct_object(node)
            # PyYAML's own parser (unlike libyaml) turns a "\ud800" escape into a lone
            # surrogate, a string no database or response can encode.
            if isinstance(value, str) and not value.isascii() and not _is_unicode(value):
                raise _Refused(_LONE_SURROGATE, line)
            return value
        if isinstance(node, SequenceNode):
            if node.tag != _TAG + "seq":
                raise _Refused(f"YAML tag {node.tag!r} is not supported here", line)
            items = []
            for index, item in enumerate(node.value):
                self.lines.setdefault((*path, index), item.start_mark.line + 1)
                items.append(self.convert(item, (*path, index), depth + 1))
            return items
        if isinstance(node, MappingNode):
            if node.tag != _TAG + "map":
                raise _Refused(f"YAML tag {node.tag!r} is not supported here", line)
            return self._mapping(node, path, depth)
        raise _Refused("unsupported YAML node", line)

    def _mapping(self, node: MappingNode, path: Path, depth: int) -> dict[Any, Any]:
        result: dict[Any, Any] = {}
        first_line: dict[Any, int] = {}
        merged: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key_line = key_node.start_mark.line + 1
            if key_node.tag == _MERGE_TAG:
                merged.update(self._merge_sources(value_node, path, depth))
                continue
            if not isinstance(key_node, ScalarNode) or key_node.tag not in _SCALAR_TAGS:
                raise _Refused("mapping keys must be plain scalars", key_line)
            key = self.loader.construct_object(key_node)
            if key in first_line:
                raise _Refused(
                    f"duplicate key {key!r} (first used on line {first_line[key]})", key_line
                )
            first_line[key] = key_line
            self.lines.setdefault((*path, key), key_line)
            result[key] = self.convert(value_node, (*path, key), depth + 1)
        # YAML merge keys ("<<: *base") supply values only where the mapping has none.
        return {**merged, **result}

    def _merge_sources(self, node: Node, path: Path, depth: int) -> dict[Any, Any]:
        sources = node.value if isinstance(node, SequenceNode) else [node]
        merged: dict[Any, Any] = {}
        for source in reversed(sources):  # earlier sources win, as in YAML's merge spec
            value = self.convert(source, path, depth + 1)
            if not isinstance(value, dict):
                raise _Refused("a '<<' merge key needs a mapping", source.start_mark.line + 1)
            merged.update(value)
        return merged
