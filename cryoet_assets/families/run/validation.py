"""The portal's checks of `run_metadata.json` and of a run's voxel spacing folder names (facts §4.2)."""

from __future__ import annotations

import math
from typing import Any

from cryoet_assets.lib.documents import type_name
from cryoet_assets.lib.validation.gx import rows_frame, run_suite
from cryoet_assets.lib.validation.metadata import expect_deposition_exists, expect_document_object, json_type
from cryoet_assets.lib.validation.outcome import ValidationOutcome

VOXEL_SPACING_NAME = r"^\d+\.\d{3}$"
VOXEL_SPACING_MIN = 1
VOXEL_SPACING_MAX = 30
# The portal asserts `pytest.approx(value % 1, abs=0.001) != 0`: the fractional part, as float `%`
# computes it, must be more than 0.001 away from 0. Taken literally, 14.000 and 14.001 (whose `% 1` is
# 0.000999...) count as whole numbers while 13.999 (`% 1` is 0.999) does not.
WHOLE_NUMBER_TOLERANCE = 0.001


def validate_run(doc: Any, *, path: str, dir_name: str, deposition_exists: bool) -> ValidationOutcome:
    """`run_metadata.json`: run_name is the directory name, last_updated_at an int, deposition exists."""
    import great_expectations.expectations as gxe

    body = doc if isinstance(doc, dict) else {}
    row = {
        "where": path,
        "document_type": type_name(doc),
        "run_name": body.get("run_name"),
        "dir_name": dir_name,
        "last_updated_at_type": json_type(body, "last_updated_at") if "last_updated_at" in body else None,
        "deposition_exists": bool(deposition_exists),
    }
    expectations = [
        expect_document_object(),
        gxe.ExpectColumnPairValuesToBeEqual(
            column_A="run_name",
            column_B="dir_name",
            ignore_row_if="neither",
            description="run_name must equal the run's directory name",
        ),
        # A boolean passes the portal's isinstance(..., int); it is rejected here.
        gxe.ExpectColumnValuesToBeInSet(
            column="last_updated_at_type",
            value_set=["integer"],
            description="last_updated_at, when present, must be an integer",
        ),
        expect_deposition_exists(),
    ]
    frame = rows_frame([row], columns=list(row))
    return run_suite("run_metadata", frame, expectations, where_column="where")


def validate_voxel_spacings(names: list[str], *, where: list[str]) -> ValidationOutcome:
    """Voxel spacing names (the part after `VoxelSpacing`, e.g. "13.480"); `where[i]` names `names[i]`.

    Each must match `^\\d+\\.\\d{3}$` and lie strictly between 1 and 30; a whole number is a warning.
    """
    import great_expectations.expectations as gxe

    if len(names) != len(where):
        raise ValueError(f"validate_voxel_spacings: {len(names)} names but {len(where)} where entries")
    rows = []
    for name, item in zip(names, where, strict=True):
        value = _float_or_none(name)
        rows.append(
            {
                "where": item,
                "voxel_spacing_name": str(name),
                "voxel_spacing": value,
                "voxel_spacing_fraction": value % 1 if value is not None and math.isfinite(value) else None,
            }
        )
    expectations = [
        gxe.ExpectColumnValuesToMatchRegex(
            column="voxel_spacing_name",
            regex=VOXEL_SPACING_NAME,
            description="voxel spacing name must be digits, a dot and three decimals, e.g. 13.480",
        ),
        gxe.ExpectColumnValuesToBeBetween(
            column="voxel_spacing",
            min_value=float(VOXEL_SPACING_MIN),
            max_value=float(VOXEL_SPACING_MAX),
            strict_min=True,
            strict_max=True,
            description=f"voxel spacing must be strictly between {VOXEL_SPACING_MIN} and {VOXEL_SPACING_MAX}",
        ),
        gxe.ExpectColumnValuesToBeBetween(
            column="voxel_spacing_fraction",
            min_value=WHOLE_NUMBER_TOLERANCE,
            strict_min=True,
            description=(
                f"voxel spacing is a whole number (its fractional part does not exceed "
                f"{WHOLE_NUMBER_TOLERANCE}): check that it is not a rounded or binned value"
            ),
            # The portal's test fails here, yet real tomograms are reconstructed at 10.000 or 20.000 Å:
            # a warning keeps the curator's attention without blocking such data.
            severity="warning",
        ),
    ]
    frame = rows_frame(
        rows, columns=["where", "voxel_spacing_name", "voxel_spacing", "voxel_spacing_fraction"]
    )
    return run_suite("voxel_spacing_names", frame, expectations, where_column="where")


def _float_or_none(name: object) -> float | None:
    try:
        return float(str(name))
    except ValueError:
        return None
