from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from cryoet_assets.lib.finders import (
    FinderContext,
    FinderError,
    Found,
    render_template,
    resolve_source,
    resolve_sources,
)
from cryoet_assets.lib.storage import Bucket, UnsafePathError, open_bucket

SOURCE_PREFIX = "lab/deposit 10001"

DEPOSIT = {
    f"{SOURCE_PREFIX}/TS_01/TS_01.mrc": b"1",
    f"{SOURCE_PREFIX}/TS_01/TS_01_bad.mrc": b"1",
    f"{SOURCE_PREFIX}/TS_01/TS_01.rawtlt": b"1",
    f"{SOURCE_PREFIX}/TS_01/AreTomo/TS_01.xf": b"1",
    f"{SOURCE_PREFIX}/TS_01/AreTomo/TS_01.tlt": b"1",
    f"{SOURCE_PREFIX}/TS_02/TS_02.mrc": b"1",
    f"{SOURCE_PREFIX}/TS_03/TS_03.mrc": b"1",
    f"{SOURCE_PREFIX}/TS_X/readme.txt": b"1",
    f"{SOURCE_PREFIX}/frames/CountRef_TS_01.dm4": b"1",
    f"{SOURCE_PREFIX}/runs.csv": b"1",
    # Outside the source prefix: only an escaping glob could reach these.
    "lab/other/TS_01/secret.mrc": b"1",
    "lab/secret.mrc": b"1",
}
OUTPUT = {
    "10001/TS_01/run_metadata.json": b"{}",
    "10001/TS_01/Reconstructions/VoxelSpacing13.480/Tomograms/100/TS_01.mrc": b"1",
    "10001/TS_01/Reconstructions/VoxelSpacing10.000/Tomograms/101/TS_01.mrc": b"1",
    "10001/TS_01/Alignments/100/alignment_metadata.json": b"{}",
    "10001/TS_02/run_metadata.json": b"{}",
}


@pytest.fixture(scope="module", params=["local", "s3"])
def buckets(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Bucket, Bucket]:
    """(deposit, output) buckets of the parametrized backend, filled once per module."""
    made: list[Bucket] = []
    for name in ("deposit", "output"):
        if request.param == "local":
            made.append(open_bucket(str(tmp_path_factory.mktemp(name))))
        else:
            url, endpoint = request.getfixturevalue("s3_bucket_url")("input" if name == "deposit" else "")
            made.append(open_bucket(url, endpoint_url=endpoint))
    deposit, output = made
    for key, data in DEPOSIT.items():
        deposit.write_bytes(key, data)
    for key, data in OUTPUT.items():
        output.write_bytes(key, data)
    return deposit, output


@pytest.fixture
def make_context(buckets: tuple[Bucket, Bucket]) -> Callable[..., FinderContext]:
    deposit, output = buckets

    def make(**changes: Any) -> FinderContext:
        context = FinderContext(
            deposit=deposit,
            source_prefix=SOURCE_PREFIX,
            output=output,
            variables={
                "dataset_name": "10001",
                "run_name": "TS_01",
                "run_output_path": "10001/TS_01",
                "dataset_output_path": "10001",
            },
            parents={"dataset": "10001", "run": "TS_01"},
            field="tomograms[0].sources[0]",
        )
        return dataclasses.replace(context, **changes)

    return make


def names(found: list[Found]) -> list[str]:
    return [item.name for item in found]


def resolve(source: Mapping[str, Any], context: FinderContext) -> list[Found]:
    return resolve_source(source, context=context)


def test_source_glob_runs_from_folders(make_context: Callable[..., FinderContext]) -> None:
    source = {"source_glob": {"list_glob": "TS_*", "match_regex": r"TS_\d{2}$", "name_regex": r"(TS_\d{2})$"}}
    assert resolve(source, make_context()) == [
        Found(name=f"TS_0{i}", path=f"{SOURCE_PREFIX}/TS_0{i}", bucket="deposit") for i in (1, 2, 3)
    ]


def test_source_glob_templates_and_name_regex(make_context: Callable[..., FinderContext]) -> None:
    source = {
        "source_glob": {
            "list_glob": "{run_name}/*.mrc",
            "match_regex": r"\.mrc$",
            "name_regex": r"(TS_\d+)\.mrc$",
        }
    }
    # TS_01_bad.mrc is listed and matched, but its basename does not fit name_regex, so it is skipped.
    assert resolve(source, make_context()) == [
        Found(name="TS_01", path=f"{SOURCE_PREFIX}/TS_01/TS_01.mrc", bucket="deposit")
    ]
    other_run = make_context(variables={"run_name": "TS_02"})
    assert names(resolve(source, other_run)) == ["TS_02"]


def test_source_glob_defaults_and_full_path_match(make_context: Callable[..., FinderContext]) -> None:
    everything = {"source_glob": {"list_glob": "*/*.mrc", "match_regex": None, "name_regex": None}}
    assert names(resolve(everything, make_context())) == [
        "TS_01.mrc",
        "TS_01_bad.mrc",
        "TS_02.mrc",
        "TS_03.mrc",
    ]
    # match_regex is searched in the whole bucket-relative path, source prefix included.
    by_folder = {"source_glob": {"list_glob": "*/*.mrc", "match_regex": r"deposit 10001/TS_0[23]/"}}
    assert names(resolve(by_folder, make_context())) == ["TS_02.mrc", "TS_03.mrc"]
    anchored = {"source_glob": {"list_glob": "*/*.mrc", "match_regex": r"^lab/deposit"}}
    assert len(resolve(anchored, make_context())) == 4


def test_source_glob_without_wildcards_and_recursive(make_context: Callable[..., FinderContext]) -> None:
    gain = {"source_glob": {"list_glob": "frames/CountRef_{run_name}.dm4"}}
    assert resolve(gain, make_context()) == [
        Found(name="CountRef_TS_01.dm4", path=f"{SOURCE_PREFIX}/frames/CountRef_TS_01.dm4", bucket="deposit")
    ]
    deep = {"source_glob": {"list_glob": "**/*.xf", "name_regex": r"(.*)\.xf"}}
    assert resolve(deep, make_context()) == [
        Found(name="TS_01", path=f"{SOURCE_PREFIX}/TS_01/AreTomo/TS_01.xf", bucket="deposit")
    ]
    assert resolve({"source_glob": {"list_glob": "nothing/*"}}, make_context()) == []


def test_source_prefix_at_bucket_root(make_context: Callable[..., FinderContext]) -> None:
    context = make_context(source_prefix="")
    found = resolve({"source_glob": {"list_glob": "lab/*/TS_01/*.mrc"}}, context)
    assert [item.path for item in found] == [
        f"{SOURCE_PREFIX}/TS_01/TS_01.mrc",
        f"{SOURCE_PREFIX}/TS_01/TS_01_bad.mrc",
        "lab/other/TS_01/secret.mrc",
    ]


def test_source_multi_glob(make_context: Callable[..., FinderContext]) -> None:
    source = {
        "source_multi_glob": {"list_globs": ["{run_name}/AreTomo/*.xf", "{run_name}/AreTomo/*.tlt", "none/*"]}
    }
    assert resolve(source, make_context()) == [
        Found(name="TS_01.xf", path=f"{SOURCE_PREFIX}/TS_01/AreTomo/TS_01.xf", bucket="deposit"),
        Found(name="TS_01.tlt", path=f"{SOURCE_PREFIX}/TS_01/AreTomo/TS_01.tlt", bucket="deposit"),
    ]


def test_destination_glob_searches_the_output_bucket(make_context: Callable[..., FinderContext]) -> None:
    spacings = {
        "destination_glob": {
            "list_glob": "{run_output_path}/Reconstructions/VoxelSpacing*",
            "match_regex": ".*",
            "name_regex": "VoxelSpacing(.*)",
        }
    }
    assert resolve(spacings, make_context()) == [
        Found(name="10.000", path="10001/TS_01/Reconstructions/VoxelSpacing10.000", bucket="output"),
        Found(name="13.480", path="10001/TS_01/Reconstructions/VoxelSpacing13.480", bucket="output"),
    ]
    runs = {"destination_glob": {"list_glob": "{dataset_output_path}/*"}}
    assert resolve(runs, make_context()) == [
        Found(name="TS_01", path="10001/TS_01", bucket="output"),
        Found(name="TS_02", path="10001/TS_02", bucket="output"),
    ]
    alignment = {
        "destination_glob": {"list_glob": "{run_output_path}/Alignments/100/alignment_metadata.json"}
    }
    assert names(resolve(alignment, make_context())) == ["alignment_metadata.json"]


def test_literal_list_and_mapping(make_context: Callable[..., FinderContext]) -> None:
    assert resolve({"literal": {"value": ["default", 10.0, 10301]}}, make_context()) == [
        Found(name="default", path=None, bucket=None),
        Found(name="10.0", path=None, bucket=None),
        Found(name="10301", path=None, bucket=None),
    ]
    photos = {
        "literal": {
            "value": {
                "snapshot": "rawdatasets/GJensen_full/pda-1/keyimg.jpg",
                "thumbnail": None,
                "extra": "https://example.org/a/b.png",
            }
        }
    }
    assert resolve(photos, make_context()) == [
        Found(name="snapshot", path="rawdatasets/GJensen_full/pda-1/keyimg.jpg", bucket=None),
        Found(name="thumbnail", path=None, bucket=None),
        Found(name="extra", path="https://example.org/a/b.png", bucket=None),
    ]


def test_exclude_matches_the_start_of_the_stringified_name(
    make_context: Callable[..., FinderContext],
) -> None:
    runs = {"source_glob": {"list_glob": "TS_*", "name_regex": r"(TS_\d+)$"}, "exclude": ["TS_0[23]"]}
    assert names(resolve(runs, make_context())) == ["TS_01"]
    # re.match anchors at the start only: "01" does not exclude "TS_01".
    runs["exclude"] = ["01"]
    assert names(resolve(runs, make_context())) == ["TS_01", "TS_02", "TS_03"]
    spacings = {"literal": {"value": [10.0, 13.48, 4.0]}, "exclude": [r"1\d\."]}
    assert names(resolve(spacings, make_context())) == ["4.0"]


@pytest.mark.parametrize(
    ("parent_filters", "expected"),
    [
        ({"include": {"run": ["^TS_01$"]}}, ["TS_01.mrc"]),
        ({"include": {"run": ["^TS_02$", "^TS_03$"]}}, []),
        ({"include": {"run": ["TS_0"]}, "exclude": {"run": ["1$"]}}, []),
        ({"exclude": {"run": ["^TS_02$"]}}, ["TS_01.mrc"]),
        ({"exclude": {"dataset": ["^100"]}}, []),
        ({"include": {"dataset": ["10001"], "run": ["S_0"]}}, ["TS_01.mrc"]),
        # A filter on a parent type this entity does not have is ignored.
        ({"include": {"voxel_spacing": ["^nope$"]}}, ["TS_01.mrc"]),
        ({"include": None, "exclude": None}, ["TS_01.mrc"]),
    ],
)
def test_parent_filters(
    make_context: Callable[..., FinderContext], parent_filters: dict[str, Any], expected: list[str]
) -> None:
    source = {"source_glob": {"list_glob": "{run_name}/TS_*.mrc", "name_regex": r"(TS_\d+\.mrc)"}}
    assert names(resolve({**source, "parent_filters": parent_filters}, make_context())) == expected


def test_parent_filters_skip_before_rendering_templates(make_context: Callable[..., FinderContext]) -> None:
    # This source only applies to TS_02, whose context would define mapped_tomo_name.
    source = {
        "source_glob": {"list_glob": "{mapped_tomo_name}/*.mrc"},
        "parent_filters": {"include": {"run": ["^TS_02$"]}},
    }
    assert resolve(source, make_context()) == []
    with pytest.raises(FinderError, match="mapped_tomo_name"):
        resolve(source, make_context(parents={"run": "TS_02"}))


def test_unknown_template_variable_names_field_and_variable(
    make_context: Callable[..., FinderContext],
) -> None:
    source = {"source_glob": {"list_glob": "{run_name}/{mapped_tomo_name}.mrc"}}
    with pytest.raises(FinderError) as info:
        resolve(source, make_context())
    message = str(info.value)
    assert "tomograms[0].sources[0].source_glob.list_glob" in message
    assert "'mapped_tomo_name'" in message
    assert "run_name" in message  # lists the known variables


@pytest.mark.parametrize(
    "template", ["{run.name}/*", "{run_name[0]}/*", "{}/*", "{0}/*", "{run_name/*", "run_name}/*"]
)
def test_malformed_templates_are_rejected(template: str) -> None:
    with pytest.raises(FinderError, match="runs.list_glob"):
        render_template(template, {"run_name": "TS_01"}, field="runs.list_glob")


def test_render_template_formats_values() -> None:
    variables = {"run_name": "TS_01", "index": 7, "spacing": 13.48}
    assert render_template("{run_name}/{index:03d}_{spacing:.3f}", variables, field="f") == "TS_01/007_13.480"
    assert render_template("plain/*.mrc", {}, field="f") == "plain/*.mrc"


@pytest.mark.parametrize(
    ("source", "variables", "field"),
    [
        ({"source_glob": {"list_glob": "../other/*"}}, {}, "source_glob.list_glob"),
        ({"source_glob": {"list_glob": "/etc/*"}}, {}, "source_glob.list_glob"),
        (
            {"source_glob": {"list_glob": "{run_name}/*.mrc"}},
            {"run_name": "../other/TS_01"},
            "source_glob.list_glob",
        ),
        ({"source_glob": {"list_glob": "TS_01/../../*.mrc"}}, {}, "source_glob.list_glob"),
        ({"source_glob": {"list_glob": "{run_name}/*"}}, {"run_name": "/lab"}, "source_glob.list_glob"),
        (
            {"source_multi_glob": {"list_globs": ["TS_01/*.mrc", "../other/**"]}},
            {},
            "source_multi_glob.list_globs[1]",
        ),
        ({"destination_glob": {"list_glob": "../*"}}, {}, "destination_glob.list_glob"),
        (
            {"destination_glob": {"list_glob": "{run_output_path}/*"}},
            {"run_output_path": "/x"},
            "destination_glob",
        ),
        ({"literal": {"value": {"snapshot": "../../etc/passwd"}}}, {}, "literal.value.snapshot"),
        ({"literal": {"value": {"snapshot": "/etc/passwd"}}}, {}, "literal.value.snapshot"),
        ({"literal": {"value": {"snapshot": "https://host/../x.png"}}}, {}, "literal.value.snapshot"),
    ],
)
def test_escape_attempts_are_refused(
    make_context: Callable[..., FinderContext], source: dict[str, Any], variables: dict[str, str], field: str
) -> None:
    context = make_context(variables=variables)
    with pytest.raises(UnsafePathError) as info:
        resolve(source, context)
    assert f"tomograms[0].sources[0].{field}" in str(info.value)


def test_unsafe_source_prefix_is_refused(make_context: Callable[..., FinderContext]) -> None:
    with pytest.raises(UnsafePathError, match="source_prefix"):
        resolve({"source_glob": {"list_glob": "*"}}, make_context(source_prefix="../lab"))


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ({}, "exactly one finder"),
        ({"exclude": ["x"]}, "exactly one finder"),
        ({"literal": {"value": ["a"]}, "source_glob": {"list_glob": "*"}}, "exactly one finder"),
        ({"tomogram_header": {"list_glob": "*"}}, "unsupported key"),
        ({"source_glob": {"glob": "*"}}, "list_glob"),
        ({"source_glob": {"list_glob": "*", "match_regex": "("}}, "source_glob.match_regex: invalid regex"),
        ({"source_glob": {"list_glob": "*", "name_regex": "TS_.*"}}, "needs a capture group"),
        ({"source_multi_glob": {"list_globs": []}}, "non-empty 'list_globs'"),
        ({"literal": {"value": "TS_01"}}, "list of names or a mapping"),
        ({"literal": {"value": ["a"]}, "exclude": ["("]}, "exclude[0]: invalid regex"),
        ({"literal": {"value": ["a"]}, "parent_filters": {"include": {"run": ["["]}}}, "include.run[0]"),
        ({"literal": {"value": ["a"]}, "parent_filters": {"only": {}}}, "'include' and/or 'exclude'"),
        (["not", "a", "mapping"], "must be a mapping"),
    ],
)
def test_bad_source_entries_name_the_field(
    make_context: Callable[..., FinderContext], source: Any, message: str
) -> None:
    with pytest.raises(FinderError) as info:
        resolve(source, make_context())
    assert "tomograms[0].sources[0]" in str(info.value)
    assert message in str(info.value)


def test_resolve_sources_first_name_wins_and_order_is_kept(
    make_context: Callable[..., FinderContext],
) -> None:
    sources = [
        {"literal": {"value": ["TS_03"]}},
        {"source_glob": {"list_glob": "TS_*", "name_regex": r"(TS_\d+)$"}, "exclude": ["TS_02"]},
        {"destination_glob": {"list_glob": "{dataset_output_path}/*"}},
        {"literal": {"value": ["zeta"]}, "parent_filters": {"include": {"run": ["^nope$"]}}},
    ]
    assert resolve_sources(sources, context=make_context(field="runs[0].sources")) == [
        Found(name="TS_03", path=None, bucket=None),
        Found(name="TS_01", path=f"{SOURCE_PREFIX}/TS_01", bucket="deposit"),
        Found(name="TS_02", path="10001/TS_02", bucket="output"),
    ]
    with pytest.raises(FinderError, match=r"runs\[0\]\.sources\[1\]\.source_glob\.list_glob"):
        resolve_sources(
            [{"literal": {"value": ["a"]}}, {"source_glob": {"list_glob": "{nope}"}}],
            context=make_context(field="runs[0].sources"),
        )


def test_glob_names_with_brackets_in_source_prefix(tmp_path: Path) -> None:
    deposit = open_bucket(str(tmp_path / "deposit"))
    deposit.write_bytes("odd[1]/TS_01.mrc", b"1")
    deposit.write_bytes("odd1/TS_99.mrc", b"1")
    context = FinderContext(deposit=deposit, source_prefix="odd[1]", output=deposit, field="f")
    assert names(resolve({"source_glob": {"list_glob": "*.mrc"}}, context)) == ["TS_01.mrc"]
