"""End-to-end validation of config files: load, rules, one line per issue, exit status."""

from __future__ import annotations

from pathlib import Path

from config_samples import VALID_YAML, line_of

from cryoet_assets.lib.config.validate import exit_status, format_issues, validate_paths


def test_validate_paths_reports_every_file_without_raising(tmp_path: Path) -> None:
    good = tmp_path / "10001.yaml"
    good.write_text(VALID_YAML)
    structural = tmp_path / "10002.yaml"
    structural.write_text(VALID_YAML.replace("ORCID: 0000-0002-1825-0097", "ORCID: 0000-0002"))
    rules_text = VALID_YAML.replace("list_glob: tomograms/TS_*.rec", "list_glob: ../tomograms/TS_*.rec")
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
    assert len(results[str(binary)]) == 1 and len(results[str(missing)]) == 1

    lines = format_issues(results)
    assert len(lines) == 8
    assert (
        f"{rules}:{line_of(rules_text, 'list_glob: ../')}: runs[0].sources[0].source_glob.list_glob: "
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
