"""A run launcher that starts each run in a process forked from one that has already loaded the code.

Dagster's default launcher asks the code server to start every run in a new interpreter (a `spawn`), which
imports dagster, the definitions and great_expectations again: about 6 s of CPU per run before any work.
`ForkedRunLauncher` starts, per code location, one fork server that imports them once (the location's
definitions and `preload_modules`); each run is a fork of it that executes the run exactly as
`dagster api execute_run` does in the container of a Docker, ECS or Kubernetes run launcher. When a code file
the fork server loaded changes, the next run gets a new fork server (the daemon reloads its code server every
minute for the same reason); runs already started finish on the code they began with. A location run by another
interpreter than the launcher's is left to the default launcher.

The worker's host, pid and start time are kept in the run's `cryoet/run_worker` tag: `terminate` sends it
SIGTERM (Dagster turns that into an interrupt and the run ends canceled), and run monitoring asks
`check_run_worker_health` whether it is still there.
"""

from __future__ import annotations

import importlib
import os
import signal
import socket
import sys
import threading
from collections.abc import Mapping, Sequence
from typing import Any

from dagster import Field
from dagster._core.launcher import CheckRunHealthResult, LaunchRunContext, WorkerStatus
from dagster._core.launcher.default_run_launcher import DefaultRunLauncher
from dagster._serdes import ConfigurableClassData

WORKER_TAG = "cryoet/run_worker"
STARTUP_TIMEOUT_SECONDS = 300  # a fork server loading the code for longer holds every launch back


class ForkedRunLauncher(DefaultRunLauncher):
    """Launches each run in a fork of a process that has imported the code location once."""

    def __init__(self, inst_data: ConfigurableClassData | None = None, preload_modules: Sequence[str] = ()):
        super().__init__(inst_data=inst_data)
        self._preload = tuple(preload_modules)
        self._servers: dict[Any, _ForkServer] = {}
        self._servers_lock = threading.Lock()

    @classmethod
    def config_type(cls) -> dict:
        return {
            "preload_modules": Field(
                [str], is_required=False, default_value=[],
                description="Modules the fork server imports besides the code location (e.g. great_expectations).",
            )
        }

    @classmethod
    def from_config_value(cls, inst_data: ConfigurableClassData, config_value: Mapping[str, Any]):
        return cls(inst_data=inst_data, preload_modules=config_value.get("preload_modules", []))

    def launch_run(self, context: LaunchRunContext) -> None:
        run = context.dagster_run
        origin = run.job_code_origin
        if origin is None or os.path.abspath(origin.executable_path) != os.path.abspath(sys.executable):
            super().launch_run(context)
            return
        server = self._server(origin.repository_origin)
        worker = server.fork(run.run_id, origin, self._instance.get_ref())
        self._instance.add_run_tags(run.run_id, {WORKER_TAG: worker})
        self._run_ids.add(run.run_id)

    def terminate(self, run_id: str) -> bool:
        run = self._instance.get_run_by_id(run_id) if self.has_instance else None
        if run is None or run.is_finished:
            return False
        worker = run.tags.get(WORKER_TAG)
        if worker is None:
            return super().terminate(run_id)
        if worker.split(":")[0] != socket.gethostname():
            self._instance.report_engine_event(
                f"Cannot terminate the run from {socket.gethostname()}: its worker ({worker}) runs on another host.",
                run, cls=self.__class__,
            )
            return False
        self._instance.report_run_canceling(run)
        pid = _live_pid(worker)
        if pid is None:
            self._instance.report_run_canceled(run, message=f"The run's worker ({worker}) had already exited.")
            return True
        os.kill(pid, signal.SIGTERM)
        return True

    @property
    def supports_check_run_worker_health(self) -> bool:
        return True

    def check_run_worker_health(self, run) -> CheckRunHealthResult:
        worker = run.tags.get(WORKER_TAG)
        if worker is None or worker.split(":")[0] != socket.gethostname():
            return CheckRunHealthResult(WorkerStatus.UNKNOWN, "the run's worker is not on this host")
        if _live_pid(worker) is None:
            return CheckRunHealthResult(WorkerStatus.FAILED, f"the run's worker process ({worker}) is gone")
        return CheckRunHealthResult(WorkerStatus.RUNNING)

    def dispose(self) -> None:
        with self._servers_lock:
            for server in self._servers.values():
                server.close()
            self._servers.clear()

    def _server(self, repository_origin) -> _ForkServer:
        from dagster._serdes import serialize_value

        key = serialize_value(repository_origin)
        with self._servers_lock:
            server = self._servers.get(key)
            if server is not None and not server.current():
                server.close()  # its runs go on; no new run is forked from old code
                server = None
            if server is None:
                server = self._servers[key] = _ForkServer(key, self._preload)
            return server


class _ForkServer:
    """A process, spawned once, that loads the code and forks one child per run it is sent.

    It is replaced when a source file of the code location that it loaded changes (see `_code_files`).
    """

    def __init__(self, serialized_origin: str, preload: tuple[str, ...]) -> None:
        import multiprocessing

        context = multiprocessing.get_context("spawn")
        self._connection, theirs = context.Pipe()
        self._process = context.Process(
            target=_serve, args=(theirs, serialized_origin, preload),
            name="dagster-run-fork-server", daemon=True,
        )
        self._process.start()
        theirs.close()
        self._lock = threading.Lock()
        if not self._connection.poll(STARTUP_TIMEOUT_SECONDS):
            self._process.kill()
            raise RuntimeError(f"the run fork server did not load the code location within "
                               f"{STARTUP_TIMEOUT_SECONDS} s; see the daemon's log")
        self._loaded: list[tuple[str, int]] = self._connection.recv()

    def fork(self, run_id: str, job_origin, instance_ref) -> str:
        """Start the run in a new child; returns the child as `host:pid:start time`."""
        from dagster._grpc.types import ExecuteRunArgs
        from dagster._serdes import serialize_value

        args = ExecuteRunArgs(job_origin=job_origin, run_id=run_id, instance_ref=instance_ref)
        with self._lock:
            self._connection.send(serialize_value(args))
            while not isinstance(reply := self._connection.recv(), str):
                self._loaded = reply  # the code files again, once the server has loaded `preload_modules`
            return reply

    def current(self) -> bool:
        """Whether the server still runs and every code file it loaded is unchanged."""
        if not self._process.is_alive():
            return False
        try:
            return all(os.stat(path).st_mtime_ns == mtime for path, mtime in self._loaded)
        except OSError:
            return False

    def close(self) -> None:
        self._connection.close()  # the server exits when it reads the end of the pipe
        self._process.join(timeout=5)


def _serve(connection, serialized_origin: str, preload: tuple[str, ...]) -> None:
    """The fork server's loop: load everything once, then fork per request until the launcher goes away."""
    from dagster._serdes import deserialize_value
    from dagster._utils.hosted_user_process import recon_repository_from_origin

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C in the launcher's terminal reaches the runs, not this
    # multiprocessing made `spawn` this process's default start method; a run forked from it gets the
    # default a new interpreter has (`fork` on Linux), as under `dagster api execute_run`. Otherwise each
    # multiprocessing lock a run makes (tqdm's, in great_expectations) is a named semaphore that outlives
    # the run in /dev/shm until the launcher exits.
    import multiprocessing

    multiprocessing.set_start_method(None, force=True)
    from cryoet_assets.collection import collection_paused

    origin = deserialize_value(serialized_origin)
    with collection_paused(freeze=True):
        try:
            repository = recon_repository_from_origin(origin).get_definition()
            repository.get_all_jobs()
        except Exception:  # noqa: BLE001 - each run loads the code again and fails with the location's error
            _warn("could not load the code location; each run will load it")
    module = getattr(origin.code_pointer, "module", None) or getattr(origin.code_pointer, "package", None)
    packages = {module.split(".")[0]} if module else set()
    connection.send(_code_files(packages))
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # finished runs are reaped by the kernel
    warmed = False
    while True:
        try:
            execute_run_args = connection.recv()
        except (EOFError, OSError):
            return
        pid = os.fork()
        if pid == 0:
            connection.close()
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            signal.signal(signal.SIGINT, signal.default_int_handler)
            os._exit(_execute_run(execute_run_args))
        connection.send(f"{socket.gethostname()}:{pid}:{_start_time(pid)}")
        if not warmed:
            # After the first fork, not before: the first run (under the daemon, a dataset's plan) starts
            # without waiting seconds for imports it may not need; the runs after it start with them.
            with collection_paused(freeze=True):
                for name in preload:
                    try:
                        importlib.import_module(name)
                    except Exception:  # noqa: BLE001 - each run imports it again; a run that needs it fails there
                        _warn(f"could not preload {name}; each run will import it")
                try:
                    _load_what_runs_load(execute_run_args)
                except Exception:  # noqa: BLE001 - each run loads it again, and fails there if it must
                    _warn("could not load Dagster's execute_run and the instance's storages; each run will")
            warmed = True
            connection.send(_code_files(packages))


def _load_what_runs_load(execute_run_args: str) -> None:
    """Import what every run imports before its first step, once in the fork server: Dagster's `execute_run`
    command and the modules of the instance's storages (the run's instance is made from its ref and disposed
    of; each run makes its own). About 0.15 s of CPU a run otherwise, of 265 modules."""
    from dagster._cli.api import api_cli  # noqa: F401
    from dagster._core.instance import DagsterInstance
    from dagster._serdes import deserialize_value

    DagsterInstance.from_ref(deserialize_value(execute_run_args).instance_ref).dispose()


def _warn(message: str) -> None:
    import traceback

    print(f"run fork server (pid {os.getpid()}): {message}", file=sys.stderr)
    traceback.print_exc()


def _code_files(packages: set[str]) -> list[tuple[str, int]]:
    """(path, mtime in ns) of every loaded module's source that is the code location's own: in one of its
    top-level `packages` wherever installed, or outside the interpreter's installation (an editable install,
    the working directory)."""
    installed = tuple(os.path.join(os.path.abspath(prefix), "") for prefix in
                      {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix})
    files = []
    for name, module in list(sys.modules.items()):
        # From the module's namespace, not getattr: a placeholder for a module not loaded yet (see
        # `cryoet_assets.lib.validation.gx.defer_unused_modules`) would import it to answer.
        path = getattr(module, "__dict__", {}).get("__file__")
        if path and (name.split(".")[0] in packages or not os.path.abspath(path).startswith(installed)):
            try:
                files.append((path, os.stat(path).st_mtime_ns))
            except OSError:
                pass
    return sorted(files)


def _execute_run(execute_run_args: str) -> int:
    """Run as a container launcher's worker runs: `dagster api execute_run` with the run's arguments."""
    try:
        from dagster._cli.api import api_cli
        from dagster._utils.interrupts import setup_interrupt_handlers

        setup_interrupt_handlers()  # SIGTERM (terminate) interrupts the run as Ctrl-C does
        api_cli.main(["execute_run", execute_run_args], prog_name="dagster api", standalone_mode=False)
        return 0
    except SystemExit as exit:
        return exit.code if isinstance(exit.code, int) else 1
    except BaseException:  # noqa: BLE001 - the worker's last word goes to the launcher's log
        import traceback

        traceback.print_exc()
        return 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()


def _stat(pid: int) -> list[str]:
    """/proc/<pid>/stat's fields after the command name (the state, field 3, first); empty if unreadable."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return []


def _start_time(pid: int) -> str:
    """The process's start time in clock ticks since boot (/proc/<pid>/stat field 22), to tell a reused pid."""
    fields = _stat(pid)
    return fields[19] if len(fields) > 19 else ""


def _live_pid(worker: str) -> int | None:
    """The worker's pid if that process still runs on this host; None if it is gone (or not ours to see)."""
    host, pid, started = (worker.split(":") + ["", ""])[:3]
    if host != socket.gethostname() or not pid.isdigit():
        return None
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass
    fields = _stat(int(pid))
    if started and fields and fields[19:20] != [started]:
        return None
    if fields[:1] == ["Z"]:  # exited but not reaped: its fork server gone, its new parent never waits
        return None
    return int(pid)
