"""Load an ingestion config from untrusted bytes: UTF-8, safe YAML, bounded size and alias expansion."""

from __future__ import annotations

import codecs
import functools
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from cryoet_assets.lib.config.models import IngestionConfig, SourceLines, describe

MAX_CONFIG_BYTES = 5 * 1024 * 1024
MAX_EXPANDED_NODES = 200_000
MAX_NESTING_DEPTH = 100
SUPPORTED_VERSIONS = ("1.0.0", "1.1.0", "1.2.0", "1.3.0")

_YAML = "tag:yaml.org,2002:"
_SCALAR_TAGS = frozenset(_YAML + t for t in ("str", "int", "float", "bool", "null", "timestamp"))
_MERGE_TAG = _YAML + "merge"
_PLAIN_KEY = re.compile(r"^[A-Za-z0-9_-]+$")
_FOREIGN_BOMS = (
    (codecs.BOM_UTF32_LE, "UTF-32"),
    (codecs.BOM_UTF32_BE, "UTF-32"),
    (codecs.BOM_UTF16_LE, "UTF-16"),
    (codecs.BOM_UTF16_BE, "UTF-16"),
)

YamlPath = tuple[str | int, ...]


ERROR = "error"
WARNING = "warning"


@dataclass(frozen=True)
class ConfigIssue:
    """One problem found in a config file, located by YAML path and (when known) line.

    `severity` is ERROR (the config is refused) or WARNING (reported, never blocking); `rule` names the
    rule of `rules.RULES` that found it ("" for structural and YAML problems).
    """

    file: str
    yaml_path: str
    line: int | None
    message: str
    severity: str = ERROR
    rule: str = ""

    @property
    def is_error(self) -> bool:
        return self.severity == ERROR

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        message = self.message.replace("\n", " ")
        if not self.is_error:
            message = f"{self.severity}: {message}"
        return f"{where}: {self.yaml_path}: {message}" if self.yaml_path else f"{where}: {message}"


class ConfigError(ValueError):
    """A config file that cannot be loaded; `issues` says every problem found."""

    def __init__(self, issues: Iterable[ConfigIssue]) -> None:
        self.issues: list[ConfigIssue] = list(issues)
        super().__init__("\n".join(str(issue) for issue in self.issues))


def format_yaml_path(path: Sequence[str | int]) -> str:
    """Render a path of YAML keys and list indices as `a.b[3].c`."""
    text = ""
    for segment in path:
        if isinstance(segment, int):
            text += f"[{segment}]"
        elif _PLAIN_KEY.match(segment):
            text += f".{segment}" if text else segment
        else:
            text += f"[{segment!r}]"
    return text


def load_config_file(
    path: str | PathLike[str], *, warnings: list[ConfigIssue] | None = None
) -> IngestionConfig:
    """Read and load the ingestion config at `path`; raise ConfigError naming every problem.

    Warnings of the YAML itself (see `load_config`) are appended to `warnings` when it is given.
    """
    source = str(path)
    try:
        with Path(path).open("rb") as handle:
            data = handle.read(MAX_CONFIG_BYTES + 1)
    except OSError as exc:
        raise ConfigError(
            [ConfigIssue(source, "", None, f"cannot read the file: {exc.strerror or exc}")]
        ) from None
    return load_config(data, source=source, warnings=warnings)


def load_config(data: bytes, *, source: str, warnings: list[ConfigIssue] | None = None) -> IngestionConfig:
    """Parse and validate config bytes (`source` names the file in issues); raise ConfigError if bad.

    A key given twice in one mapping is a warning, appended to `warnings` when it is given: YAML wants
    keys unique, but the portal's loader (PyYAML) keeps the last value and accepts the file, and so
    does this one.
    """
    text = _decode(data, source=source)
    root = _compose(text, source=source)
    found: list[ConfigIssue] = []
    _check_graph(root, source=source, warnings=found)
    plain = _construct(root, source=source)
    _check_version(plain, root, source=source)
    try:
        config = IngestionConfig.model_validate(plain, by_alias=True, by_name=False)
    except ValidationError as exc:
        raise ConfigError(_validation_issues(exc, plain, root, source=source)) from None
    config._source_lines = SourceLines(functools.partial(node_line, root))
    if warnings is not None:
        warnings.extend(found)
    return config


def node_line(root: Node, path: Sequence[str | int]) -> int:
    """1-based line of the deepest node reached by following `path` from `root` (key line for mappings)."""
    node = root
    line = root.start_mark.line + 1
    for segment in path:
        if isinstance(node, MappingNode) and isinstance(segment, str):
            found = _mapping_entry(node, segment)
            if found is None:
                break
            key, node = found
            line = key.start_mark.line + 1
        elif isinstance(node, SequenceNode) and isinstance(segment, int) and 0 <= segment < len(node.value):
            node = node.value[segment]
            line = node.start_mark.line + 1
        else:
            break
    return line


def _mapping_entry(node: MappingNode, key: str) -> tuple[Node, Node] | None:
    merged: list[Node] = []
    explicit: tuple[Node, Node] | None = None
    for key_node, value_node in node.value:
        if key_node.tag == _MERGE_TAG:
            merged.append(value_node)
        elif isinstance(key_node, ScalarNode) and key_node.value == key:
            explicit = (key_node, value_node)  # the last one, as the constructor keeps the last value
    if explicit is not None:
        return explicit
    for source in merged:
        candidates = source.value if isinstance(source, SequenceNode) else [source]
        for candidate in candidates:
            if isinstance(candidate, MappingNode):
                found = _mapping_entry(candidate, key)
                if found is not None:
                    return found
    return None


def _issue(
    source: str, message: str, *, line: int | None = None, path: Sequence[str | int] = ()
) -> ConfigError:
    return ConfigError([ConfigIssue(source, format_yaml_path(path), line, message)])


def _decode(data: bytes, *, source: str) -> str:
    if len(data) > MAX_CONFIG_BYTES:
        raise _issue(
            source, f"the file is larger than the {MAX_CONFIG_BYTES // (1024 * 1024)} MiB limit for a config"
        )
    for bom, name in _FOREIGN_BOMS:
        if data.startswith(bom):
            raise _issue(
                source,
                f"the file is {name} encoded (byte order mark at byte offset 0): configs must be UTF-8",
            )
    offset = len(codecs.BOM_UTF8) if data.startswith(codecs.BOM_UTF8) else 0
    body = data[offset:]
    nul = body.find(b"\x00")
    if nul >= 0:
        at = nul + offset
        raise _issue(
            source,
            f"NUL byte at byte offset {at}: the file is binary or UTF-16/32 encoded; configs must be UTF-8",
            line=data.count(b"\n", 0, at) + 1,
        )
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        at = exc.start + offset
        raise _issue(
            source,
            f"the file is not valid UTF-8: byte 0x{data[at]:02x} at byte offset {at} ({exc.reason}); "
            "configs must be UTF-8 (re-save it as UTF-8 if it is Latin-1 or another legacy encoding)",
            line=data.count(b"\n", 0, at) + 1,
        ) from None


class _TooManyNodes(Exception):
    pass


class _CountingLoader(yaml.SafeLoader):
    """A safe loader that stops composing once the document holds more nodes than any config needs."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.node_count = 0

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        self.node_count += 1
        if self.node_count > MAX_EXPANDED_NODES:
            raise _TooManyNodes(self.get_mark())
        return super().compose_node(parent, index)


def _compose(text: str, *, source: str) -> Node:
    loader = None
    try:
        loader = _CountingLoader(text)
        root = loader.get_single_node()
    except _TooManyNodes as exc:
        mark = exc.args[0]
        raise _issue(
            source, f"the document has more than {MAX_EXPANDED_NODES} YAML nodes", line=mark.line + 1
        ) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        context = exc.context
        if context and context.startswith("while ") and exc.context_mark and exc.context_mark.line != mark.line:
            # e.g. a quote left open: the scalar it starts is where to look, not where the scanner gave up
            context = f"{context} that starts on line {exc.context_mark.line + 1}"
        detail = "; ".join(part for part in (context, exc.problem) if part)
        raise _issue(source, f"invalid YAML: {detail}", line=mark.line + 1 if mark else None) from None
    except yaml.reader.ReaderError as exc:
        raise _issue(
            source,
            f"invalid YAML: character U+{exc.character:04X} is not allowed ({exc.reason})",
            line=text.count("\n", 0, exc.position) + 1,
        ) from None
    except yaml.YAMLError as exc:
        raise _issue(source, f"invalid YAML: {exc}") from None
    except RecursionError:
        raise _issue(source, f"invalid YAML: nested deeper than {MAX_NESTING_DEPTH} levels") from None
    finally:
        if loader is not None:
            loader.dispose()
    if root is None:
        raise _issue(
            source, "the file is empty: a config is a YAML mapping of sections (version, datasets, ...)"
        )
    if not isinstance(root, MappingNode):
        kind = "a list" if isinstance(root, SequenceNode) else "a single value"
        raise _issue(
            source,
            f"the top level must be a mapping of sections (version, datasets, runs, ...), not {kind}",
            line=root.start_mark.line + 1,
        )
    return root


def _children(node: Node) -> Iterator[Node]:
    if isinstance(node, SequenceNode):
        yield from node.value
    elif isinstance(node, MappingNode):
        for key, value in node.value:
            yield key
            yield value


def _check_graph(root: Node, *, source: str, warnings: list[ConfigIssue]) -> None:
    """Reject unsafe tags, complex keys, recursive aliases, deep nesting and alias bombs.

    Duplicate keys are appended to `warnings`.
    """
    expanded: dict[int, int] = {}
    on_stack: set[int] = set()
    stack: list[tuple[Node, Iterator[Node]]] = [(root, _children(root))]
    on_stack.add(id(root))
    _check_node(root, source=source, warnings=warnings)
    while stack:
        node, pending = stack[-1]
        child = next(pending, None)
        if child is not None:
            if id(child) in on_stack:
                raise _issue(
                    source,
                    f"recursive alias: the node anchored on line {child.start_mark.line + 1} "
                    "contains an alias to itself",
                    line=_reference_line(node, child),
                )
            if id(child) not in expanded:
                if len(stack) >= MAX_NESTING_DEPTH:
                    raise _issue(
                        source,
                        f"the YAML is nested deeper than {MAX_NESTING_DEPTH} levels",
                        line=child.start_mark.line + 1,
                    )
                _check_node(child, source=source, warnings=warnings)
                on_stack.add(id(child))
                stack.append((child, _children(child)))
            continue
        stack.pop()
        on_stack.discard(id(node))
        # Aliased nodes are counted once per reference: this is the size the data has once expanded.
        total = 1 + sum(expanded[id(c)] for c in _children(node))
        if total > MAX_EXPANDED_NODES:
            raise _issue(
                source,
                f"aliases expand to more than {MAX_EXPANDED_NODES} YAML nodes (alias bomb?)",
                line=node.start_mark.line + 1,
            )
        expanded[id(node)] = total


def _reference_line(parent: Node, child: Node) -> int:
    """Line where `parent` refers to `child` (the key line inside a mapping, else the parent's line)."""
    if isinstance(parent, MappingNode):
        for key, value in parent.value:
            if value is child:
                return key.start_mark.line + 1
    return parent.start_mark.line + 1


def _check_node(node: Node, *, source: str, warnings: list[ConfigIssue]) -> None:
    line = node.start_mark.line + 1
    if isinstance(node, ScalarNode):
        if node.tag not in _SCALAR_TAGS and node.tag != _MERGE_TAG:
            raise _issue(
                source, f"unsupported YAML tag {node.tag!r}: only plain YAML data is allowed", line=line
            )
        return
    expected = _YAML + ("seq" if isinstance(node, SequenceNode) else "map")
    if node.tag != expected:
        raise _issue(source, f"unsupported YAML tag {node.tag!r}: only plain YAML data is allowed", line=line)
    if isinstance(node, MappingNode):
        seen: dict[tuple[str, str], int] = {}
        for key, _value in node.value:
            key_line = key.start_mark.line + 1
            if not isinstance(key, ScalarNode):
                raise _issue(
                    source, "mapping keys must be plain scalars, not lists or mappings", line=key_line
                )
            if key.tag == _MERGE_TAG:
                continue
            if (key.tag, key.value) in seen:
                warnings.append(
                    ConfigIssue(
                        source,
                        "",
                        key_line,
                        f"duplicate key {key.value!r} (first defined on line {seen[(key.tag, key.value)]}): "
                        "the last value is used",
                        severity=WARNING,
                        rule="duplicate-key",
                    )
                )
            else:
                seen[(key.tag, key.value)] = key_line


def _construct(root: Node, *, source: str) -> dict[str, Any]:
    constructor = yaml.SafeLoader("")
    try:
        return constructor.construct_document(root)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise _issue(
            source, f"invalid YAML value: {exc.problem}", line=mark.line + 1 if mark else None
        ) from None
    except (ValueError, OverflowError) as exc:
        # A scalar that resolves to a type but cannot be built, e.g. the date 2024-13-45.
        line, text = _bad_scalar(root)
        raise _issue(source, f"invalid YAML value {text[:60]!r}: {exc}", line=line) from None
    finally:
        constructor.dispose()


def _bad_scalar(root: Node) -> tuple[int | None, str]:
    """Line and text of the first scalar that cannot be constructed."""
    constructor = yaml.SafeLoader("")
    seen: set[int] = set()
    pending = [root]
    try:
        while pending:
            node = pending.pop()
            if id(node) in seen:
                continue
            seen.add(id(node))
            if isinstance(node, ScalarNode):
                try:
                    constructor.construct_object(node)
                except (ValueError, OverflowError):
                    return node.start_mark.line + 1, node.value
            else:
                pending.extend(reversed(list(_children(node))))
    finally:
        constructor.dispose()
    return None, ""


def _check_version(plain: dict[str, Any], root: Node, *, source: str) -> None:
    if "version" not in plain:
        return
    version = plain["version"]
    line = node_line(root, ("version",))
    if not isinstance(version, str):
        raise _issue(
            source,
            f"must be a string such as '1.3.0', got {describe(version)} (quote it)",
            line=line,
            path=("version",),
        )


def _validation_issues(exc: ValidationError, plain: Any, root: Node, *, source: str) -> list[ConfigIssue]:
    issues: dict[tuple[str, str], ConfigIssue] = {}
    for error in exc.errors(include_url=False):
        path, value = _data_path(plain, error["loc"], missing=error["type"] == "missing")
        message = _message(error, value)
        issue = ConfigIssue(source, format_yaml_path(path), node_line(root, path), message)
        issues.setdefault((issue.yaml_path, issue.message), issue)
    return sorted(issues.values(), key=lambda issue: (issue.line or 0, issue.yaml_path))


def _data_path(plain: Any, loc: Sequence[str | int], *, missing: bool) -> tuple[YamlPath, Any]:
    """The part of a pydantic error location that names real YAML keys/indices (union tags dropped)."""
    path: list[str | int] = []
    current = plain
    for position, segment in enumerate(loc):
        if isinstance(current, dict) and isinstance(segment, str) and segment in current:
            current = current[segment]
            path.append(segment)
        elif isinstance(current, list) and isinstance(segment, int) and 0 <= segment < len(current):
            current = current[segment]
            path.append(segment)
        elif missing and position == len(loc) - 1 and isinstance(segment, str):
            path.append(segment)
            current = None
    return tuple(path), current


def _message(error: Any, value: Any) -> str:
    kind = error["type"]
    loc = error["loc"]
    if kind == "missing":
        return "required key is missing"
    if kind == "extra_forbidden":
        return f"unknown key {loc[-1]!r}" if loc else "unknown key"
    if kind == "config_value":
        return str(error["ctx"]["reason"]) if error.get("ctx") else error["msg"]
    if kind in _EXPECTED:
        return f"expected {_EXPECTED[kind]}, got {describe(value)}"
    if kind == "enum":
        return f"expected one of {error['ctx']['expected']}, got {describe(value)}"
    message = error["msg"]
    message = f"{message[:1].lower()}{message[1:]}"
    return f"{message}, got {describe(value)}" if kind.endswith("_type") else message


_EXPECTED = {
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
    "dict_type": "a mapping",
    "list_type": "a list",
    "string_type": "a string",
    "bool_type": "true or false",
}
