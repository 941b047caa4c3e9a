"""Fixtures of the config tests: the portal's reference configs and config schema."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from config_samples import CONFIG_SCHEMA, REFERENCE_CONFIGS


@pytest.fixture
def reference_configs() -> list[Path]:
    """The portal's six reference configs (skipped when the reference folder is not beside the repo)."""
    if not REFERENCE_CONFIGS.is_dir():
        pytest.skip(f"reference configs folder {REFERENCE_CONFIGS} is absent")
    paths = sorted(REFERENCE_CONFIGS.glob("*.yaml"))
    assert len(paths) == 6
    return paths


@pytest.fixture
def config_schema() -> dict[str, Any]:
    """The portal's ingestion config JSON schema (skipped when the reference folder is absent)."""
    if not CONFIG_SCHEMA.is_file():
        pytest.skip(f"ingestion config schema {CONFIG_SCHEMA} is absent")
    return json.loads(CONFIG_SCHEMA.read_text())
