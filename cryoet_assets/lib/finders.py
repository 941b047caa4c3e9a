"""Resolve config `sources` entries (source/destination globs, multi globs, literals) to found items."""

from __future__ import annotations

import dataclasses
import posixpath
import re
import string
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from cryoet_assets.lib.storage import Bucket, UnsafePathError, escape_glob, join_key, safe_key, safe_prefix

FINDER_KINDS = ("source_glob", "source_multi_glob", "destination_glob", "literal")
FILTER_KEYS = ("exclude", "parent_filters")
URL_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://")


class FinderError(ValueError):
    """A config source entry that cannot be resolved (bad shape, bad regex, unknown template variable)."""


@dataclass(frozen=True)
class Found:
    """One item a source found: its name and, for file finders, its bucket-relative path and which bucket."""

    name: str
    path: str | None
    bucket: Literal["deposit", "output"] | None


@dataclass(frozen=True)
class FinderContext:
    """Where and with which variables a source entry is resolved; `field` is its YAML path for errors."""

    deposit: Bucket
    source_prefix: str
    output: Bucket
    variables: Mapping[str, object] = dataclasses.field(default_factory=dict)
    parents: Mapping[str, str] = dataclasses.field(default_factory=dict)
    field: str = "sources"


def resolve_sources(sources: Iterable[Mapping[str, Any]], *, context: FinderContext) -> list[Found]:
    """Resolve every source entry in order; the first item found under a name wins."""
    seen: set[str] = set()
    results: list[Found] = []
    for index, source in enumerate(sources):
        entry_context = dataclasses.replace(context, field=f"{context.field}[{index}]")
        for item in resolve_source(source, context=entry_context):
            if item.name not in seen:
                seen.add(item.name)
                results.append(item)
    return results


def resolve_source(source: Mapping[str, Any], *, context: FinderContext) -> list[Found]:
    """Items found by one source entry after `exclude`; [] when its parent_filters reject the parents."""
    field = context.field
    if not isinstance(source, Mapping):
        raise FinderError(f"{field}: a source entry must be a mapping, got {type(source).__name__}")
    unknown = sorted(set(source) - set(FINDER_KINDS) - set(FILTER_KEYS))
    if unknown:
        raise FinderError(
            f"{field}: unsupported key(s) {unknown} in source entry; expected one of {list(FINDER_KINDS)} "
            f"plus optional {list(FILTER_KEYS)}"
        )
    kinds = [kind for kind in FINDER_KINDS if source.get(kind) is not None]
    if len(kinds) != 1:
        raise FinderError(
            f"{field}: a source entry needs exactly one finder of {list(FINDER_KINDS)}, got {kinds}"
        )
    kind = kinds[0]
    spec = source[kind]
    exclude = _compile_all(source.get("exclude"), field=f"{field}.exclude")

    if not _parents_pass(
        source.get("parent_filters"), parents=context.parents, field=f"{field}.parent_filters"
    ):
        return []

    kind_field = f"{field}.{kind}"
    if kind == "literal":
        found = _find_literal(spec, field=kind_field)
    elif kind == "source_multi_glob":
        found = _find_multi_glob(spec, context=context, field=kind_field)
    else:
        found = _find_glob(spec, context=context, field=kind_field, in_output=kind == "destination_glob")

    seen: set[str] = set()
    results: list[Found] = []
    for item in found:
        if any(regex.match(item.name) for regex in exclude) or item.name in seen:
            continue
        seen.add(item.name)
        results.append(item)
    return results


def render_template(template: object, variables: Mapping[str, object], *, field: str) -> str:
    """Fill `{name}` placeholders from `variables`; unknown names and attribute/index access are errors."""
    if not isinstance(template, str):
        raise FinderError(f"{field}: expected a string template, got {template!r}")
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise FinderError(f"{field}: template {template!r} is malformed: {exc}") from exc
    out: list[str] = []
    for literal_text, name, format_spec, conversion in parsed:
        out.append(literal_text)
        if name is None:
            continue
        if not name or "." in name or "[" in name:
            raise FinderError(
                f"{field}: template {template!r} has placeholder {{{name}}}; only named variables are allowed"
            )
        if name not in variables:
            raise FinderError(
                f"{field}: template {template!r} uses unknown variable {name!r}; "
                f"known variables: {sorted(variables)}"
            )
        value: object = variables[name]
        if conversion == "r":
            value = repr(value)
        elif conversion == "a":
            value = ascii(value)
        elif conversion == "s":
            value = str(value)
        spec = render_template(format_spec, variables, field=field) if format_spec else ""
        try:
            out.append(format(value, spec))
        except (ValueError, TypeError) as exc:
            raise FinderError(f"{field}: template {template!r} cannot format {name!r}: {exc}") from exc
    return "".join(out)


def _compile(pattern: object, *, field: str) -> re.Pattern[str]:
    if not isinstance(pattern, str):
        raise FinderError(f"{field}: expected a regex string, got {pattern!r}")
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise FinderError(f"{field}: invalid regex {pattern!r}: {exc}") from exc


def _compile_all(patterns: object, *, field: str) -> list[re.Pattern[str]]:
    if patterns is None:
        return []
    if isinstance(patterns, str) or not isinstance(patterns, Iterable):
        raise FinderError(f"{field}: expected a list of regexes, got {patterns!r}")
    return [_compile(pattern, field=f"{field}[{i}]") for i, pattern in enumerate(patterns)]


def _parents_pass(filters: object, *, parents: Mapping[str, str], field: str) -> bool:
    """Apply include/exclude regexes (re.search) to parent names; absent parent types are ignored."""
    if filters is None:
        return True
    if not isinstance(filters, Mapping) or set(filters) - {"include", "exclude"}:
        raise FinderError(f"{field}: expected a mapping with 'include' and/or 'exclude', got {filters!r}")
    verdict = True
    for mode in ("exclude", "include"):
        by_type = filters.get(mode) or {}
        if not isinstance(by_type, Mapping):
            raise FinderError(
                f"{field}.{mode}: expected a mapping of parent type to regexes, got {by_type!r}"
            )
        for parent_type, patterns in by_type.items():
            regexes = _compile_all(patterns, field=f"{field}.{mode}.{parent_type}")
            if parent_type not in parents or not regexes:
                continue
            hit = any(regex.search(str(parents[parent_type])) for regex in regexes)
            if hit == (mode == "exclude"):
                verdict = False
    return verdict


def _glob_spec(spec: object, *, field: str) -> tuple[str, re.Pattern[str], re.Pattern[str]]:
    if not isinstance(spec, Mapping) or "list_glob" not in spec:
        raise FinderError(f"{field}: expected a mapping with 'list_glob', got {spec!r}")
    extra = sorted(set(spec) - {"list_glob", "match_regex", "name_regex"})
    if extra:
        raise FinderError(f"{field}: unsupported key(s) {extra}")
    match_regex = _compile(spec.get("match_regex") or ".*", field=f"{field}.match_regex")
    name_regex = _compile(spec.get("name_regex") or "(.*)", field=f"{field}.name_regex")
    if name_regex.groups < 1:
        raise FinderError(
            f"{field}.name_regex: regex {name_regex.pattern!r} needs a capture group (group 1 is the name)"
        )
    return spec["list_glob"], match_regex, name_regex


def _rooted_glob(template: object, *, context: FinderContext, field: str, in_output: bool) -> str:
    """Render a glob and place it under its root, refusing anything that would leave that root."""
    rendered = safe_key(render_template(template, context.variables, field=field), field=field)
    if in_output:
        return rendered
    prefix = safe_prefix(context.source_prefix, field=f"{field} (source_prefix)")
    return join_key(escape_glob(prefix), rendered)


def _find_glob(spec: object, *, context: FinderContext, field: str, in_output: bool) -> list[Found]:
    list_glob, match_regex, name_regex = _glob_spec(spec, field=field)
    pattern = _rooted_glob(list_glob, context=context, field=f"{field}.list_glob", in_output=in_output)
    bucket = context.output if in_output else context.deposit
    found: list[Found] = []
    for path in bucket.glob(pattern):
        if not match_regex.search(path):
            continue
        match = name_regex.match(posixpath.basename(path))
        if match is None or not match.group(1):
            continue
        found.append(Found(name=match.group(1), path=path, bucket="output" if in_output else "deposit"))
    return found


def _find_multi_glob(spec: object, *, context: FinderContext, field: str) -> list[Found]:
    globs = spec.get("list_globs") if isinstance(spec, Mapping) else None
    if isinstance(spec, Mapping) and set(spec) - {"list_globs"}:
        raise FinderError(f"{field}: unsupported key(s) {sorted(set(spec) - {'list_globs'})}")
    if not isinstance(globs, list) or not globs:
        raise FinderError(f"{field}: expected a mapping with a non-empty 'list_globs' list, got {spec!r}")
    # Render and check every glob before listing anything.
    patterns = [
        _rooted_glob(glob, context=context, field=f"{field}.list_globs[{i}]", in_output=False)
        for i, glob in enumerate(globs)
    ]
    found: list[Found] = []
    for pattern in patterns:
        for path in context.deposit.glob(pattern):
            found.append(Found(name=posixpath.basename(path), path=path, bucket="deposit"))
    return found


def _find_literal(spec: object, *, field: str) -> list[Found]:
    value = spec.get("value") if isinstance(spec, Mapping) else None
    if isinstance(spec, Mapping) and set(spec) - {"value"}:
        raise FinderError(f"{field}: unsupported key(s) {sorted(set(spec) - {'value'})}")
    if isinstance(value, Mapping):
        return [
            Found(name=str(name), path=_literal_path(path, field=f"{field}.value.{name}"), bucket=None)
            for name, path in value.items()
        ]
    if isinstance(value, list):
        return [Found(name=str(item), path=None, bucket=None) for item in value]
    raise FinderError(
        f"{field}: expected 'value' to be a list of names or a mapping of name to path, got {value!r}"
    )


def _literal_path(path: object, *, field: str) -> str | None:
    """A literal path is kept as written (URL or bucket-qualified path) but must be relative, without '..'."""
    if path is None:
        return None
    if not isinstance(path, str):
        raise FinderError(f"{field}: expected a path string or null, got {path!r}")
    scheme = URL_SCHEME.match(path)
    rest = path[scheme.end() :] if scheme else path
    if (not scheme and rest.startswith("/")) or ".." in rest.split("/") or "\x00" in rest or "\\" in rest:
        raise UnsafePathError(f"{field}: unsafe path {path!r}: it must be relative and must not use '..'")
    return path
