"""ForkedRunLauncher on a real instance and workspace (a code server of `launcher_code`, started as the daemon
starts one): runs are forked from one warm process and end as Dagster says they did; a run can be terminated;
run monitoring's health check sees a worker die; a changed code file gets a new fork server; a location run by
another interpreter is left to the default launcher."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.launcher import WorkerStatus
from dagster._core.storage.tags import GRPC_INFO_TAG
from dagster._core.workspace.context import WorkspaceProcessContext
from dagster._core.workspace.load_target import ModuleTarget

from cryoet_assets.run_launcher import WORKER_TAG, ForkedRunLauncher, _live_pid, _start_time

TESTS = Path(__file__).resolve().parent
CODE = TESTS / "launcher_code" / "definitions.py"
RunStatus = dg.DagsterRunStatus


@pytest.fixture(scope="module")
def location(tmp_path_factory) -> Iterator[tuple[dg.DagsterInstance, WorkspaceProcessContext]]:
    """One instance and code server for the module's tests (a code server takes seconds to start)."""
    launcher = {"module": "cryoet_assets.run_launcher", "class": "ForkedRunLauncher",
                "config": {"preload_modules": ["launcher_code.preloaded"]}}
    home = tmp_path_factory.mktemp("home")
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.syspath_prepend(str(TESTS))
        with dg.instance_for_test(overrides={"run_launcher": launcher}, temp_dir=str(home)) as instance:
            target = ModuleTarget(module_name="launcher_code.definitions", attribute=None,
                                  working_directory=str(TESTS), location_name="launcher_code")
            with WorkspaceProcessContext(instance, target) as context:
                yield instance, context
                instance.run_launcher.dispose()


def launch(location, tmp_path: Path, name: str, *, hold: bool = False, executable: str | None = None):
    """Launch `report_job` as the queued run coordinator does; returns (run, report file, release file)."""
    from launcher_code.definitions import report_job

    instance, context = location
    workspace = context.create_request_context()
    remote = workspace.get_code_location("launcher_code").get_repository("__repository__").get_full_job("report_job")
    origin = remote.get_python_origin()
    if executable is not None:
        origin = origin._replace(repository_origin=origin.repository_origin._replace(executable_path=executable))
    report, release = tmp_path / f"{name}.pid", tmp_path / f"{name}.release"
    files = {"report": str(report), "release": str(release) if hold else ""}
    run = instance.create_run_for_job(job_def=report_job, run_config={"ops": {"report": {"config": files}}},
                                      remote_job_origin=remote.get_remote_origin(), job_code_origin=origin)
    instance.launch_run(run.run_id, workspace)
    return instance.get_run_by_id(run.run_id), report, release


def wait_for(what: str, condition, timeout: float = 60):
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        assert time.monotonic() < deadline, f"{what} did not happen within {timeout} s"
        time.sleep(0.05)
    return value


def finished(instance: dg.DagsterInstance, run_id: str) -> dg.DagsterRun:
    return wait_for(f"run {run_id} finishing",
                    lambda: (run := instance.get_run_by_id(run_id)).is_finished and run)


def test_runs_are_forked_from_one_warm_process(location, tmp_path):
    instance, _ = location
    first, first_report, _ = launch(location, tmp_path, "first")
    second, second_report, _ = launch(location, tmp_path, "second")
    assert finished(instance, first.run_id).status == RunStatus.SUCCESS
    assert finished(instance, second.run_id).status == RunStatus.SUCCESS
    (first_pid, server), (second_pid, second_server) = (
        map(int, report.read_text().split()[:2]) for report in (first_report, second_report))
    assert server == second_server != os.getpid()  # both children of the one fork server
    assert first_pid != second_pid
    for run, pid in ((first, first_pid), (second, second_pid)):
        _, worker_pid, started = instance.get_run_by_id(run.run_id).tags[WORKER_TAG].split(":")
        assert int(worker_pid) == pid and started.isdigit()
        messages = [entry.message for entry in instance.all_logs(run.run_id)]
        assert f"Started process for run (pid: {pid})." in messages



def test_the_first_run_does_not_wait_for_the_preloads_and_the_next_ones_have_them(location, tmp_path):
    instance, _ = location
    instance.run_launcher.dispose()  # the next launch starts a new fork server
    reports = []
    for name in ("first", "second", "third"):
        run, report, _ = launch(location, tmp_path, name)
        assert finished(instance, run.run_id).status == RunStatus.SUCCESS
        reports.append(report.read_text().split())
    assert len({fields[1] for fields in reports}) == 1  # one fork server
    assert [fields[3] for fields in reports] == ["0", "1", "1"]


def test_a_run_has_a_new_interpreters_start_method(location, tmp_path):
    """The fork server is a `spawn` child of the launcher; a run forked from it must not inherit that default,
    or each multiprocessing lock it makes (tqdm's, in great_expectations) is a named semaphore left in
    /dev/shm."""
    instance, _ = location
    run, report, _ = launch(location, tmp_path, "start_method")
    assert finished(instance, run.run_id).status == RunStatus.SUCCESS
    fresh = subprocess.run(
        [sys.executable, "-c", "import multiprocessing; print(multiprocessing.get_start_method())"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()
    assert report.read_text().split()[2] == fresh


def test_terminate_cancels_a_running_run(location, tmp_path):
    instance, _ = location
    run, report, _ = launch(location, tmp_path, "held", hold=True)
    wait_for("the op to start", report.exists)
    assert instance.run_launcher.terminate(run.run_id)
    assert finished(instance, run.run_id).status == RunStatus.CANCELED
    assert not instance.run_launcher.terminate(run.run_id)  # nothing left to terminate


def test_run_monitoring_fails_a_run_whose_worker_was_killed(location, tmp_path):
    import logging

    from dagster._daemon.monitoring.run_monitoring import monitor_started_run

    instance, context = location
    run, report, _ = launch(location, tmp_path, "killed", hold=True)
    wait_for("the op to start", report.exists)
    run = instance.get_run_by_id(run.run_id)
    assert instance.run_launcher.check_run_worker_health(run).status == WorkerStatus.RUNNING
    os.kill(int(report.read_text().split()[0]), signal.SIGKILL)
    health = wait_for("the health check to see the worker gone",
                      lambda: (h := instance.run_launcher.check_run_worker_health(run)).status
                      == WorkerStatus.FAILED and h)
    assert run.tags[WORKER_TAG] in health.msg
    [record] = instance.get_run_records(dg.RunsFilter(run_ids=[run.run_id]))
    assert record.dagster_run.status == RunStatus.STARTED
    monitor_started_run(instance, context.create_request_context(), record, logging.getLogger("test"))
    assert instance.get_run_by_id(run.run_id).status == RunStatus.FAILURE


def test_a_changed_code_file_gets_a_new_fork_server(location, tmp_path):
    instance, _ = location
    before, before_report, _ = launch(location, tmp_path, "before")
    finished(instance, before.run_id)
    stat = CODE.stat()
    try:
        os.utime(CODE, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
        after, after_report, _ = launch(location, tmp_path, "after")
        again, again_report, _ = launch(location, tmp_path, "again")
        for run in (after, again):
            assert finished(instance, run.run_id).status == RunStatus.SUCCESS
    finally:
        os.utime(CODE, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    servers = [int(report.read_text().split()[1]) for report in (before_report, after_report, again_report)]
    assert servers[0] != servers[1] == servers[2]


def test_another_interpreter_is_left_to_the_default_launcher(location, tmp_path):
    instance, _ = location
    assert isinstance(instance.run_launcher, ForkedRunLauncher)
    run, report, _ = launch(location, tmp_path, "elsewhere", executable="/opt/other/bin/python3")
    assert finished(instance, run.run_id).status == RunStatus.SUCCESS
    run = instance.get_run_by_id(run.run_id)
    assert WORKER_TAG not in run.tags and GRPC_INFO_TAG in run.tags  # started by the code server
    assert report.exists()


def test_a_worker_that_exited_unreaped_is_gone():
    """A worker outliving its fork server is reparented; under a parent that never waits for it (a daemon
    that is a container's pid 1) it stays a zombie, which must not count as a running worker."""
    import socket

    pid = os.fork()
    if pid == 0:
        os._exit(0)
    try:
        worker = f"{socket.gethostname()}:{pid}:{_start_time(pid)}"
        wait_for("the child to exit",
                 lambda: Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z")
        assert _live_pid(worker) is None
    finally:
        os.waitpid(pid, 0)
    assert _live_pid(f"{socket.gethostname()}:{os.getpid()}:{_start_time(os.getpid())}") == os.getpid()


def test_an_installed_code_location_package_is_watched_for_changes():
    import json

    from cryoet_assets.run_launcher import _code_files

    installed = json.__file__  # in the interpreter's installation, like a package installed without -e
    assert installed not in [path for path, _ in _code_files(set())]
    assert installed in [path for path, _ in _code_files({"json"})]
    assert str(TESTS / "test_run_launcher.py") in [path for path, _ in _code_files(set())]


def test_listing_the_code_files_leaves_deferred_modules_unloaded():
    code = """if True:
        import sys
        import cryoet_assets.run_worker_imports
        from cryoet_assets.run_launcher import _code_files
        files = [path for path, _ in _code_files({"cryoet_assets"})]
        assert any(path.endswith("run_worker_imports.py") for path in files)
        assert "scipy.stats._stats_py" not in sys.modules and "altair.vegalite" not in sys.modules
    """
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_the_fork_servers_warm_up_loads_execute_run_and_the_instances_storages(tmp_path):
    (tmp_path / "dagster.yaml").write_text((TESTS.parent / "dagster.yaml").read_text())
    code = f"""if True:
        import sys
        from dagster._core.code_pointer import ModuleCodePointer
        from dagster._core.instance.ref import InstanceRef
        from dagster._core.origin import JobPythonOrigin, RepositoryPythonOrigin
        from dagster._grpc.types import ExecuteRunArgs
        from dagster._serdes import serialize_value
        from cryoet_assets.run_launcher import _load_what_runs_load

        loaded = ("dagster._cli.api", "cryoet_assets.event_log", "cryoet_assets.sqlite_storage")
        assert not any(name in sys.modules for name in loaded)
        origin = JobPythonOrigin("report_job", RepositoryPythonOrigin(
            sys.executable, ModuleCodePointer("launcher_code.definitions", "defs", {str(TESTS)!r})))
        args = ExecuteRunArgs(job_origin=origin, run_id="0" * 36, instance_ref=InstanceRef.from_dir({str(tmp_path)!r}))
        _load_what_runs_load(serialize_value(args))
        assert all(name in sys.modules for name in loaded)
        import threading
        assert threading.active_count() == 1  # the server forks: no thread of the instance's may be left
    """
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
    assert (tmp_path / "history" / "runs.db").exists()  # the instance was made from the run's ref
