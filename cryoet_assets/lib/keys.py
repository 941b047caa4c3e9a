"""Partition keys and safe names: the one place that builds and parses them."""

from __future__ import annotations

import re

SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
RUN_KEY_SEPARATOR = "__"
MAX_NAME_LENGTH = 128


class UnsafeNameError(ValueError):
    """A name that cannot be used as a partition key or a path component."""


def check_name(name: object, *, what: str) -> str:
    """Return `name` as a string if it is a safe path component and partition key, else raise."""
    text = str(name)
    if not SAFE_NAME.match(text) or ".." in text or len(text) > MAX_NAME_LENGTH:
        raise UnsafeNameError(
            f"{what} {text!r} is not a safe name: it must match {SAFE_NAME.pattern}, "
            f"be at most {MAX_NAME_LENGTH} characters and contain no '..'"
        )
    return text


def dataset_partition_key(dataset_id: object) -> str:
    """Key of a `datasets` partition: the dataset id."""
    return check_name(dataset_id, what="dataset id")


def deposition_partition_key(deposition_id: object) -> str:
    """Key of a `depositions` partition: the deposition id."""
    return check_name(deposition_id, what="deposition id")


def acquisition_run_key(dataset_id: object, run_name: object) -> str:
    """Key of an `acquisition_runs` partition: `<dataset_id>__<run_name>`."""
    dataset = check_name(dataset_id, what="dataset id")
    if RUN_KEY_SEPARATOR in dataset:
        raise UnsafeNameError(f"dataset id {dataset!r} must not contain {RUN_KEY_SEPARATOR!r}")
    run = check_name(run_name, what="run name")
    return f"{dataset}{RUN_KEY_SEPARATOR}{run}"


def parse_acquisition_run_key(key: str) -> tuple[str, str]:
    """Split an `acquisition_runs` key into (dataset_id, run_name), validating both halves."""
    dataset, sep, run = key.partition(RUN_KEY_SEPARATOR)
    if not sep:
        raise UnsafeNameError(f"acquisition run key {key!r} has no {RUN_KEY_SEPARATOR!r} separator")
    check_name(dataset, what="dataset id")
    check_name(run, what="run name")
    return dataset, run
