"""Partition keys and safe names."""

from __future__ import annotations

import re

import pytest

from cryoet_assets.lib.keys import (
    MAX_NAME_LENGTH,
    UnsafeNameError,
    acquisition_run_key,
    check_name,
    dataset_partition_key,
    deposition_partition_key,
    parse_acquisition_run_key,
)


@pytest.mark.parametrize(
    ("dataset_id", "run_name"),
    [("20999", "TS_001"), (10001, "run.01-a"), ("ds-1", "TS_1__x"), ("a", "b" * MAX_NAME_LENGTH)],
)
def test_acquisition_run_key_round_trips(dataset_id: object, run_name: str) -> None:
    key = acquisition_run_key(dataset_id, run_name)
    assert key == f"{dataset_id}__{run_name}"
    assert parse_acquisition_run_key(key) == (str(dataset_id), run_name)


def test_demo_run_key_shape() -> None:
    assert acquisition_run_key(20999, "TS_001") == "20999__TS_001"
    assert dataset_partition_key(20999) == "20999"
    assert deposition_partition_key(10999) == "10999"


@pytest.mark.parametrize(
    "name",
    ["..", "a..b", "TS_..", "../etc", "a/b", "/abs", ".hidden", ".", "", "-dash", "sp ace", "tab\t", "x" * 129],
)
def test_check_name_rejects_unsafe_names(name: str) -> None:
    with pytest.raises(UnsafeNameError) as raised:
        check_name(name, what="run name")
    assert f"run name {name!r} is not a safe name" in str(raised.value)


def test_check_name_accepts_the_longest_name_and_returns_text() -> None:
    assert check_name("x" * MAX_NAME_LENGTH, what="run name") == "x" * MAX_NAME_LENGTH
    assert check_name(42, what="dataset id") == "42"


@pytest.mark.parametrize(
    ("dataset_id", "run_name", "message"),
    [
        ("..", "TS_001", "dataset id '..'"),
        ("20999", "../TS_001", "run name '../TS_001'"),
        ("20999", "a/b", "run name 'a/b'"),
        ("20999", ".TS_001", "run name '.TS_001'"),
        ("20999", "", "run name ''"),
        ("20999", "r" * (MAX_NAME_LENGTH + 1), "run name 'rrrr"),
        ("ds__1", "TS_001", "dataset id 'ds__1' must not contain '__'"),
    ],
)
def test_acquisition_run_key_rejects(dataset_id: str, run_name: str, message: str) -> None:
    with pytest.raises(UnsafeNameError, match="^" + re.escape(message)):
        acquisition_run_key(dataset_id, run_name)


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("20999TS_001", "has no '__' separator"),
        ("__TS_001", "dataset id ''"),
        ("20999__", "run name ''"),
        ("20999__../x", "run name '../x'"),
        ("..__TS_001", "dataset id '..'"),
        ("20999__a/b", "run name 'a/b'"),
    ],
)
def test_parse_acquisition_run_key_rejects(key: str, message: str) -> None:
    with pytest.raises(UnsafeNameError, match=re.escape(message)):
        parse_acquisition_run_key(key)
