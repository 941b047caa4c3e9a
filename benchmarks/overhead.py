"""Platform overhead benchmark: fixed cost per partition in-process and under the daemon, and the end-to-end
time of a synthetic deposit beside the portal's own `standardize_dirs`.

    python benchmarks/overhead.py                                  # all three cases, defaults below
    python benchmarks/overhead.py --cases ingest daemon --runs 5   # a quick look
    python benchmarks/overhead.py --cases e2e --repeat 3 \\
        --portal-backend PORTAL_CHECKOUT --portal-python PORTAL_VENV/bin/python
    python benchmarks/overhead.py --code OLD_CHECKOUT              # the same figures for another commit

Each case runs in a fresh work folder (a temporary one, or under --workdir; --keep leaves it) on a deposit
laid out as `configs/demo.yaml` expects: runs TS_001... under lab_uploads/demo/runs with float32 tomograms at
10.012 Å (TS_001 also binned by 2, as in the demo), a run data map, key photos and the `_DONE` marker.

- `ingest`: `--runs` runs (default 50) of `--shape` (default 16 32 32, z y x) ingested by
  `cryoet-assets ingest` into a fresh Dagster instance, staging folder and SQLite database.
- `daemon`: the same deposit through the deployment path: the checkout's root dagster.yaml (queued run
  coordinator) and workspace.yaml copied into a fresh DAGSTER_HOME, the CRYOET_* variables pointing at the
  work folder, and `dagster-daemon run`, whose sensors pick the deposit up. It is stopped when every run has
  finished and the dataset roll-up run has (after a failure: when every run has finished and none started
  for --settle seconds). Its wall time, up to the end of the last run, includes the sensors' intervals
  (30 s and 60 s).
- `e2e`: `--e2e-runs` runs (default 4) of `--e2e-shape` (default 128 512 512), ingested by
  `cryoet-assets ingest` on a fresh instance (checks and database rows included) and converted by the
  portal's `standardize_dirs.py convert --local-fs` (metadata, key photos, tomograms and key images, see
  --portal-args; the portal loads its database in a separate step, not timed), alternating, --repeat times
  each. The portal's code is taken at run time from --portal-backend, a checkout of the portal's backend
  repository kept outside this one, and run by --portal-python, an interpreter with the requirements of its
  ingestion_tools (e.g. a virtualenv of its own). Without --portal-backend only our side is timed;
  `--e2e-sides` can add `daemon`.

For every measured command: wall s; CPU s (user + system of every process it started, from
getrusage(RUSAGE_CHILDREN) around it; this process is made a child subreaper, so orphaned descendants are
reaped and counted here too); peak RSS of the largest process (its VmHWM, sampled from /proc every --interval
s over this process's descendants); processes started (distinct processes seen in those samples: one that
lives shorter than an interval can be missed) and their kinds; event-log rows written (rows added to the
event_logs tables of the instance's SQLite event-log databases: per-run shards and the index); Dagster runs
and failed runs; the 1-minute load average before and after. Per-partition figures divide by the number of
acquisition runs. It prints a table, then one JSON line per measured command. Every command has --timeout
seconds, and whatever a case started is stopped when it ends.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import shlex
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
DEPOSIT_BUCKET = "cryoetportal-rawdatasets-dev"  # configs/demo.yaml names its key photos in this bucket
SOURCE_PREFIX = "lab_uploads/demo"
VOXEL_SPACING = 10.012
BINNED_RUN = "TS_001"
TERMINAL = {"SUCCESS", "FAILURE", "CANCELED"}
ROLLUP_SENSOR = "dataset_rollup_sensor"
PORTAL_ARGS = (
    "--import-depositions --import-deposition-metadata --import-deposition-keyphotos "
    "--import-datasets --import-dataset-metadata --import-dataset-keyphotos "
    "--import-runs --import-run-metadata --import-voxel-spacings "
    "--import-tomograms --import-tomogram-metadata --import-key-images"
)
PR_SET_CHILD_SUBREAPER = 36
# Held while a measured command is started and registered, and while orphans are reaped, so that a command's
# own exit status is never reaped by the sampler in between.
_SPAWN_LOCK = threading.Lock()


@dataclass
class Figures:
    case: str
    command: str
    partitions: int
    shape: list[int]
    status: str = "ok"
    wall_s: float = 0.0
    cpu_s: float = 0.0
    user_s: float = 0.0
    sys_s: float = 0.0
    peak_rss_mb: float = 0.0
    peak_process: str = ""
    processes: int = 0
    process_kinds: dict[str, int] = field(default_factory=dict)
    event_rows: int = 0
    event_rows_index: int = 0
    dagster_runs: int = 0
    failed_runs: int = 0
    load1_before: float = 0.0
    load1_after: float = 0.0
    notes: list[str] = field(default_factory=list)

    def per_partition(self) -> dict[str, float]:
        n = max(self.partitions, 1)
        return {
            "wall_s_per_partition": round(self.wall_s / n, 3),
            "cpu_s_per_partition": round(self.cpu_s / n, 3),
            "event_rows_per_partition": round(self.event_rows / n, 1),
            "processes_per_partition": round(self.processes / n, 2),
        }

    def as_json(self) -> dict:
        return {**asdict(self), **self.per_partition()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", nargs="+", choices=["ingest", "daemon", "e2e"],
                        default=["ingest", "daemon", "e2e"])
    parser.add_argument("--runs", type=int, default=50, help="acquisition runs of the overhead cases")
    parser.add_argument("--shape", nargs=3, type=int, default=[16, 32, 32], metavar=("Z", "Y", "X"))
    parser.add_argument("--e2e-runs", type=int, default=4)
    parser.add_argument("--e2e-shape", nargs=3, type=int, default=[128, 512, 512], metavar=("Z", "Y", "X"))
    parser.add_argument("--e2e-sides", nargs="+", choices=["ingest", "portal", "daemon"],
                        default=["ingest", "portal"])
    parser.add_argument("--repeat", type=int, default=3, help="alternating repetitions of each e2e side")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds allowed to a measured command")
    parser.add_argument("--settle", type=float, default=150,
                        help="daemon: seconds with every run finished and none new before it is stopped "
                             "without the roll-up run")
    parser.add_argument("--interval", type=float, default=0.2, help="seconds between samples of /proc")
    parser.add_argument("--code", type=Path, default=REPO,
                        help="checkout whose cryoet_assets, dagster.yaml, workspace.yaml and "
                             "configs/demo.yaml are measured (default: this one)")
    parser.add_argument("--portal-backend", type=Path, help="checkout of the portal's backend repository")
    parser.add_argument("--portal-python", default=sys.executable,
                        help="interpreter that runs the portal's code")
    parser.add_argument("--portal-args", default=PORTAL_ARGS,
                        help="what standardize_dirs imports, one string: --portal-args='--import-...'")
    parser.add_argument("--workdir", type=Path,
                        help="parent of the work folders (default: the temporary folder)")
    parser.add_argument("--keep", action="store_true", help="leave the work folders")
    args = parser.parse_args()

    _become_subreaper()
    code = args.code.resolve()
    results: list[Figures] = []
    if "ingest" in args.cases or "daemon" in args.cases:
        with WorkFolder(args, "overhead") as work:
            deposit = write_deposit(work, runs=args.runs, shape=tuple(args.shape), code=code)
            for case, runner in (("ingest", run_ingest), ("daemon", run_daemon)):
                if case in args.cases:
                    results.append(runner(args, work, deposit, code, case=case, label="0"))
                    print(summary_line(results[-1]), file=sys.stderr)
    if "e2e" in args.cases:
        results += run_e2e(args, code)
    print_table(results, args)
    return 0 if all(r.status == "ok" for r in results) else 1


class WorkFolder:
    def __init__(self, args: argparse.Namespace, name: str) -> None:
        if args.workdir:
            args.workdir.mkdir(parents=True, exist_ok=True)
        self.path = Path(tempfile.mkdtemp(prefix=f"cryoet-{name}-", dir=args.workdir)).resolve()
        self.keep = args.keep

    def __enter__(self) -> Path:
        return self.path

    def __exit__(self, *exc) -> None:
        if self.keep:
            print(f"work folder kept: {self.path}", file=sys.stderr)
        else:
            shutil.rmtree(self.path, ignore_errors=True)


@dataclass(frozen=True)
class Deposit:
    bucket: Path  # the deposit bucket (a folder named as the portal's)
    config: Path  # the ingestion config, outside the bucket
    runs: int
    shape: tuple[int, int, int]


def write_deposit(work: Path, *, runs: int, shape: tuple[int, int, int], code: Path) -> Deposit:
    """The deposit `configs/demo.yaml` describes, with `runs` runs of `shape` (z, y, x) float32 tomograms."""
    import numpy as np
    from PIL import Image

    sys.path.insert(0, str(code))
    from cryoet_assets.lib.volume.synthetic import write_synthetic_mrc

    started = time.perf_counter()
    bucket = work / DEPOSIT_BUCKET
    root = bucket / SOURCE_PREFIX
    rng = np.random.default_rng(0)
    (root / "photos").mkdir(parents=True)
    for name, (width, height) in [("deposition_snapshot", (512, 384)), ("deposition_thumbnail", (134, 100)),
                                  ("dataset_snapshot", (512, 384)), ("dataset_thumbnail", (134, 100))]:
        pixels = (rng.random((height, width)) * 255).astype(np.uint8)
        Image.fromarray(pixels, mode="L").save(root / "photos" / f"{name}.png")
    rows = ["run_name\tvoxel_spacing\ttilt_axis"]
    for index in range(runs):
        run = f"TS_{index + 1:03d}"
        rows.append(f"{run}\t{VOXEL_SPACING}\t84.7")
        (root / "runs" / run).mkdir(parents=True)
        write_synthetic_mrc(root / "runs" / run / f"{run}.mrc", shape=shape, voxel_size=VOXEL_SPACING,
                            seed=index, spheres=4)
        if run == BINNED_RUN:
            write_synthetic_mrc(root / "runs" / run / f"{run}_bin2.mrc", shape=tuple(n // 2 for n in shape),
                                voxel_size=2 * VOXEL_SPACING, seed=index, spheres=4)
    (root / "run_data_map.tsv").write_text("\n".join(rows) + "\n")
    (root / "_DONE").write_bytes(b"")
    config = work / "20999.yaml"
    shutil.copyfile(code / "configs" / "demo.yaml", config)
    seconds = time.perf_counter() - started
    print(f"deposit: {runs} runs of {'x'.join(map(str, shape))} float32 in {seconds:.1f} s under {work}",
          file=sys.stderr)
    return Deposit(bucket=bucket, config=config, runs=runs, shape=shape)


def code_env(code: Path, **extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("CRYOET_", "DAGSTER_"))}
    env["PYTHONPATH"] = os.pathsep.join([str(code), *filter(None, [os.environ.get("PYTHONPATH")])])
    env.update(extra)
    return env


def run_ingest(args, work: Path, deposit: Deposit, code: Path, *, case: str, label: str) -> Figures:
    out = work / f"ingest-{label}"
    out.mkdir()
    home = out / "dagster_home"
    command = [str(BIN / "cryoet-assets"), "ingest", "--config", str(deposit.config),
               "--deposit", str(deposit.bucket), "--staging", str(out / "staging"),
               "--db", f"sqlite:///{out / 'staging.db'}", "--dagster-home", str(home)]
    figures = Figures(case=case, command="cryoet-assets ingest", partitions=deposit.runs,
                      shape=list(deposit.shape))
    before = event_rows(home)
    with Measure(figures, args.interval):
        code_ = run_logged(command, env=code_env(code), cwd=out, log=out / "ingest.log", timeout=args.timeout)
    if code_ is None:
        figures.status = "timeout"
    elif code_ != 0:
        figures.status = f"exit {code_}"
        figures.notes.append(tail(out / "ingest.log"))
    figures.event_rows, figures.event_rows_index = (a - b for a, b in zip(event_rows(home), before))
    figures.dagster_runs, figures.failed_runs = run_counts(home)
    return figures


def run_daemon(args, work: Path, deposit: Deposit, code: Path, *, case: str, label: str) -> Figures:
    out = work / f"daemon-{label}"
    home = out / "dagster_home"
    home.mkdir(parents=True)
    shutil.copyfile(code / "dagster.yaml", home / "dagster.yaml")
    shutil.copyfile(code / "workspace.yaml", home / "workspace.yaml")
    configs = out / "configs"
    configs.mkdir()
    shutil.copyfile(deposit.config, configs / deposit.config.name)
    env = code_env(
        code,
        DAGSTER_HOME=str(home),
        CRYOET_CONFIGS_URL=str(configs),
        CRYOET_DEPOSIT_URL=str(deposit.bucket),
        CRYOET_STAGING_URL=str(out / "staging"),
        CRYOET_PRODUCTION_URL=str(out / "production"),
        CRYOET_STAGING_DB_URL=f"sqlite:///{out / 'staging.db'}",
        CRYOET_PRODUCTION_DB_URL=f"sqlite:///{out / 'production.db'}",
        CRYOET_S3_ENDPOINT_URL="",
        CRYOET_STAGING_HTTPS_PREFIX="",
    )
    figures = Figures(case=case, command="dagster-daemon run", partitions=deposit.runs,
                      shape=list(deposit.shape))
    before = event_rows(home)
    log = out / "daemon.log"
    with Measure(figures, args.interval) as measure, open(log, "wb") as sink:
        with _SPAWN_LOCK:
            daemon = subprocess.Popen(
                [str(BIN / "dagster-daemon"), "run", "-w", str(home / "workspace.yaml")],
                cwd=home, env=env, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True,
            )
            measure.popen.add(daemon.pid)
        try:
            figures.status = wait_for_runs(home, deposit.runs, daemon, timeout=args.timeout,
                                           settle=args.settle)
            last_end = last_run_end(home)
            if last_end:
                # Poll granularity aside, the work was done when the last run ended.
                measure.wall_end = min(time.time(), last_end) - measure.epoch_offset
        finally:
            stop(daemon)
    if figures.status != "ok":
        figures.notes.append(tail(log))
    figures.event_rows, figures.event_rows_index = (a - b for a, b in zip(event_rows(home), before))
    figures.dagster_runs, figures.failed_runs = run_counts(home)
    return figures


def run_e2e(args, code: Path) -> list[Figures]:
    results: list[Figures] = []
    sides = list(dict.fromkeys(args.e2e_sides))
    if "portal" in sides and not args.portal_backend:
        print("e2e: no --portal-backend given: the portal's side is not timed", file=sys.stderr)
        sides.remove("portal")
    scripts = args.portal_backend.resolve() / "ingestion_tools" / "scripts" if args.portal_backend else None
    if scripts and not (scripts / "standardize_dirs.py").is_file():
        raise SystemExit(f"--portal-backend {args.portal_backend}: "
                         "no ingestion_tools/scripts/standardize_dirs.py in it")
    with WorkFolder(args, "e2e") as work:
        deposit = write_deposit(work, runs=args.e2e_runs, shape=tuple(args.e2e_shape), code=code)
        for repetition in range(args.repeat):
            # Alternate which side goes first, so neither always finds the other's page cache and memory.
            order = sides if repetition % 2 == 0 else sides[::-1]
            for side in order:
                label = str(repetition)
                if side == "ingest":
                    figures = run_ingest(args, work, deposit, code, case="e2e ingest", label=label)
                elif side == "daemon":
                    figures = run_daemon(args, work, deposit, code, case="e2e daemon", label=label)
                else:
                    figures = run_portal(args, work, deposit, scripts, label=label)
                figures.notes.append(f"repetition {repetition + 1}/{args.repeat}")
                print(summary_line(figures), file=sys.stderr)
                results.append(figures)
                for name in ("staging", "staging-production", "output"):  # one output at a time on disk
                    for folder in work.glob(f"*-{label}/{name}"):
                        shutil.rmtree(folder, ignore_errors=True)
    return results


def run_portal(args, work: Path, deposit: Deposit, scripts: Path, *, label: str) -> Figures:
    out = work / f"portal-{label}"
    out.mkdir()
    command = [args.portal_python, str(scripts / "standardize_dirs.py"), "convert", "--local-fs",
               str(deposit.config), str(deposit.bucket), str(out / "output"), *shlex.split(args.portal_args)]
    env = {key: value for key, value in os.environ.items()
           if key != "PYTHONPATH" and not key.startswith("CRYOET_")}
    figures = Figures(case="e2e portal", command="standardize_dirs.py convert", partitions=deposit.runs,
                      shape=list(deposit.shape))
    with Measure(figures, args.interval):
        # Key photo paths in the config are `<deposit bucket>/<key>`: with a local file system they are read
        # relative to the working folder, which holds the bucket.
        code_ = run_logged(command, env=env, cwd=work, log=out / "portal.log", timeout=args.timeout)
    if code_ is None:
        figures.status = "timeout"
    elif code_ != 0:
        figures.status = f"exit {code_}"
        figures.notes.append(tail(out / "portal.log"))
    return figures


class Measure:
    """Wall and CPU time, processes and the largest VmHWM of everything started inside the block."""

    def __init__(self, figures: Figures, interval: float) -> None:
        self.figures = figures
        self.interval = interval
        self.popen: set[int] = set()
        self.seen: dict[tuple[int, int], tuple[int, str]] = {}  # (pid, start time) -> (VmHWM kB, command)
        self.wall_end: float | None = None
        self.epoch_offset = time.time() - time.perf_counter()
        self._stop = threading.Event()
        self._lock = threading.Lock()

    def __enter__(self) -> Measure:
        global _CURRENT
        _CURRENT = self
        self.figures.load1_before = round(os.getloadavg()[0], 2)
        self._usage = _children_usage()
        self._started = time.perf_counter()
        self._thread = threading.Thread(target=self._sample_loop, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        global _CURRENT
        ended = time.perf_counter() if self.wall_end is None else self.wall_end
        self._stop.set()
        self._thread.join()
        kill_descendants()
        self._sample()
        reap_orphans(self.popen)
        user, system = (after - before for after, before in zip(_children_usage(), self._usage))
        figures = self.figures
        figures.wall_s = round(ended - self._started, 2)
        figures.user_s, figures.sys_s = round(user, 2), round(system, 2)
        figures.cpu_s = round(user + system, 2)
        figures.processes = len(self.seen)
        kinds: dict[str, int] = {}
        for _, command in self.seen.values():
            kinds[command] = kinds.get(command, 0) + 1
        figures.process_kinds = dict(sorted(kinds.items(), key=lambda item: -item[1])[:8])
        if self.seen:
            peak_kb, command = max(self.seen.values())
            figures.peak_rss_mb, figures.peak_process = round(peak_kb / 1024, 1), command
        figures.load1_after = round(os.getloadavg()[0], 2)
        _CURRENT = None

    def _sample_loop(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()
            reap_orphans(self.popen)

    def _sample(self) -> None:
        for pid, start in descendants():
            hwm = _status_kb(pid, "VmHWM")
            if hwm is None:
                continue
            key = (pid, start)
            with self._lock:
                known = self.seen.get(key)
                command = known[1] if known else _command(pid)
                self.seen[key] = (max(hwm, known[0] if known else 0), command)


_CURRENT: Measure | None = None


def run_logged(command: list[str], *, env: dict, cwd: Path, log: Path, timeout: float) -> int | None:
    """Run `command` with its output in `log`; its exit code, or None when it ran out of time (and was
    stopped)."""
    with open(log, "wb") as sink:
        with _SPAWN_LOCK:
            process = subprocess.Popen(command, cwd=cwd, env=env, stdout=sink, stderr=subprocess.STDOUT,
                                       start_new_session=True)
            if _CURRENT is not None:
                _CURRENT.popen.add(process.pid)
        try:
            return process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            stop(process)
            return None


def stop(process: subprocess.Popen, grace: float = 30) -> None:
    """SIGINT to the process (dagster-daemon shuts its code servers down on it), then SIGKILL what is left."""
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            pass
    kill_descendants()
    process.wait()


def kill_descendants() -> None:
    for pid, _ in descendants():
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def wait_for_runs(home: Path, partitions: int, daemon: subprocess.Popen, *, timeout: float,
                  settle: float) -> str:
    """Poll the instance's runs until the deposit is done; "ok", "failed runs", "no roll-up run",
    "daemon exited N" or "timeout"."""
    deadline = time.monotonic() + timeout
    idle_since, count = None, -1
    while time.monotonic() < deadline:
        if daemon.poll() is not None:
            return f"daemon exited {daemon.returncode}"
        runs = read_runs(home)
        statuses = [status for status, _, _ in runs]
        finished = bool(runs) and all(status in TERMINAL for status in statuses)
        rollup = [status for status, _, sensor in runs if sensor == ROLLUP_SENSOR]
        acquisition = [status for status, job, _ in runs if job == "acquisition_run_job"]
        if finished and rollup and len(acquisition) >= partitions:
            return "ok" if all(status == "SUCCESS" for status in statuses) else "failed runs"
        if finished and len(runs) == count:
            idle_since = idle_since or time.monotonic()
            if time.monotonic() - idle_since > settle:
                return "failed runs" if any(s != "SUCCESS" for s in statuses) else "no roll-up run"
        else:
            idle_since, count = None, len(runs)
        time.sleep(1)
    return "timeout"


def _connect(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)


def read_runs(home: Path) -> list[tuple[str, str, str | None]]:
    """(status, job name, sensor name) of every run of the instance's run storage."""
    path = home / "history" / "runs.db"
    if not path.exists():
        return []
    for _ in range(5):
        try:
            with _connect(path) as db:
                return db.execute(
                    "SELECT r.status, r.pipeline_name, t.value FROM runs r LEFT JOIN run_tags t "
                    "ON t.run_id = r.run_id AND t.key = 'dagster/sensor_name'"
                ).fetchall()
        except sqlite3.OperationalError:  # locked, or the tables not created yet
            time.sleep(0.5)
    return []


def last_run_end(home: Path) -> float | None:
    path = home / "history" / "runs.db"
    try:
        with _connect(path) as db:
            (value,) = db.execute("SELECT MAX(end_time) FROM runs").fetchone()
            return value
    except sqlite3.OperationalError:
        return None


def run_counts(home: Path) -> tuple[int, int]:
    runs = read_runs(home)
    return len(runs), sum(1 for status, _, _ in runs if status != "SUCCESS")


def event_rows(home: Path) -> tuple[int, int]:
    """Rows in the event_logs tables of the instance's SQLite event-log databases: all (per-run shards and the
    index), and the index's alone (Dagster copies asset and run-status events there)."""
    total = index = 0
    folder = home / "history" / "runs"
    for path in sorted(folder.glob("*.db")) if folder.is_dir() else []:
        try:
            with _connect(path) as db:
                rows = db.execute("SELECT COUNT(*) FROM event_logs").fetchone()[0]
        except sqlite3.OperationalError:
            continue
        total += rows
        index += rows if path.name == "index.db" else 0
    return total, index


def descendants() -> list[tuple[int, int]]:
    """(pid, start time) of every live descendant of this process, from /proc."""
    parents: dict[int, list[tuple[int, int]]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as handle:
                stat = handle.read()
        except OSError:
            continue
        fields = stat[stat.rfind(b")") + 2:].split()
        parents.setdefault(int(fields[1]), []).append((int(entry.name), int(fields[19])))
    found, queue = [], [os.getpid()]
    while queue:
        for child in parents.get(queue.pop(), []):
            found.append(child)
            queue.append(child[0])
    return found


def reap_orphans(own: set[int]) -> None:
    """Reap the exited descendants that were re-parented to this subreaper (not our own Popen children)."""
    with _SPAWN_LOCK:
        for pid, _ in descendants():
            if pid in own:
                continue
            try:
                with open(f"/proc/{pid}/stat", "rb") as handle:
                    stat = handle.read()
                fields = stat[stat.rfind(b")") + 2:].split()
                if int(fields[1]) == os.getpid() and fields[0] == b"Z":
                    os.waitpid(pid, os.WNOHANG)
            except (OSError, ChildProcessError):
                pass


def _become_subreaper() -> None:
    """Orphaned descendants come to this process, so they are reaped (and their CPU counted) here."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    except (OSError, AttributeError):
        print("could not become a child subreaper: orphaned processes' CPU is not counted", file=sys.stderr)


def _children_usage() -> tuple[float, float]:
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime, usage.ru_stime


def _status_kb(pid: int, key: str) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def _command(pid: int) -> str:
    """A short name for the process, the same for processes of one kind: program, module or code, and the
    first arguments that are neither paths nor numbers."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            argv = [part.decode(errors="replace") for part in handle.read().split(b"\0") if part]
    except OSError:
        return "?"
    if not argv:
        return "?"
    words = [Path(argv[0]).name]
    rest = argv[1:]
    if words[0].startswith("python"):
        while rest and rest[0].startswith("-") and rest[0] not in ("-m", "-c"):
            rest = rest[1:]
        if rest[:1] == ["-c"] and len(rest) > 1:
            return f"{words[0]} -c {rest[1][:40]}"
        if rest and rest[0] != "-m":
            words, rest = [Path(rest[0]).name], rest[1:]
    words += [word for word in rest[:4] if not word.startswith("/") and not word.lstrip("+-").isdigit()]
    return " ".join(words)[:60]


def tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def summary_line(f: Figures) -> str:
    return (f"{f.case}: {f.status}, {f.wall_s} s wall, {f.cpu_s} s CPU, peak {f.peak_rss_mb} MB, "
            f"{f.processes} processes, {f.event_rows} event rows")


def print_table(results: list[Figures], args: argparse.Namespace) -> None:
    header = ["case", "status", "partitions", "wall s", "CPU s", "wall/part", "CPU/part", "peak RSS MB",
              "processes", "event rows", "rows/part", "runs", "failed", "load1"]
    rows = []
    for f in results:
        p = f.per_partition()
        rows.append([f.case, f.status, f.partitions, f.wall_s, f.cpu_s, p["wall_s_per_partition"],
                     p["cpu_s_per_partition"], f.peak_rss_mb, f.processes, f.event_rows,
                     p["event_rows_per_partition"], f.dagster_runs, f.failed_runs,
                     f"{f.load1_before}-{f.load1_after}"])
    e2e = {}
    for f in results:
        if f.case.startswith("e2e ") and f.status == "ok":
            e2e.setdefault(f.case, []).append(f)
    for case, items in e2e.items():
        if len(items) > 1:
            walls, cpus = [f.wall_s for f in items], [f.cpu_s for f in items]
            rows.append([f"{case} (median of {len(items)})", f"{min(walls)}-{max(walls)} s",
                         items[0].partitions,
                         round(statistics.median(walls), 2), round(statistics.median(cpus), 2), "", "",
                         max(f.peak_rss_mb for f in items), "", "", "", "", "", ""])
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    print()
    for row in [header, *rows]:
        print("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths)).rstrip())
    if "e2e portal" in e2e and "e2e ingest" in e2e:
        ours = statistics.median(f.wall_s for f in e2e["e2e ingest"])
        theirs = statistics.median(f.wall_s for f in e2e["e2e portal"])
        print(f"\nend to end, cryoet-assets ingest's speed-up over the portal's standardize_dirs "
              f"(portal wall / ingest wall, medians): {theirs / ours:.2f}x")
    if "e2e daemon" in e2e and "e2e ingest" in e2e:
        ours = statistics.median(f.wall_s for f in e2e["e2e ingest"])
        daemon = statistics.median(f.wall_s for f in e2e["e2e daemon"])
        print(f"end to end, the daemon path against the in-process ingest "
              f"(daemon wall / ingest wall, medians): {daemon / ours:.2f}x")
    print()
    for f in results:
        print(json.dumps(f.as_json()))


if __name__ == "__main__":
    sys.exit(main())
