"""The package's layering, read from the source (no imports): Dagster at the edges, a family-free ground floor,
families that import only their declared parents, and jobs built from the family registry."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "cryoet_assets"
FAMILIES = PACKAGE / "families"
ENTRY_MODULES = ("cryoet_assets.definitions", "cryoet_assets.runner", "cryoet_assets.cli", "cryoet_assets.defs")


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Every module `path` imports, at any depth (imports inside functions count), relative ones resolved."""
    names: set[str] = set()
    package = _module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join([*package[: len(package) - node.level + 1], *([base] if base else [])])
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def _is_dagster(name: str) -> bool:
    top = name.split(".")[0]
    return top == "dagster" or top.startswith("dagster_")


def _within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def _declared_families() -> dict[str, tuple[str, ...]]:
    """Family name -> declared parents, read from each folder's `FAMILY = Family(...)`."""
    declared = {}
    for init in sorted(FAMILIES.glob("*/__init__.py")):
        for node in ast.walk(ast.parse(init.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "Family":
                fields = {kw.arg: ast.literal_eval(kw.value) for kw in node.keywords}
                declared[fields["name"]] = tuple(fields.get("parents", ()))
    return declared


def _ancestors(name: str, declared: dict[str, tuple[str, ...]]) -> set[str]:
    seen: set[str] = set()
    todo = list(declared[name])
    while todo:
        parent = todo.pop()
        if parent not in seen:
            seen.add(parent)
            todo.extend(declared.get(parent, ()))
    return seen


def test_only_the_edges_import_dagster():
    offenders = [
        f"{path.relative_to(PACKAGE.parent)}: {name}"
        for root in (PACKAGE / "lib", FAMILIES)
        for path in sorted(root.rglob("*.py"))
        if not (path.parent.parent == FAMILIES and path.name == "defs.py")
        for name in sorted(_imports(path))
        if _is_dagster(name)
    ]
    assert offenders == []


def test_the_ground_floor_imports_no_family_and_no_entry_module():
    upward = ("cryoet_assets.families", *ENTRY_MODULES)
    offenders = [
        f"{path.relative_to(PACKAGE.parent)}: {name}"
        for path in sorted((PACKAGE / "lib").rglob("*.py"))
        for name in sorted(_imports(path))
        if any(_within(name, prefix) for prefix in upward)
    ]
    assert offenders == []


def test_a_family_imports_only_the_ground_floor_itself_and_its_declared_parents():
    declared = _declared_families()
    offenders = []
    for name in declared:
        allowed = {name, *_ancestors(name, declared)}
        for path in sorted((FAMILIES / name).rglob("*.py")):
            for imported in sorted(_imports(path)):
                if not _within(imported, "cryoet_assets") or _within(imported, "cryoet_assets.lib"):
                    continue
                if imported == "cryoet_assets.families" and path.name == "__init__.py":
                    continue
                if path.name == "defs.py" and _within(imported, "cryoet_assets.defs"):
                    continue
                other = imported.split(".")[2] if _within(imported, "cryoet_assets.families") else None
                if other not in allowed:
                    offenders.append(f"{path.relative_to(PACKAGE.parent)}: {imported}")
    assert offenders == []


def test_the_registry_lists_every_family_folder_once():
    folders = sorted(path.name for path in FAMILIES.iterdir() if (path / "__init__.py").is_file())
    registry = ast.parse((FAMILIES / "__init__.py").read_text())
    (assignment,) = [
        node for node in registry.body
        if isinstance(node, (ast.Assign, ast.AnnAssign))
        and "FAMILIES" in {getattr(t, "id", None) for t in getattr(node, "targets", [getattr(node, "target", None)])}
    ]
    listed = [element.value.id for element in assignment.value.elts]
    assert sorted(listed) == folders == sorted(_declared_families())
    assert len(set(listed)) == len(listed)


def test_every_family_group_is_in_exactly_one_job():
    from cryoet_assets.definitions import defs
    from cryoet_assets.families import FAMILIES as REGISTERED

    graph = defs.resolve_asset_graph()
    for family in REGISTERED:
        keys = {key for key in graph.get_all_asset_keys() if graph.get(key).group_name == family.group}
        assert keys, f"family {family.name} has no asset in group {family.group}"
        jobs = [
            job.name for job in defs.jobs
            if keys <= set(defs.resolve_job_def(job.name).asset_layer.executable_asset_keys)
        ]
        assert jobs == [f"{family.level}_job"]
