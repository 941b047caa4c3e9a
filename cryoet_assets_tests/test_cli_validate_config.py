"""`cryoet-assets validate-config`: one line per problem, exit status 0 only when every file is valid."""

from __future__ import annotations

from pathlib import Path

import pytest

from cryoet_assets.cli import main
from cryoet_assets.lib.demo import demo_config

GOOD = demo_config(photos="cryoetportal-rawdatasets-dev/lab_uploads/demo/photos")


def line_number(text: str, needle: str) -> int:
    return next(number for number, line in enumerate(text.splitlines(), start=1) if needle in line)


def test_reference_configs_are_valid(reference_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    paths = sorted((reference_dir / "configs").glob("*.yaml"))
    assert len(paths) == 6
    assert main(["validate-config", *map(str, paths)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines == [f"{path}: valid" for path in paths] + ["6 valid, 0 invalid"]


def test_a_broken_config_names_file_yaml_path_and_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = tmp_path / "20999.yaml"
    good.write_text(GOOD)
    broken_text = GOOD.replace("deposition_types: [dataset]", "deposition_types: [movie]")
    broken = tmp_path / "broken.yaml"
    broken.write_text(broken_text)

    assert main(["validate-config", str(good), str(broken)]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"{good}: valid"
    (problem,) = lines[1:-1]
    where = f"{broken}:{line_number(broken_text, 'deposition_types:')}: depositions[0].metadata.deposition_types[0]: "
    assert problem.startswith(where)
    reason = problem[len(where):]
    assert "'movie'" in reason and "'dataset'" in reason
    assert lines[-1] == "1 valid, 1 invalid"


def test_a_rule_violation_is_reported_too(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Runs are found before any run exists: `{run_name}` cannot be used in their glob.
    text = GOOD.replace("list_glob: runs/TS_*", "list_glob: '{run_name}/TS_*'")
    path = tmp_path / "early.yaml"
    path.write_text(text)
    assert main(["validate-config", str(path)]) == 1
    lines = capsys.readouterr().out.splitlines()
    where = f"{path}:{line_number(text, '{run_name}/TS_*')}: runs[0].sources[0].source_glob.list_glob: "
    reason = "'{run_name}/TS_*' uses unknown variable {run_name}; known variables: "
    assert lines[0].startswith(where + reason)
    assert "dataset_name, " in lines[0] and ", run_name" not in lines[0]
    assert lines[1:] == ["0 valid, 1 invalid"]


def test_warnings_are_printed_and_the_file_stays_valid(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = GOOD.replace("value: [20.024]", "value: [35.0]").replace(
        "list_glob: 'runs/{run_name}/{run_name}.mrc'", "list_glob: 'runs/{run_nam}/{run_name}.mrc'"
    )
    path = tmp_path / "20999.yaml"
    path.write_text(text)
    assert main(["validate-config", str(path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines == [
        f"{path}:{line_number(text, 'value: [35.0]')}: "
        "voxel_spacings[1].sources[0].literal.value[0]: warning: "
        "voxel spacing 35.0 Å is outside the portal's range (1 Å, 30 Å), exclusive: the validation gate will "
        "refuse its tomograms and annotations (facts §4.2)",
        f"{path}:{line_number(text, '{run_nam}')}: tomograms[0].sources[0].source_glob.list_glob: warning: "
        "'runs/{run_nam}/{run_name}.mrc' uses {run_nam}, which is not a built-in variable (did you mean "
        "{run_name}?): it must be a column of run_data_map_file 'run_data_map.tsv', which is only read at "
        "ingest time",
        f"{path}: valid (2 warnings)",
        "1 valid, 0 invalid",
    ]


def test_broken_yaml_names_the_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("version: 1.3.0\nstandardization_config: [\n")
    assert main(["validate-config", str(path)]) == 1
    (line, summary) = capsys.readouterr().out.splitlines()
    assert line.startswith(f"{path}:3: invalid YAML")
    assert summary == "0 valid, 1 invalid"


def test_a_missing_file_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nowhere" / "10001.yaml"
    assert main(["validate-config", str(missing)]) == 1
    (line, summary) = capsys.readouterr().out.splitlines()
    assert line == f"{missing}: cannot read the file: No such file or directory"
    assert summary == "0 valid, 1 invalid"


def test_validate_config_needs_a_file(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as raised:
        main(["validate-config"])
    assert raised.value.code == 2
    assert "files" in capsys.readouterr().err
