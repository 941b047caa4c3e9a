"""End-to-end validation of config files: load, rules, one line per issue, exit status."""

from __future__ import annotations

from pathlib import Path

from config_samples import VALID_YAML, line_of

from cryoet_assets.lib.config.validate import exit_status, format_issues, is_valid, validate_paths


def test_validate_paths_reports_every_file_without_raising(tmp_path: Path) -> None:
    good = tmp_path / "10001.yaml"
    good.write_text(VALID_YAML)
    structural = tmp_path / "10002.yaml"
    structural.write_text(VALID_YAML.replace("ORCID: 0000-0002-1825-0097", "ORCID: 0000-0002"))
    rules_text = VALID_YAML.replace("list_glob: tomograms/TS_*.rec", "list_glob: '{run_name}/TS_*.rec'")
    rules = tmp_path / "10003.yaml"
    rules.write_text(rules_text)
    binary = tmp_path / "10004.yaml"
    binary.write_bytes(VALID_YAML.encode("utf-16"))
    missing = tmp_path / "10005.yaml"

    results = validate_paths([good, structural, rules, binary, missing])
    assert list(results) == [str(good), str(structural), str(rules), str(binary), str(missing)]
    assert results[str(good)] == []
    assert len(results[str(structural)]) == 5
    (rule_issue,) = results[str(rules)]
    assert rule_issue.yaml_path == "runs[0].sources[0].source_glob.list_glob"
    assert (rule_issue.rule, rule_issue.is_error) == ("template-variable", True)
    assert len(results[str(binary)]) == 1 and len(results[str(missing)]) == 1

    lines = format_issues(results)
    assert len(lines) == 8
    assert (
        f"{rules}:{line_of(rules_text, '{run_name}/TS_')}: runs[0].sources[0].source_glob.list_glob: "
        "'{run_name}/TS_*.rec' uses unknown variable {run_name}; known variables: "
        in lines[5]
    )
    assert lines[6] == (
        f"{binary}: the file is UTF-16 encoded (byte order mark at byte offset 0): configs must be UTF-8"
    )
    assert lines[7].startswith(f"{missing}: cannot read the file")
    assert format_issues(results[str(rules)]) == [lines[5]]
    assert exit_status(results) == 1
    assert exit_status(validate_paths([good])) == 0


def test_reference_configs_validate_cleanly(reference_configs: list[Path]) -> None:
    results = validate_paths(reference_configs)
    assert format_issues(results) == []
    assert exit_status(results) == 0


def test_warnings_are_listed_but_leave_a_file_valid(tmp_path: Path) -> None:
    text = VALID_YAML.replace("      - 13.48\n", "      - 13.48\n      - 35\n").replace(
        "  source_prefix: lab/deposit\n", "  source_prefix: lab/deposit\n  source_prefix: lab/deposit2\n"
    )
    path = tmp_path / "10001.yaml"
    path.write_text(text)
    results = validate_paths([path])
    assert [(issue.rule, issue.severity) for issue in results[str(path)]] == [
        ("duplicate-key", "warning"),
        ("voxel-spacing-range", "warning"),
    ]
    assert format_issues(results) == [
        f"{path}:{line_of(text, 'lab/deposit2')}: warning: duplicate key 'source_prefix' "
        f"(first defined on line {line_of(text, 'lab/deposit2') - 1}): the last value is used",
        f"{path}:{line_of(text, '- 35')}: voxel_spacings[0].sources[0].literal.value[1]: warning: "
        "voxel spacing 35 Å is outside the portal's range (1 Å, 30 Å), exclusive: the validation gate "
        "will refuse its tomograms and annotations (facts §4.2)",
    ]
    assert is_valid(results[str(path)]) and exit_status(results) == 0
