"""Fixtures of the config tests: the portal's reference configs and config schema."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest


@pytest.fixture
def reference_configs(reference_dir: Path) -> list[Path]:
    """The portal's six reference configs."""
    paths = sorted((reference_dir / "configs").glob("*.yaml"))
    assert len(paths) == 6
    return paths


@pytest.fixture
def config_schema(reference_dir: Path) -> dict[str, Any]:
    """The portal's ingestion config JSON schema."""
    return json.loads((reference_dir / "schema" / "ingestion_config.schema.json").read_text())
