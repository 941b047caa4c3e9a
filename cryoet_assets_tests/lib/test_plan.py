"""Planning the demo deposit: depositions, datasets, runs, versions and the errors a bad config or deposit gives."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from cryoet_assets.families import run_contributors
from cryoet_assets.families.tomogram.plan import run_tomograms
from cryoet_assets.lib.demo import DEMO_SOURCE_PREFIX, Demo, write_demo
from cryoet_assets.lib.ingestion import find_dataset_config, load_config_object
from cryoet_assets.lib.plan import ConfigProvenance, DatasetPlan, Planner, PlanError, spacing_names
from cryoet_assets.lib.storage import Bucket, LocalBucket, ObjectInfo, open_bucket

# Config key photo paths name this bucket when they are not URLs (the config schema's pattern).
DEPOSIT_BUCKET_NAME = "cryoetportal-rawdatasets-dev"
RUNS = ["TS_001", "TS_002", "TS_003"]


@dataclass
class Deposit:
    deposit: Bucket
    configs: Bucket
    output: Bucket
    demo: Demo

    def plan(self, key: str | None = None) -> DatasetPlan:
        loaded = load_config_object(self.configs, key or self.demo.config_key)
        return loaded.planner(deposit=self.deposit, output=self.output, contributors=run_contributors()).plan(self.demo.dataset_id)


@pytest.fixture
def local(tmp_path: Path) -> Deposit:
    deposit = LocalBucket(tmp_path / DEPOSIT_BUCKET_NAME)
    configs = LocalBucket(tmp_path / "configs")
    demo = write_demo(deposit=deposit, configs=configs)
    return Deposit(deposit=deposit, configs=configs, output=LocalBucket(tmp_path / "staging"), demo=demo)


class ListingBucket(LocalBucket):
    """A local bucket that remembers every prefix it was asked to list or glob."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.listed: list[str] = []

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        self.listed.append(prefix)
        return super().list(prefix)

    def glob(self, pattern: str) -> list[str]:
        self.listed.append(pattern)
        return super().glob(pattern)


def test_demo_plan_resolves_deposition_dataset_and_runs(local: Deposit) -> None:
    plan = local.plan()

    assert plan.dataset_id == "20999"
    assert plan.deposition_id == 10999
    assert plan.config.path == local.configs.uri("20999.yaml")
    assert plan.config.sha256 == hashlib.sha256(local.configs.read_bytes("20999.yaml")).hexdigest()
    assert plan.metadata["dataset_title"] == "Synthetic demo dataset"
    assert plan.metadata["dataset_identifier"] == 20999
    (deposition,) = plan.depositions
    assert deposition.id == 10999
    assert deposition.metadata["deposition_title"] == "Synthetic demo deposition"
    photos = f"{DEPOSIT_BUCKET_NAME}/{DEMO_SOURCE_PREFIX}/photos"
    assert deposition.key_photos == {
        "snapshot": f"{photos}/deposition_snapshot.png",
        "thumbnail": f"{photos}/deposition_thumbnail.png",
    }
    assert plan.key_photos == {
        "snapshot": f"{photos}/dataset_snapshot.png",
        "thumbnail": f"{photos}/dataset_thumbnail.png",
    }

    assert [run.name for run in plan.runs] == RUNS
    assert [run.partition_key for run in plan.runs] == ["20999__TS_001", "20999__TS_002", "20999__TS_003"]
    first = plan.run("TS_001")
    assert first.source_path == f"{DEMO_SOURCE_PREFIX}/runs/TS_001"
    assert first.source_file_count == 2
    # "float {voxel_spacing}" is expanded from the run data map row of each run; TS_001 alone also has 20.024 Å.
    assert [run.voxel_spacings for run in plan.runs] == [[10.012, 20.024], [10.012], [10.012]]
    assert spacing_names(first) == ["10.012", "20.024"]
    assert first.variables["voxel_spacing"] == "10.012"
    # Tomograms are found per voxel spacing, through their parent filters, with templated metadata.
    assert [(t.voxel_spacing, t.source_path) for t in run_tomograms(first)] == [
        (10.012, f"{DEMO_SOURCE_PREFIX}/runs/TS_001/TS_001.mrc"),
        (20.024, f"{DEMO_SOURCE_PREFIX}/runs/TS_001/TS_001_bin2.mrc"),
    ]
    assert run_tomograms(first)[0].metadata["voxel_spacing"] == 10.012
    assert run_tomograms(first)[1].metadata["is_visualization_default"] is False
    assert [len(run_tomograms(run)) for run in plan.runs] == [2, 1, 1]
    assert first.variables["tilt_axis"] == "84.7"
    assert first.variables["run_output_path"] == "20999/TS_001"
    assert first.variables["deposition_id"] == 10999
    assert len({run.content_version for run in plan.runs}) == 3
    assert len(plan.version) == 16

    with pytest.raises(PlanError, match=r"dataset 20999 has no run 'TS_009' in its plan \(.*20999\.yaml\)"):
        plan.run("TS_009")


def test_plan_round_trips_through_json(local: Deposit) -> None:
    plan = local.plan()
    assert DatasetPlan.model_validate_json(plan.model_dump_json()) == plan


def test_demo_plan_from_s3_deposit(s3_bucket_url: Callable[..., tuple[str, str]], tmp_path: Path) -> None:
    url, endpoint = s3_bucket_url("uploads")
    deposit = open_bucket(url, endpoint_url=endpoint)
    configs = LocalBucket(tmp_path / "configs")
    demo = write_demo(deposit=deposit, configs=configs)
    plan = load_config_object(configs, demo.config_key).planner(
        deposit=deposit, output=LocalBucket(tmp_path / "staging"), contributors=run_contributors()
    ).plan(demo.dataset_id)

    assert [run.partition_key for run in plan.runs] == ["20999__TS_001", "20999__TS_002", "20999__TS_003"]
    assert [run.source_path for run in plan.runs] == [f"{DEMO_SOURCE_PREFIX}/runs/{run}" for run in RUNS]
    assert [(run.voxel_spacings, run.source_file_count) for run in plan.runs] == [
        ([10.012, 20.024], 2), ([10.012], 1), ([10.012], 1)
    ]
    assert [len(run_tomograms(run)) for run in plan.runs] == [2, 1, 1]
    # On S3 the demo names its key photos by s3:// URI.
    assert plan.key_photos["snapshot"] == f"{url}/{DEMO_SOURCE_PREFIX}/photos/dataset_snapshot.png"
    assert plan.depositions[0].key_photos["thumbnail"] == f"{url}/{DEMO_SOURCE_PREFIX}/photos/deposition_thumbnail.png"


def test_replanning_an_unchanged_deposit_gives_the_same_versions(local: Deposit) -> None:
    first = local.plan()
    second = local.plan()
    assert second.version == first.version
    assert [run.content_version for run in second.runs] == [run.content_version for run in first.runs]
    assert second == first


def test_a_changed_run_file_changes_only_that_run(local: Deposit) -> None:
    before = local.plan()
    key = f"{DEMO_SOURCE_PREFIX}/runs/TS_002/TS_002.mrc"
    local.deposit.write_bytes(key, local.deposit.read_bytes(key))
    after = local.plan()

    changed = [run.name for run, old in zip(after.runs, before.runs, strict=True)
               if run.content_version != old.content_version]
    assert changed == ["TS_002"]
    assert after.version != before.version


def test_an_added_run_file_changes_that_run_and_its_count(local: Deposit) -> None:
    before = local.plan()
    local.deposit.write_bytes(f"{DEMO_SOURCE_PREFIX}/runs/TS_003/TS_003.rawtlt", b"-60\n0\n60\n")
    after = local.plan()
    assert after.run("TS_003").source_file_count == 2
    assert after.run("TS_003").content_version != before.run("TS_003").content_version
    assert after.run("TS_001").content_version == before.run("TS_001").content_version


def test_a_changed_config_changes_every_content_version(local: Deposit) -> None:
    before = local.plan()
    text = local.configs.read_text("20999.yaml").replace("Synthetic demo dataset", "Renamed demo dataset")
    local.configs.write_bytes("20999.yaml", text.encode())
    after = local.plan()
    assert after.metadata["dataset_title"] == "Renamed demo dataset"
    assert all(new.content_version != old.content_version for new, old in zip(after.runs, before.runs, strict=True))


def test_missing_runs_name_the_config_and_the_deposit(local: Deposit) -> None:
    assert local.deposit.delete_prefix(f"{DEMO_SOURCE_PREFIX}/runs") == 4
    with pytest.raises(PlanError) as raised:
        local.plan()
    message = str(raised.value)
    assert message.startswith(f"{local.configs.uri('20999.yaml')}: runs: ")
    assert "found no acquisition run for dataset 20999" in message
    assert local.deposit.uri(DEMO_SOURCE_PREFIX) in message


def test_missing_run_data_map_names_the_file(local: Deposit) -> None:
    local.deposit.delete(f"{DEMO_SOURCE_PREFIX}/run_data_map.tsv")
    with pytest.raises(PlanError) as raised:
        local.plan()
    message = str(raised.value)
    assert message.startswith(f"{local.configs.uri('20999.yaml')}: standardization_config: ")
    assert f"map file {local.deposit.uri(DEMO_SOURCE_PREFIX + '/run_data_map.tsv')} does not exist" in message


def test_non_numeric_voxel_spacing_names_run_and_field(local: Deposit) -> None:
    key = f"{DEMO_SOURCE_PREFIX}/run_data_map.tsv"
    local.deposit.write_bytes(key, local.deposit.read_text(key).replace("TS_002\t10.012", "TS_002\tn/a").encode())
    with pytest.raises(PlanError) as raised:
        local.plan()
    message = str(raised.value)
    assert message.startswith(local.configs.uri("20999.yaml") + ": voxel_spacings[0].sources")
    assert "'n/a'" in message


def test_dataset_not_named_by_the_config(local: Deposit) -> None:
    planner = load_config_object(local.configs, "20999.yaml").planner(deposit=local.deposit, output=local.output, contributors=run_contributors())
    assert planner.dataset_ids() == ["20999"]
    with pytest.raises(PlanError, match=r"20999\.yaml: datasets: no dataset '30000' is found by this config"):
        planner.plan("30000")


def test_find_dataset_config_picks_the_one_valid_owner(local: Deposit) -> None:
    local.configs.write_bytes("broken.yaml", b"version: 1.3.0\nstandardization_config: [\n")
    local.configs.write_bytes("20999_draft.yaml", b"not even: [yaml")
    loaded = find_dataset_config("20999", configs=local.configs, deposit=local.deposit, output=local.output)
    assert loaded.provenance.path == local.configs.uri("20999.yaml")


def test_find_dataset_config_refuses_two_owners(local: Deposit) -> None:
    local.configs.write_bytes("copy/20999-again.yaml", local.configs.read_bytes("20999.yaml"))
    with pytest.raises(PlanError) as raised:
        find_dataset_config("20999", configs=local.configs, deposit=local.deposit, output=local.output)
    message = str(raised.value)
    assert message.startswith("dataset 20999 is named by several configs")
    assert local.configs.uri("20999.yaml") in message
    assert local.configs.uri("copy/20999-again.yaml") in message


def test_find_dataset_config_lists_invalid_configs_when_none_is_valid(local: Deposit) -> None:
    local.configs.delete("20999.yaml")
    local.configs.write_bytes("a.yaml", b"version: 1.3.0\nstandardization_config: [\n")
    local.configs.write_bytes("b.yml", b"version: 9.9.9\n")
    local.configs.write_bytes("template.yaml", b"skipped: [")
    with pytest.raises(PlanError) as raised:
        find_dataset_config("20999", configs=local.configs, deposit=local.deposit, output=local.output)
    message = str(raised.value)
    assert message.splitlines()[0] == f"no valid ingestion config in {local.configs.uri('')} names dataset 20999"
    # Each invalid config is listed with its file, line and reason.
    assert f"{local.configs.uri('a.yaml')}:3: invalid YAML" in message
    assert f"{local.configs.uri('b.yml')}:1: datasets: required key is missing" in message
    assert "template.yaml" not in str(raised.value)


def test_climbing_glob_loads_with_a_warning_and_the_planner_refuses_it(local: Deposit) -> None:
    # The portal's validator has no such rule, so the loader only warns (validate-config shows it);
    # the planner refuses to read outside the source prefix.
    text = local.configs.read_text("20999.yaml").replace("list_glob: runs/TS_*", "list_glob: ../runs/TS_*")
    local.configs.write_bytes("climb.yaml", text.encode())
    loaded = load_config_object(local.configs, "climb.yaml")
    with pytest.raises(PlanError) as raised:
        loaded.planner(deposit=local.deposit, output=local.output, contributors=run_contributors()).plan("20999")
    message = str(raised.value)
    assert message.startswith(f"{local.configs.uri('climb.yaml')}: runs[0].sources[0].source_glob.list_glob: ")
    assert "'..'" in message


def _planner(local: Deposit, deposit: Bucket, config: dict) -> Planner:
    provenance = ConfigProvenance(path=local.configs.uri("edited.yaml"), sha256="0" * 64)
    return Planner(
        config, provenance=provenance, deposit=deposit, output=local.output, contributors=run_contributors()
    )


def test_climbing_glob_is_refused_by_the_planner_before_any_listing(local: Deposit) -> None:
    # A config dict that skipped the loader still cannot make the planner list outside the source prefix.
    deposit = ListingBucket(local.deposit.root)
    config = load_config_object(local.configs, "20999.yaml").data
    config["runs"][0]["sources"][0]["source_glob"]["list_glob"] = "../runs/TS_*"
    with pytest.raises(PlanError) as raised:
        _planner(local, deposit, config).plan("20999")
    message = str(raised.value)
    assert message.startswith(f"{local.configs.uri('edited.yaml')}: runs[0].sources[0].source_glob.list_glob: ")
    assert "'..'" in message
    assert deposit.listed == []


def test_climbing_glob_from_run_map_values_is_refused_before_listing(local: Deposit) -> None:
    # Template variables filled from the deposit's own run map are checked after rendering.
    key = f"{DEMO_SOURCE_PREFIX}/run_data_map.tsv"
    rows = local.deposit.read_text(key).splitlines()
    rows = [rows[0] + "\tsubdir"] + [row + "\t../../elsewhere" for row in rows[1:]]
    local.deposit.write_bytes(key, ("\n".join(rows) + "\n").encode())
    config = load_config_object(local.configs, "20999.yaml").data
    config["voxel_spacings"] = [{"sources": [{"source_glob": {"list_glob": "{subdir}/VS_*"}}]}]
    deposit = ListingBucket(local.deposit.root)
    with pytest.raises(PlanError) as raised:
        _planner(local, deposit, config).plan("20999")
    message = str(raised.value)
    assert message.startswith(f"{local.configs.uri('edited.yaml')}: voxel_spacings[0].sources[0].source_glob")
    assert "'../../elsewhere/VS_*'" in message
    # The runs glob was listed; nothing under the rendered climbing glob was.
    assert all("elsewhere" not in listed for listed in deposit.listed)


def test_unknown_template_variable_names_the_config(local: Deposit) -> None:
    config = load_config_object(local.configs, "20999.yaml").data
    config["runs"][0]["sources"][0]["source_glob"]["list_glob"] = "{no_such_variable}/TS_*"
    with pytest.raises(PlanError) as raised:
        _planner(local, local.deposit, config).plan("20999")
    message = str(raised.value)
    assert message.startswith(f"{local.configs.uri('edited.yaml')}: runs[0].sources[0].source_glob.list_glob: ")
    assert "unknown variable 'no_such_variable'" in message


def test_voxel_spacing_from_tomogram_headers(local: Deposit) -> None:
    text = local.configs.read_text(local.demo.config_key)
    finder = "      - literal:\n          value: ['float {voxel_spacing}']\n"
    assert finder in text
    header_finder = "      - tomogram_header:\n          list_glob: runs/{run_name}/*.mrc\n          header_key: voxel_size\n"
    local.configs.write_bytes(local.demo.config_key, text.replace(finder, header_finder).encode())
    # TS_001's glob finds both of its tomograms, whose headers say 10 and 20 Å.
    assert [run.voxel_spacings for run in local.plan().runs] == [[10.012, 20.024], [10.012], [10.012]]

    local.deposit.write_bytes(f"{DEMO_SOURCE_PREFIX}/runs/TS_002/TS_002.mrc", b"not an mrc" * 200)
    with pytest.raises(PlanError) as raised:
        local.plan()
    assert "voxel_spacings[0].sources.tomogram_header" in str(raised.value)
    assert "TS_002.mrc: not an MRC file" in str(raised.value)


def test_templates_in_tomogram_number_fields_resolve_to_the_field_type(local: Deposit) -> None:
    # The portal's validator accepts any formatted-string form in a number field of a tomogram (facts §1.7);
    # the plan fills it from the run map with the field's own type.
    text = local.configs.read_text(local.demo.config_key)
    text = text.replace("voxel_spacing: 'float {voxel_spacing}'", "voxel_spacing: '{voxel_spacing}'")
    text = text.replace("tomogram_version: 1", "tomogram_version: 'int {version}'")
    local.configs.write_bytes(local.demo.config_key, text.encode())
    data_map_key = "lab_uploads/demo/run_data_map.tsv"
    rows = local.deposit.read_text(data_map_key).splitlines()
    rows = [rows[0] + "\tversion", *(f"{row}\t{number}" for number, row in enumerate(rows[1:], start=2))]
    local.deposit.write_bytes(data_map_key, ("\n".join(rows) + "\n").encode())
    metadata = run_tomograms(local.plan().run("TS_002"))[0].metadata
    assert metadata["voxel_spacing"] == 10.012 and type(metadata["voxel_spacing"]) is float
    assert metadata["tomogram_version"] == 3.0 and type(metadata["tomogram_version"]) is float
