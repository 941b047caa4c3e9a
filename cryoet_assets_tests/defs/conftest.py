"""Fixtures of the definitions' tests."""

import pytest

from cryoet_assets_tests.instances import IngestedDemo, ingest_demo_once

# Sections the project does not ingest yet, added to the demo config: one gains source, two rawtilts sources.
EXTRA_SECTIONS = """\
gains:
  - sources:
      - source_glob:
          list_glob: '{run_name}/gain.mrc'
rawtilts:
  - sources:
      - source_glob:
          list_glob: '{run_name}/*.rawtlt'
      - literal:
          value: [default]
"""


def _with_a_failing_run(settings, demo) -> None:
    from cryoet_assets.lib.storage import open_bucket

    deposit, configs = open_bucket(settings.deposit_url), open_bucket(settings.configs_url)
    config = configs.read_text(demo.config_key).replace("version: 1.3.0", "version: 1.4.0", 1)
    configs.write_bytes(demo.config_key, (config + EXTRA_SECTIONS).encode())
    # A voxel spacing of 40.5 Å is outside the portal's 1-30 Å rule: TS_002's voxel spacing check fails at ERROR.
    data_map = deposit.read_text("lab_uploads/demo/run_data_map.tsv").replace("TS_002\t10.012", "TS_002\t40.5")
    deposit.write_bytes("lab_uploads/demo/run_data_map.tsv", data_map.encode())


@pytest.fixture(scope="session")
def _demo_with_a_failing_run(tmp_path_factory: pytest.TempPathFactory) -> IngestedDemo:
    return ingest_demo_once(tmp_path_factory, "failing_run", _with_a_failing_run)


@pytest.fixture(scope="module")
def demo_with_a_failing_run(_demo_with_a_failing_run: IngestedDemo):
    """(settings, demo, instance, report): the demo with an unknown config version, two sections not ingested
    yet (`EXTRA_SECTIONS`) and TS_002 at 40.5 Å, ingested once per session; the tests that use it only read."""
    with pytest.MonkeyPatch.context() as env, _demo_with_a_failing_run.restored(env) as ingested:
        yield ingested
