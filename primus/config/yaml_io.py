"""Reading YAML safely, keeping the line of every key.

One entry point, :func:`read_yaml_file`, turns a file into nested :class:`LineDict` / :class:`LineList`
objects (plain ``dict``/``list`` subclasses that also remember the file and the 1-based line of each key or
item). Everything a careless or hostile file could do is refused with a :mod:`primus.errors` class
that names the file and the line:

- files over :data:`MAX_FILE_BYTES` are refused from ``stat`` alone, before any byte is read;
- NUL bytes and invalid UTF-8 give the byte offset and the line;
- duplicate keys in one mapping (which ``yaml.safe_load`` silently collapses) name both lines;
- only the YAML core schema is accepted (str, int, float, bool, null, map, seq, plus ``<<`` merge keys);
  ``!!python/object``, ``!!binary``, ``!!timestamp``, ``!custom`` ... are refused. Unquoted dates stay
  strings (the resolved config must serialise to JSON/TOML unchanged);
- aliases that would expand the document by more than :data:`MAX_ALIAS_EXPANSION` nodes ("billion laughs")
  and nesting deeper than :data:`MAX_DEPTH` are refused after parsing, before anything is constructed;
- more than :data:`MAX_NODES` nodes are refused by a streaming count that stops at the limit, before the
  document is composed (composing costs about 20 µs a node, so a 9 MB flow list of 4 M items would take
  over a minute): any file under the size limit is answered in well under a second.

YAML 1.1 scalars keep PyYAML's meaning (``yes``/``on`` are booleans) because Primus reads its files with
PyYAML and the reference configs must resolve exactly as Primus resolves them.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from yaml.composer import Composer
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.parser import Parser
from yaml.reader import Reader
from yaml.resolver import Resolver
from yaml.scanner import Scanner

from primus.errors import (
    AliasBombError,
    ConfigKeyError,
    ConfigValueError,
    DuplicateKeyError,
    EmptyFileError,
    FileEncodingError,
    FileTooLargeError,
    NestingTooDeepError,
    NotAMappingError,
    TooManyNodesError,
    UnsafeTagError,
    YamlSyntaxError,
)

try:  # libyaml's parser is ~10x faster; the pure-Python one gives the same nodes
    from yaml.cyaml import CParser

    HAVE_LIBYAML = True
except ImportError:  # pragma: no cover - depends on how PyYAML was built
    CParser = None
    HAVE_LIBYAML = False


class _PyParser(Reader, Scanner, Parser, Composer):
    """PyYAML's pure-Python reader/scanner/parser/composer (used when libyaml is absent)."""

    def __init__(self, stream: str) -> None:
        Reader.__init__(self, stream)
        Scanner.__init__(self)
        Parser.__init__(self)
        Composer.__init__(self)


#: Largest file the loader reads, in bytes (checked with ``stat`` before reading).
MAX_FILE_BYTES = 10 * 1024 * 1024
#: How many nodes aliases may add on top of the nodes actually written (a config needs a handful).
MAX_ALIAS_EXPANSION = 10_000
#: Deepest nesting of mappings/lists accepted (real configs stay under 10).
MAX_DEPTH = 100
#: Most nodes (scalars, mappings, lists, aliases) one file may hold; Primus's largest config has a few
#: hundred. Bounds the time to answer any file under MAX_FILE_BYTES (see bench/RESULTS.md).
MAX_NODES = 20_000

_CORE = "tag:yaml.org,2002:"
#: Tags a file may carry, explicitly or by implicit resolution.
ALLOWED_TAGS = frozenset(
    _CORE + name for name in ("str", "int", "float", "bool", "null", "map", "seq", "merge", "value")
)


class LineDict(dict):
    """A mapping read from YAML. ``origins[key]`` is ``(file, line)`` of the key (1-based line).

    ``file``/``line`` locate the mapping itself. Mappings merged from several files keep each key's own file.
    """

    __slots__ = ("file", "line", "origins")

    def __init__(self, file: str = "", line: int = 0) -> None:
        super().__init__()
        self.file = file
        self.line = line
        self.origins: dict[str, tuple[str, int]] = {}

    def line_of(self, key: str) -> int:
        """1-based line of ``key`` (the mapping's own line when the key carries none)."""
        return self.origins.get(key, (self.file, self.line))[1]

    def origin_of(self, key: str) -> tuple[str, int]:
        """``(file, line)`` of ``key`` (the mapping's own location when the key carries none)."""
        return self.origins.get(key, (self.file, self.line))


class LineList(list):
    """A sequence read from YAML; ``item_lines[i]`` is the 1-based line of item ``i``."""

    __slots__ = ("file", "item_lines", "line")

    def __init__(self, file: str = "", line: int = 0) -> None:
        super().__init__()
        self.file = file
        self.line = line
        self.item_lines: list[int] = []


class _CoreResolver(Resolver):
    """PyYAML's resolver with two fixes.

    No implicit timestamps: ``2024-01-01`` stays a string. Exponent floats without a dot (``1e-4``), which
    YAML 1.1 reads as strings (a Primus pitfall: ``lr: 1e-5`` reached the optimizer as text), are floats.
    """


_CoreResolver.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != _CORE + "timestamp"]
    for first, resolvers in Resolver.yaml_implicit_resolvers.items()
}
_CoreResolver.add_implicit_resolver(
    _CORE + "float", re.compile(r"^[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"), list("-+0123456789")
)


class _LineConstructor(SafeConstructor):
    """Builds LineDict/LineList and refuses duplicate and non-string keys."""

    display_file = ""

    def construct_line_map(self, node: MappingNode):
        data = LineDict(self.display_file, node.start_mark.line + 1)
        yield data
        explicit = sum(1 for key_node, _ in node.value if key_node.tag != _CORE + "merge")
        self.flatten_mapping(node)  # resolves ``<<``; merged pairs come first, explicit ones last
        first_explicit = len(node.value) - explicit
        seen: dict[Any, int] = {}
        for index, (key_node, value_node) in enumerate(node.value):
            line = key_node.start_mark.line + 1
            key = self.construct_object(key_node, deep=False)
            if not isinstance(key, str):
                raise ConfigKeyError(
                    f"key {key!r} is a {kind_of(key)}, keys must be strings",
                    file=self.display_file,
                    line=line,
                    hint=f"quote it: '{key_node.value}':" if isinstance(key_node, ScalarNode) else None,
                )
            if index >= first_explicit:
                if key in seen:
                    raise DuplicateKeyError(
                        f"duplicate key (first at line {seen[key]}, again at line {line})",
                        file=self.display_file,
                        line=line,
                        key=key,
                        first_line=seen[key],
                        hint="keep one of them: YAML would silently drop the first",
                    )
                seen[key] = line
            data[key] = self.construct_object(value_node, deep=False)
            data.origins[key] = (self.display_file, line)

    def construct_line_seq(self, node: SequenceNode):
        data = LineList(self.display_file, node.start_mark.line + 1)
        yield data
        for child in node.value:
            data.append(self.construct_object(child, deep=False))
            data.item_lines.append(child.start_mark.line + 1)

    def construct_checked_int(self, node: ScalarNode) -> int:
        """PyYAML's int, with Python's 4300-digit conversion limit reported instead of raised."""
        try:
            return SafeConstructor.construct_yaml_int(self, node)
        except ValueError:
            raise ConfigValueError(
                f"an integer of {len(node.value)} characters does not fit any machine type",
                file=self.display_file,
                line=node.start_mark.line + 1,
                hint="no training run can use a number this large; check for a typo",
            ) from None

    def construct_value_as_str(self, node: ScalarNode) -> str:
        return str(node.value)  # a lone ``=`` is text in a config, not PyYAML's "value" key


_LineConstructor.yaml_constructors = {
    tag: constructor for tag, constructor in SafeConstructor.yaml_constructors.items() if tag in ALLOWED_TAGS
}
_LineConstructor.add_constructor(_CORE + "map", _LineConstructor.construct_line_map)
_LineConstructor.add_constructor(_CORE + "seq", _LineConstructor.construct_line_seq)
_LineConstructor.add_constructor(_CORE + "value", _LineConstructor.construct_value_as_str)
_LineConstructor.add_constructor(_CORE + "int", _LineConstructor.construct_checked_int)


class _PyLoader(_PyParser, _LineConstructor, _CoreResolver):
    """The loader on the pure-Python parser."""

    def __init__(self, stream: str, display_file: str) -> None:
        _PyParser.__init__(self, stream)
        _LineConstructor.__init__(self)
        _CoreResolver.__init__(self)
        self.display_file = display_file


if CParser is not None:

    class _CLoader(CParser, _LineConstructor, _CoreResolver):  # type: ignore[misc, valid-type]
        """The loader on libyaml's parser (same nodes, ~10x faster)."""

        def __init__(self, stream: str, display_file: str) -> None:
            CParser.__init__(self, stream)
            _LineConstructor.__init__(self)
            _CoreResolver.__init__(self)
            self.display_file = display_file

    _Loader: type = _CLoader
else:  # pragma: no cover - depends on how PyYAML was built
    _Loader = _PyLoader


def _check_nodes(root: Node, file: str) -> None:
    """Refuse tags outside the core schema, alias bombs, recursive aliases and excessive nesting.

    Runs on the composed node graph, where an alias is a second reference to the same node object, so the
    expanded size of every node is computed once (memoised by identity) without expanding anything.
    """
    expanded: dict[int, int] = {}
    in_progress: set[int] = set()
    unique = 0

    def walk(node: Node, depth: int) -> int:
        nonlocal unique
        node_id = id(node)
        if node_id in expanded:
            return expanded[node_id]
        line = node.start_mark.line + 1
        if node_id in in_progress:
            raise AliasBombError(
                "an alias refers to the mapping or list that contains it", file=file, line=line
            )
        if depth > MAX_DEPTH:
            raise NestingTooDeepError(f"nesting deeper than {MAX_DEPTH} levels", file=file, line=line)
        if node.tag not in ALLOWED_TAGS:
            raise UnsafeTagError(
                f"tag '{_short_tag(node.tag)}' is not allowed",
                file=file,
                line=line,
                tag=node.tag,
                hint="only plain YAML (strings, numbers, booleans, null, mappings, lists) is accepted",
            )
        unique += 1
        size = 1
        if isinstance(node, (MappingNode, SequenceNode)):
            in_progress.add(node_id)
            children = (
                node.value if isinstance(node, SequenceNode) else [n for pair in node.value for n in pair]
            )
            for child in children:
                size += walk(child, depth + 1)
                if size - unique > MAX_ALIAS_EXPANSION:
                    raise AliasBombError(
                        f"aliases expand this document by more than {MAX_ALIAS_EXPANSION} nodes",
                        file=file,
                        line=line,
                        hint="write the values out, or use fewer nested aliases",
                    )
            in_progress.discard(node_id)
        expanded[node_id] = size
        return size

    walk(root, 0)


def _short_tag(tag: str) -> str:
    return "!!" + tag[len(_CORE) :] if tag.startswith(_CORE) else tag


def _syntax_error(error: yaml.YAMLError, file: str) -> YamlSyntaxError:
    mark = getattr(error, "problem_mark", None)
    problem = getattr(error, "problem", None) or str(error)
    context = getattr(error, "context", None)
    context_mark = getattr(error, "context_mark", None)
    message = f"YAML syntax error: {problem}"
    if context:
        where = f" started at line {context_mark.line + 1}" if context_mark is not None else ""
        message += f" ({context}{where})"
    line = mark.line + 1 if mark is not None else 0
    column = mark.column + 1 if mark is not None else 0
    return YamlSyntaxError(message, file=file, line=line, column=column)


def parse_yaml_text(text: str, file: str) -> Any:
    """Parse one YAML document; returns LineDict/LineList/scalar, or None for an empty document.

    ``file`` is only used in error messages.
    """
    if len(text) > MAX_NODES:  # every node takes at least one character: shorter texts are within the limit
        _refuse_too_many_nodes(text, file)
    loader = _Loader(text, file)
    try:
        try:
            node = loader.get_single_node()
        except yaml.YAMLError as error:
            raise _syntax_error(error, file) from None
        except RecursionError:  # the pure-Python composer on pathological nesting
            raise NestingTooDeepError(f"nesting deeper than {MAX_DEPTH} levels", file=file, line=0) from None
        if node is None:
            return None
        _check_nodes(node, file)
        try:
            return loader.construct_document(node)
        except yaml.YAMLError as error:  # e.g. a merge key ``<<`` on something that is not a mapping
            raise _syntax_error(error, file) from None
    finally:
        loader.dispose()


_NODE_EVENTS = (yaml.ScalarEvent, yaml.MappingStartEvent, yaml.SequenceStartEvent, yaml.AliasEvent)


def _refuse_too_many_nodes(text: str, file: str) -> None:
    """Count nodes from the parser's event stream, stopping at :data:`MAX_NODES` + 1 (cost bounded by it)."""
    parser = CParser(text) if CParser is not None else _PyParser(text)
    count = 0
    try:
        while (event := parser.get_event()) is not None and not isinstance(event, yaml.StreamEndEvent):
            if isinstance(event, _NODE_EVENTS):
                count += 1
                if count > MAX_NODES:
                    raise TooManyNodesError(
                        f"more than {MAX_NODES:,} YAML nodes (keys, values and list items); "
                        "no experiment config needs that many",
                        file=file,
                        line=event.start_mark.line + 1,
                        hint="is this really a config file? Data belongs in files the config names by path",
                    )
    except yaml.YAMLError as error:
        raise _syntax_error(error, file) from None
    finally:
        parser.dispose()


def decode_config_bytes(data: bytes, file: str) -> str:
    """UTF-8 text of a config file; NUL bytes and invalid UTF-8 are refused with offset and line."""
    nul = data.find(b"\0")
    if nul >= 0:
        raise FileEncodingError(
            f"NUL byte at byte offset {nul}: this is not a text file",
            file=file,
            line=data.count(b"\n", 0, nul) + 1,
            offset=nul,
            hint="config files must be UTF-8 text",
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        offset = error.start
        raise FileEncodingError(
            f"invalid UTF-8 at byte offset {offset} (byte 0x{data[offset]:02x})",
            file=file,
            line=data.count(b"\n", 0, offset) + 1,
            offset=offset,
            hint="save the file as UTF-8",
        ) from None


def read_bytes_limited(path: Path, file: str) -> bytes:
    """The bytes of ``path``, refusing files over :data:`MAX_FILE_BYTES` before reading them."""
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise _too_large(file, size)
    with path.open("rb") as stream:
        data = stream.read(MAX_FILE_BYTES + 1)  # the file may have grown since stat
    if len(data) > MAX_FILE_BYTES:
        raise _too_large(file, len(data))
    return data


def _too_large(file: str, size: int) -> FileTooLargeError:
    return FileTooLargeError(
        f"file is {size / 2**20:.1f} MiB, over the {MAX_FILE_BYTES // 2**20} MiB limit for a config",
        file=file,
        size=size,
        limit=MAX_FILE_BYTES,
        hint="is this really a config file?",
    )


def read_yaml_mapping(path: Path, file: str) -> LineDict:
    """Read ``path`` (an existing file) as a top-level mapping; ``file`` is its display path for messages."""
    return _as_mapping(parse_yaml_text(decode_config_bytes(read_bytes_limited(path, file), file), file), file)


def _as_mapping(root: Any, file: str) -> LineDict:
    if root is None:
        raise EmptyFileError(
            "the file is empty (no YAML document)", file=file, line=0, hint="a config file is a YAML mapping"
        )
    if not isinstance(root, LineDict):
        raise NotAMappingError(
            f"the top level is a {_kind(root)}, expected a mapping of keys to values",
            file=file,
            line=1,
            hint="write `key: value` lines at the top level",
        )
    return root


_CACHE: dict[tuple[str, int, int, str], tuple[LineDict, bool]] = {}


def read_yaml_cached(path: Path, file: str) -> tuple[LineDict, bool]:
    """:func:`read_yaml_mapping` memoised per process by (path, mtime, size, display path).

    Returns the mapping and whether the file's text contains ``${`` at all (when it does not, interpolation
    can be skipped). The mapping is shared: callers must not mutate it (the loader copies what it keeps).
    """
    stat = path.stat()
    cache_key = (str(path), stat.st_mtime_ns, stat.st_size, file)
    cached = _CACHE.get(cache_key)
    if cached is None:
        text = decode_config_bytes(read_bytes_limited(path, file), file)
        cached = (_as_mapping(parse_yaml_text(text, file), file), "${" in text)
        if len(_CACHE) > 512:  # a CLI run reads a few dozen files; bound memory in long-lived processes
            _CACHE.clear()
        _CACHE[cache_key] = cached
    return cached


def clear_cache() -> None:
    """Forget every parsed file (tests that rewrite a file within one mtime tick call this)."""
    _CACHE.clear()


def to_plain(value: Any) -> Any:
    """A deep copy with LineDict/LineList turned into plain dict/list (what the resolved config holds)."""
    if not isinstance(value, (dict, list)):
        return value
    if isinstance(value, dict):
        return {key: to_plain(item) for key, item in value.items()}
    return [to_plain(item) for item in value]


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, list):
        return "list"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    return "string" if isinstance(value, str) else type(value).__name__


def kind_of(value: Any) -> str:
    """A user-facing word for the YAML kind of ``value`` ("mapping", "list", "string" ...)."""
    return "mapping" if isinstance(value, dict) else _kind(value)


_SCALAR_SAFE = re.compile(r"[^\n\r]*")


def parse_scalar(text: str) -> Any:
    """A command-line value read as YAML (``5`` -> 5, ``1e-4`` -> 0.0001, ``[a, b]`` -> list).

    The empty string stays the empty string (YAML would read it as null); text YAML cannot parse stays text.
    """
    if text == "" or not _SCALAR_SAFE.fullmatch(text):
        return text
    try:
        value = parse_yaml_text(text, "<command line>")
    except (YamlSyntaxError, UnsafeTagError, AliasBombError, NestingTooDeepError, ConfigKeyError):
        return text
    return to_plain(value)
