"""Loading configs: the reference configs load; broken and hostile bytes give located, readable issues."""

from __future__ import annotations

import pickle
import time
from pathlib import Path

import pytest
from config_samples import VALID_YAML, broken, line_of

from cryoet_assets.lib.config import loader
from cryoet_assets.lib.config.loader import (
    MAX_CONFIG_BYTES,
    ConfigError,
    ConfigIssue,
    format_yaml_path,
    load_config,
    load_config_file,
)
from cryoet_assets.lib.config.models import IngestionConfig


def issues_of(data: bytes, source: str = "configs/test.yaml") -> list[ConfigIssue]:
    with pytest.raises(ConfigError) as caught:
        load_config(data, source=source)
    assert caught.value.issues, "a ConfigError must carry issues"
    assert str(caught.value) == "\n".join(str(issue) for issue in caught.value.issues)
    return caught.value.issues


def only_issue(data: bytes) -> ConfigIssue:
    issues = issues_of(data)
    assert len(issues) == 1, issues
    return issues[0]


def test_reference_configs_load(reference_configs: list[Path]) -> None:
    versions = set()
    for path in reference_configs:
        config = load_config_file(path)
        assert isinstance(config, IngestionConfig)
        versions.add(config.version)
        assert config.runs[0].sources[0].finder()[0] == "source_glob"
        rebuilt = IngestionConfig.model_validate(config.yaml_data(), by_alias=True, by_name=False)
        assert rebuilt == config, f"{path.name} does not survive yaml_data() and validation"
    assert versions == {"1.0.0", "1.1.0", "1.3.0"}
    config = load_config_file(next(p for p in reference_configs if p.name == "10001.yaml"))
    assert config.datasets[0].sources[0].literal.value == ["10001"]
    assert config.annotations[1].metadata.authors[0].orcid == "0000-0002-9903-3667"
    assert [a.metadata.annotation_ingest_id for a in config.annotations][:2] == [
        "fatty-acid-synthase-complex-1",
        "cytosolic-ribosome-1",
    ]


def test_valid_config_loads_with_anchors_and_line_lookup() -> None:
    config = load_config(VALID_YAML.encode(), source="configs/valid.yaml")
    assert config.datasets[0].metadata.authors == config.depositions[0].metadata.authors
    assert config.datasets[0].metadata.dates.release_date.isoformat() == "2024-02-01"
    assert config.line_of(("runs", 0, "sources", 0, "source_glob", "list_glob")) == line_of(
        VALID_YAML, "list_glob: tomograms/TS_*.rec"
    )
    assert config.line_of(("datasets", 0, "metadata", "sample_type")) == line_of(VALID_YAML, "sample_type:")
    assert config.line_of(("datasets", 0, "metadata", "nope")) == line_of(VALID_YAML, "datasets:") + 1


def test_utf8_bom_is_accepted() -> None:
    config = load_config(b"\xef\xbb\xbf" + VALID_YAML.encode(), source="bom.yaml")
    assert config.version == "1.3.0"


def test_wrong_type_names_path_line_and_reason() -> None:
    data = VALID_YAML.replace("dataset_identifier: 10001", "dataset_identifier: ten")
    issue = only_issue(data.encode())
    assert issue.yaml_path == "datasets[0].metadata.dataset_identifier"
    assert issue.message == "expected an integer, got the string 'ten'"
    assert issue.line == line_of(data, "dataset_identifier:")
    assert (
        str(issue)
        == f"configs/test.yaml:{issue.line}: datasets[0].metadata.dataset_identifier: {issue.message}"
    )


def test_bad_orcid_pattern_is_reported_where_the_anchor_is_used() -> None:
    data = VALID_YAML.replace("ORCID: 0000-0002-1825-0097", "ORCID: 0000-0002-1825")
    issues = issues_of(data.encode())
    paths = {issue.yaml_path for issue in issues}
    # The authors list is anchored once and aliased four times: each use is reported.
    assert paths == {
        "depositions[0].metadata.authors[0].ORCID",
        "datasets[0].metadata.authors[0].ORCID",
        "tomograms[0].metadata.authors[0].ORCID",
        "annotations[0].metadata.authors[0].ORCID",
        "annotations[1].metadata.authors[0].ORCID",
    }
    assert {issue.line for issue in issues} == {line_of(data, "ORCID:")}
    assert "'0000-0002-1825' does not match the pattern [0-9]{4}-[0-9]{4}-[0-9]{4}-[0-9]{3}[0-9X]$" in (
        issues[0].message
    )


def test_unknown_key_is_named() -> None:
    data = VALID_YAML.replace(
        "    dataset_title: Test dataset\n", "    dataset_title: Test dataset\n    colour: blue\n"
    )
    issue = only_issue(data.encode())
    assert (issue.yaml_path, issue.message) == ("datasets[0].metadata.colour", "unknown key 'colour'")
    assert issue.line == line_of(data, "colour: blue")


def test_missing_required_section() -> None:
    data = broken(lambda d: d.pop("runs"))
    issue = only_issue(data)
    assert (issue.yaml_path, issue.message, issue.line) == ("runs", "required key is missing", 1)


def test_missing_required_key_in_nested_block_points_at_its_parent() -> None:
    data = broken(lambda d: d["tiltseries"][0]["metadata"]["camera"].pop("model"))
    issue = only_issue(data)
    assert (issue.yaml_path, issue.message) == (
        "tiltseries[0].metadata.camera.model",
        "required key is missing",
    )
    assert issue.line == line_of(data, "camera:")


def test_every_structural_problem_is_reported_at_once() -> None:
    def change(data: dict) -> None:
        data["frames"][0]["metadata"]["is_gain_corrected"] = "no"
        data["annotations"][1]["metadata"]["method_type"] = "by hand"
        data["runs"][0]["sources"][0]["source_glob"]["list_glob"] = 7

    issues = issues_of(broken(change))
    assert [(issue.yaml_path, issue.message) for issue in issues] == [
        ("runs[0].sources[0].source_glob.list_glob", "expected a string, got the number 7"),
        ("frames[0].metadata.is_gain_corrected", "expected true or false, got the string 'no'"),
        (
            "annotations[1].metadata.method_type",
            "expected one of 'manual', 'automated', 'hybrid' or 'simulated', got the string 'by hand'",
        ),
    ]
    assert [issue.line for issue in issues] == sorted(issue.line for issue in issues)


@pytest.mark.parametrize("version", ["1.0.0", "1.1.0", "1.2.0", "1.3.0"])
def test_supported_versions_load_as_is(version: str) -> None:
    config = load_config(
        VALID_YAML.replace("version: 1.3.0", f"version: {version}").encode(), source="v.yaml"
    )
    assert config.version == version


def test_an_unknown_version_loads_and_only_a_number_is_refused() -> None:
    # The schema's `version` is any string; an unknown one is a warning of the rules (config-version).
    assert load_config(VALID_YAML.replace("version: 1.3.0", "version: 2.0.0").encode(), source="v.yaml")
    issue = only_issue(VALID_YAML.replace("version: 1.3.0", "version: 1.3").encode())
    assert (issue.yaml_path, issue.line) == ("version", 1)
    assert issue.message == "must be a string such as '1.3.0', got the number 1.3 (quote it)"


def test_a_duplicate_key_is_a_warning_and_the_last_value_wins() -> None:
    data = VALID_YAML.replace(
        "  source_prefix: lab/deposit\n", "  source_prefix: lab/deposit\n  source_prefix: x\n"
    )
    warnings: list[ConfigIssue] = []
    config = load_config(data.encode(), source="configs/test.yaml", warnings=warnings)
    assert config.standardization_config.source_prefix == "x"
    (issue,) = warnings
    assert (issue.severity, issue.rule) == ("warning", "duplicate-key")
    assert issue.line == line_of(data, "source_prefix: x")
    assert issue.message == (
        f"duplicate key 'source_prefix' (first defined on line {line_of(data, 'lab/deposit')}): "
        "the last value is used"
    )
    assert str(issue).startswith(f"configs/test.yaml:{issue.line}: warning: duplicate key 'source_prefix'")
    assert config.line_of(("standardization_config", "source_prefix")) == issue.line
    assert load_config(data.encode(), source="configs/test.yaml") == config


def test_python_tags_are_rejected() -> None:
    data = VALID_YAML.replace("version: 1.3.0", "version: !!python/object/apply:os.system ['true']")
    issue = only_issue(data.encode())
    assert issue.line == 1
    assert issue.message == (
        "unsupported YAML tag 'tag:yaml.org,2002:python/object/apply:os.system': "
        "only plain YAML data is allowed"
    )
    issue = only_issue(b"a: !custom 1\n")
    assert "unsupported YAML tag '!custom'" in issue.message


def test_alias_bomb_is_rejected_quickly() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for level in range(1, 9):
        refs = ", ".join([f"*a{level - 1}"] * 10)
        lines.append(f"a{level}: &a{level} [{refs}]")
    started = time.perf_counter()
    issue = only_issue(("\n".join(lines) + "\n").encode())
    assert time.perf_counter() - started < 2
    assert issue.message == "aliases expand to more than 200000 YAML nodes (alias bomb?)"
    assert issue.line == 6


def test_documents_with_too_many_nodes_are_rejected_while_parsing(monkeypatch: pytest.MonkeyPatch) -> None:
    # A lower cap keeps the test fast; parsing stops at the cap instead of reading the whole file.
    monkeypatch.setattr(loader, "MAX_EXPANDED_NODES", 2_000)
    issue = only_issue(b"a:\n" + b"- x\n" * 100_000)
    assert issue.message == "the document has more than 2000 YAML nodes"
    assert issue.line == 2_000
    assert load_config(VALID_YAML.encode(), source="small.yaml").version == "1.3.0"


def test_moderate_alias_reuse_is_fine() -> None:
    config = load_config(VALID_YAML.encode(), source="ok.yaml")
    assert len(config.annotations) == 2


def test_recursive_alias_is_rejected() -> None:
    issue = only_issue(b"version: 1.3.0\nloop: &loop\n  again: *loop\n")
    assert issue.message == "recursive alias: the node anchored on line 2 contains an alias to itself"
    assert issue.line == 3
    issue = only_issue(b"items: &items\n- a\n- *items\n")
    assert issue.message == "recursive alias: the node anchored on line 1 contains an alias to itself"


def test_utf16_is_rejected_with_its_name() -> None:
    issue = only_issue(VALID_YAML.encode("utf-16"))
    assert (
        issue.message
        == "the file is UTF-16 encoded (byte order mark at byte offset 0): configs must be UTF-8"
    )
    issue = only_issue(VALID_YAML.encode("utf-16-le"))
    assert issue.message.startswith("NUL byte at byte offset 1: the file is binary or UTF-16/32 encoded")


def test_latin1_is_rejected_with_the_byte_offset() -> None:
    text = VALID_YAML.replace("Charles Babbage", "Charles Babbagé")
    data = text.encode("latin-1")
    offset = data.index("é".encode("latin-1"))
    issue = only_issue(data)
    assert issue.message.startswith(f"the file is not valid UTF-8: byte 0xe9 at byte offset {offset} (")
    assert issue.line == line_of(text, "Babbag")


def test_size_cap() -> None:
    data = VALID_YAML.encode() + b"#" * (MAX_CONFIG_BYTES + 1 - len(VALID_YAML.encode())) + b"\n"
    issue = only_issue(data)
    assert issue.message == "the file is larger than the 5 MiB limit for a config"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "the file is empty: a config is a YAML mapping of sections (version, datasets, ...)"),
        (
            b"- a\n- b\n",
            "the top level must be a mapping of sections (version, datasets, runs, ...), not a list",
        ),
        (
            b"just text\n",
            "the top level must be a mapping of sections (version, datasets, runs, ...), not a single value",
        ),
        (
            b"a: 1\n---\nb: 2\n",
            "invalid YAML: expected a single document in the stream; but found another document",
        ),
        (
            b"a: [1, 2\nb: 3\n",
            "invalid YAML: while parsing a flow sequence that starts on line 1; expected ',' or ']', but got ':'",
        ),
        (b"a: *nowhere\n", "invalid YAML: found undefined alias 'nowhere'"),
        (
            b'a: "open\nb: 1\nc: 2\nd: \\d\n',
            "invalid YAML: while scanning a double-quoted scalar that starts on line 1; found unknown escape "
            "character 'd'",
        ),
        (b"? [a, b]\n: 1\n", "mapping keys must be plain scalars, not lists or mappings"),
        (b"a: 2024-13-45\n", "invalid YAML value '2024-13-45': month must be in 1..12"),
        (
            b"a: 1\n\nb: x\x07\n",
            "invalid YAML: character U+0007 is not allowed (special characters are not allowed)",
        ),
        (
            b"a: !!binary aGk=\n",
            "unsupported YAML tag 'tag:yaml.org,2002:binary': only plain YAML data is allowed",
        ),
        (b"a: " + b"[" * 150 + b"]" * 150 + b"\n", "the YAML is nested deeper than 100 levels"),
        (b"a: " + b"[" * 3000 + b"]" * 3000 + b"\n", "invalid YAML: nested deeper than 100 levels"),
    ],
)
def test_malformed_documents(data: bytes, message: str) -> None:
    assert only_issue(data).message == message


def test_load_config_file_names_the_path(tmp_path: Path) -> None:
    path = tmp_path / "10001.yaml"
    path.write_text(VALID_YAML.replace("tilt_step: 3", "tilt_step: steep"))
    with pytest.raises(ConfigError) as caught:
        load_config_file(path)
    (issue,) = caught.value.issues
    assert issue.file == str(path)
    assert str(issue).startswith(f"{path}:{issue.line}: tiltseries[0].metadata.tilt_step: expected a number")
    with pytest.raises(ConfigError, match="cannot read the file"):
        load_config_file(tmp_path / "absent.yaml")


def test_unquoted_dates_and_merge_keys_load() -> None:
    text = VALID_YAML.replace("release_date: '2024-02-01'", "release_date: 2024-02-01")
    text = text.replace("    deposition_types:\n", "    <<: {tag: merged}\n    deposition_types:\n")
    config = load_config(text.encode(), source="merge.yaml")
    assert config.depositions[0].metadata.dates.release_date.isoformat() == "2024-02-01"
    assert config.depositions[0].metadata.tag == "merged"
    text = VALID_YAML.replace("release_date: '2024-02-01'", "release_date: 2024-02-01 10:00:00")
    issue = issues_of(text.encode())[0]
    assert issue.message == "expected a date (YYYY-MM-DD), got the date-time 2024-02-01T10:00:00"


def test_loaded_configs_compare_and_pickle_without_their_line_index() -> None:
    first = load_config(VALID_YAML.encode(), source="a.yaml")
    second = load_config(VALID_YAML.encode(), source="b.yaml")
    assert first == second
    copy = pickle.loads(pickle.dumps(first))
    assert copy == first
    assert copy.line_of(("runs",)) == first.line_of(("runs",)) == line_of(VALID_YAML, "runs:")
    rebuilt = IngestionConfig.model_validate(first.yaml_data(), by_alias=True, by_name=False)
    assert rebuilt == first and rebuilt.line_of(("runs",)) is None


def test_yaml_path_rendering() -> None:
    assert (
        format_yaml_path(("datasets", 0, "metadata", "authors", 2, "ORCID"))
        == "datasets[0].metadata.authors[2].ORCID"
    )
    assert format_yaml_path(()) == ""
    assert format_yaml_path(("a", "b c")) == "a['b c']"
    issue = ConfigIssue("configs/10001.yaml", "datasets[0].metadata.authors[2].ORCID", 12, "bad")
    assert str(issue) == "configs/10001.yaml:12: datasets[0].metadata.authors[2].ORCID: bad"
    assert str(ConfigIssue("c.yaml", "", None, "bad")) == "c.yaml: bad"
