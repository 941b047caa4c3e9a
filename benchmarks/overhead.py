"""Platform overhead benchmark: fixed cost per partition in-process and under the daemon, the end-to-end
time of a synthetic deposit beside the portal's own `standardize_dirs`, and whether the platform's cost
depends on the history an instance holds.

    python benchmarks/overhead.py                                  # ingest, reingest, daemon, e2e
    python benchmarks/overhead.py --cases ingest daemon --runs 5   # a quick look
    python benchmarks/overhead.py --cases history --runs 10        # against an instance of 2,000 runs
    python benchmarks/overhead.py --cases e2e --repeat 3 \\
        --portal-backend PORTAL_CHECKOUT --portal-python PORTAL_VENV/bin/python
    python benchmarks/overhead.py --code OLD_CHECKOUT              # the same figures for another commit

Each case runs in a fresh work folder (a temporary one, or under --workdir; --keep leaves it) on a deposit
laid out as `configs/demo.yaml` expects: runs TS_001... under lab_uploads/demo/runs with float32 tomograms at
10.012 Å (TS_001 also binned by 2, as in the demo), a run data map, key photos and the `_DONE` marker.

- `ingest`: `--runs` runs (default 50) of `--shape` (default 16 32 32, z y x) ingested by
  `cryoet-assets ingest` into a fresh Dagster instance, staging folder and SQLite database.
- `reingest`: a metadata-only re-ingestion of the `ingest` case's dataset: its config's dataset title edited
  and the same deposit ingested again into the same instance, staging folder and database. Every
  acquisition run is asked for again (the config's hash is in each run's version) and none converts a
  tomogram again (the notes count the conversion progress lines: 0).
- `daemon`: the same deposit through the deployment path: the checkout's root dagster.yaml (queued run
  coordinator) and workspace.yaml copied into a fresh DAGSTER_HOME, the CRYOET_* variables pointing at the
  work folder, and `dagster-daemon run`, whose sensors pick the deposit up. It is stopped when every run has
  finished and the dataset roll-up run has (after a failure: when every run has finished and none started
  for --settle seconds). Its wall time, up to the end of the last run, includes the sensors' intervals
  (30 s for the deposit sensor, 5 s for the others). On SIGINT the daemon asks its code server to shut
  down and exits; the code server, left to this process, is waited for (it exits once its run workers
  have), so that it is reaped with the CPU time of the run workers it reaped; then anything left is killed.
- `e2e`: `--e2e-runs` runs (default 4) of `--e2e-shape` (default 128 512 512), ingested by
  `cryoet-assets ingest` on a fresh instance (checks and database rows included) and converted by the
  portal's `standardize_dirs.py convert --local-fs` (metadata, key photos, tomograms and key images, see
  --portal-args; the portal loads its database in a separate step, not timed), alternating, --repeat times
  each. The portal's code is taken at run time from --portal-backend, a checkout of the portal's backend
  repository kept outside this one, and run by --portal-python, an interpreter with the requirements of its
  ingestion_tools (e.g. a virtualenv of its own). Without --portal-backend only our side is timed;
  `--e2e-sides` can add `daemon`, for which it also prints the time from the deposit sensor's tick that
  asked for the plan to the end of the last run: the daemon's start left out, what a deposit waits once a
  daemon already running has seen it.
- `history` (not in the default set), against the bound that the same ingest and the same sensor tick on an
  instance holding at least 2,000 runs take at most 1.2x their time on a fresh one. The `ingest` case's
  command (`--runs` runs of `--shape`) is measured on a fresh instance (the checkout's root dagster.yaml in
  a new DAGSTER_HOME) and on a copy of one prefilled with `--history-runs` runs (default 2000), alternating,
  --repeat times each, each with a new staging folder and database. After both ingests of a repetition, a
  process of its own (its imports not timed) evaluates each sensor on one instance as `cryoet_assets/runner.py`
  `_evaluate` does (the resources bound to that ingest's folders through the CRYOET_* variables): from the
  cursor the runner stored (the next tick the daemon would make, finding nothing new) and from the cursor the
  ingest's tick started from (the tick that found the deposit, its plan and its runs); one call not timed,
  then the median wall and CPU s (time.process_time) of 20 calls of the sensor alone. Such a process runs
  for the fresh and the prefilled instance in turn, --tick-rounds times each (default 5): a tick takes a few
  milliseconds, and measuring one instance after the other once told a 1.5x difference one way in one run
  and the other way in the next. It prints prefilled / fresh of the medians over the repetitions (and tick
  rounds), of wall and of CPU s, for the ingest and each tick, against the 1.2 bound.
  The prefill is synthetic, written through Dagster's instance APIs (`add_run`, `handle_new_event`,
  `add_dynamic_partitions`) by one process of the checkout's interpreter, in a few minutes for 2,000 runs
  (it prints how long): runs of `acquisition_run_job` for datasets 30000, 30001, ... (not the benchmark
  deposit's 20999), 50 runs each (keys `30000__TS_0001`...), each of deposition 11000 + its index, finished
  an hour before the benchmark, 20 s apart. Each run has the tags a run the plan sensor asked for has
  (`dagster/partition`, `dagster/partition_set`, `dagster/run_key` `run:<key>:<version>`,
  `dagster/sensor_name` plan_sensor, `cryoet/dataset`, `cryoet/deposition`, the `cpu_heavy` pool tag) and
  18 events, stored by the instance's event-log storage (the root dagster.yaml's: every run's events in one
  SQLite file; with Dagster's default, a file per run and the index): materialization planned for
  run_metadata, voxel_spacings, tomograms, run_db_rows and tomogram_db_rows; check evaluation planned for
  run_metadata_valid, voxel_spacings_valid and tomograms_valid; RUN_START; the 5 materializations, partitioned
  by the run's key, with metadata and data-version tags of a real run's kinds and sizes (an inline key image
  of ~6 kB on tomograms); the 3 check evaluations, passed, pointing at their materializations; RUN_SUCCESS.
  The `datasets`, `depositions` and `acquisition_runs` dynamic partitions get the prefill's keys. The plan
  and roll-up sensors get a stored state and a tick whose cursor is the last prefilled event, as if they had
  followed the prefilled runs (the deposit sensor has none; its cursor holds configs, and the benchmark's
  configs folder is new each time). Nothing else is prefilled: no plans, deposition or dataset runs, older
  sensor ticks or staging files. To be quick it turns SQLite's syncing to disk off and, on Dagster's default
  storage, copies an empty event-log file Dagster created instead of having Dagster create each; what it
  writes is the same.

Before every measured command the disks are synced (`os.sync`), so that a command does not pay for the
writes of what ran before it. For every measured command: wall s; CPU s, user + system of every process it
started, the larger of two figures, both in the JSON with the one used (`cpu_source`): `cpu_rusage_s`, from
getrusage(RUSAGE_CHILDREN) around it (this process is made a child subreaper, so orphaned descendants are
reaped and counted here too; a process counts only once it and every process between it and us has been
reaped), and `cpu_sampled_s`,
the sum over its descendants of their own user + system time (/proc/<pid>/stat fields 14 and 15), the last
value seen of each in the samples below or when this process reaped it (it misses what a process spent after
its last sample, at most --interval s each, and processes shorter than an interval); peak RSS of the largest
process (its VmHWM, sampled from /proc every --interval s over this process's descendants); processes
started (distinct processes seen in those samples: one that lives shorter than an interval can be missed)
and their kinds; event-log rows written (rows added to the event_logs tables of the instance's SQLite
event-log databases: per-run shards and the index); Dagster runs and failed runs (those the command added);
the 1-minute load average before and after. Per-partition figures divide by the number of acquisition runs.
It prints a table, then one JSON line per measured command (and per history ratio). Every command has
--timeout seconds, and whatever a case started is stopped and reaped when it ends (a process still there
after that is named in the notes).
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
from typing import NamedTuple

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
DEPOSIT_BUCKET = "cryoetportal-rawdatasets-dev"  # configs/demo.yaml names its key photos in this bucket
SOURCE_PREFIX = "lab_uploads/demo"
VOXEL_SPACING = 10.012
BINNED_RUN = "TS_001"
TERMINAL = {"SUCCESS", "FAILURE", "CANCELED"}
ROLLUP_SENSOR = "dataset_rollup_sensor"
DEPOSIT_SENSOR = "deposit_sensor"
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
    cpu_source: str = ""
    cpu_rusage_s: float = 0.0
    cpu_sampled_s: float = 0.0
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
    # daemon: from the deposit sensor's tick that asked for the plan to the end of the last run (the wall time
    # less the daemon's start: what a deposit waits under a daemon already running, once that sensor saw it)
    from_deposit_tick_s: float | None = None
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
    parser.add_argument("--cases", nargs="+", choices=["ingest", "reingest", "daemon", "e2e", "history"],
                        default=["ingest", "reingest", "daemon", "e2e"])
    parser.add_argument("--runs", type=int, default=50, help="acquisition runs of the overhead cases")
    parser.add_argument("--shape", nargs=3, type=int, default=[16, 32, 32], metavar=("Z", "Y", "X"))
    parser.add_argument("--e2e-runs", type=int, default=4)
    parser.add_argument("--e2e-shape", nargs=3, type=int, default=[128, 512, 512], metavar=("Z", "Y", "X"))
    parser.add_argument("--e2e-sides", nargs="+", choices=["ingest", "portal", "daemon"],
                        default=["ingest", "portal"])
    parser.add_argument("--repeat", type=int, default=3,
                        help="alternating repetitions of each e2e side and of each history instance")
    parser.add_argument("--tick-rounds", type=int, default=5,
                        help="history: sensor tick measurements per instance and repetition, alternating")
    parser.add_argument("--history-runs", type=int, default=2000,
                        help="history: synthetic finished runs in the prefilled instance")
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
    if {"ingest", "reingest", "daemon"} & set(args.cases):
        with WorkFolder(args, "overhead") as work:
            deposit = write_deposit(work, runs=args.runs, shape=tuple(args.shape), code=code)
            for case, runner in (("ingest", run_ingest), ("reingest", run_reingest), ("daemon", run_daemon)):
                if case in args.cases:
                    results.append(runner(args, work, deposit, code, case=case, label="0"))
                    print(summary_line(results[-1]), file=sys.stderr)
    if "e2e" in args.cases:
        results += run_e2e(args, code)
    if "history" in args.cases:
        results += run_history(args, code)
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


def run_ingest(args, work: Path, deposit: Deposit, code: Path, *, case: str, label: str,
               template: Path | None = None, config: Path | None = None) -> Figures:
    """`cryoet-assets ingest` of the deposit into a new instance: a copy of `template` (a DAGSTER_HOME) when
    given, else a fresh one; with `config` (another version of the deposit's config), again into the instance,
    staging folder and database an earlier ingest with this `label` made. Runs and event rows are those this
    ingest added."""
    out = work / f"ingest-{label}"
    home = out / "dagster_home"
    if config is None:
        out.mkdir()
        if template is not None:
            shutil.copytree(template, home)
    # `-m cryoet_assets.cli` rather than the console script, whose entry point is the installed checkout's: the
    # module's own `__main__` is that of the checkout measured (--code).
    command = [sys.executable, "-m", "cryoet_assets.cli", "ingest", "--config", str(config or deposit.config),
               "--deposit", str(deposit.bucket), "--staging", str(out / "staging"),
               "--db", f"sqlite:///{out / 'staging.db'}", "--dagster-home", str(home)]
    figures = Figures(case=case, command="cryoet-assets ingest" + (" (config edited)" if config else ""),
                      partitions=deposit.runs, shape=list(deposit.shape))
    before, runs_before = event_rows(home), run_counts(home)
    log = out / ("reingest.log" if config else "ingest.log")
    with Measure(figures, args.interval):
        code_ = run_logged(command, env=code_env(code), cwd=out, log=log, timeout=args.timeout)
    if code_ is None:
        figures.status = "timeout"
    elif code_ != 0:
        figures.status = f"exit {code_}"
        figures.notes.append(tail(log))
    figures.event_rows, figures.event_rows_index = (a - b for a, b in zip(event_rows(home), before))
    figures.dagster_runs, figures.failed_runs = (a - b for a, b in zip(run_counts(home), runs_before))
    return figures


def run_reingest(args, work: Path, deposit: Deposit, code: Path, *, case: str, label: str) -> Figures:
    """A metadata-only re-ingestion: the dataset's title edited in its config, the same deposit ingested again
    into the same instance, staging folder and database as the `ingest` case (run first, unmeasured, if that
    case was not asked for). The config's new hash re-plans the dataset and re-requests every acquisition run;
    every tomogram is unchanged, so none is converted again."""
    out = work / f"ingest-{label}"
    if not out.exists():
        first = run_ingest(args, work, deposit, code, case="ingest (setup)", label=label)
        if first.status != "ok":
            return first
    edited = out / "edited" / deposit.config.name
    edited.parent.mkdir()
    text = deposit.config.read_text()
    if "dataset_title: Synthetic demo dataset" not in text:
        raise SystemExit(f"{deposit.config}: no dataset_title to edit")
    edited.write_text(text.replace("dataset_title: Synthetic demo dataset",
                                   "dataset_title: Synthetic demo dataset, revised"))
    figures = run_ingest(args, work, deposit, code, case=case, label=label, config=edited)
    converted = (out / "reingest.log").read_text().count("planes written")
    figures.notes.append(f"progress lines of conversions: {converted} (0: nothing converted again)")
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
        CRYOET_PRODUCTION_HTTPS_PREFIX="",
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
                seen = deposit_tick_time(home)
                if seen:
                    figures.from_deposit_tick_s = round(last_end - seen, 2)
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


def run_history(args, code: Path) -> list[Figures]:
    """The same ingest and sensor ticks on a fresh instance and on one prefilled with --history-runs runs,
    alternating, --repeat times each."""
    from cryoet_assets.lib.paths import STATE_PREFIX  # write_deposit put the checkout on sys.path

    results: list[Figures] = []
    with WorkFolder(args, "history") as work:
        deposit = write_deposit(work, runs=args.runs, shape=tuple(args.shape), code=code)
        templates = {"fresh": work / "fresh", "prefilled": work / "prefilled"}
        for home in templates.values():
            home.mkdir()
            shutil.copyfile(code / "dagster.yaml", home / "dagster.yaml")
        prefill(args, templates["prefilled"], code)
        for repetition in range(args.repeat):
            # Alternate which instance goes first, so neither always finds the other's page cache.
            order = list(templates) if repetition % 2 == 0 else list(templates)[::-1]
            ingested: dict[str, tuple[Path, dict[str, str]]] = {}
            outs = []
            for name in order:
                label = f"{name}-{repetition}"
                figures = run_ingest(args, work, deposit, code, case=f"history {name}", label=label,
                                     template=templates[name])
                figures.notes.append(f"repetition {repetition + 1}/{args.repeat}")
                print(summary_line(figures), file=sys.stderr)
                results.append(figures)
                out = work / f"ingest-{label}"
                outs.append(out)
                if figures.status == "ok":
                    staging = out / "staging"
                    settings = {
                        "CRYOET_CONFIGS_URL": f"{staging}/{STATE_PREFIX}/configs",
                        "CRYOET_DEPOSIT_URL": str(deposit.bucket),
                        "CRYOET_STAGING_URL": str(staging),
                        "CRYOET_PRODUCTION_URL": f"{staging}-production",
                        "CRYOET_STAGING_DB_URL": f"sqlite:///{out / 'staging.db'}",
                        "CRYOET_PRODUCTION_DB_URL": f"sqlite:///{out / 'staging.db'}",
                        "CRYOET_S3_ENDPOINT_URL": "",
                        "CRYOET_STAGING_HTTPS_PREFIX": "",
                        "CRYOET_PRODUCTION_HTTPS_PREFIX": "",
                    }  # as `cryoet-assets ingest` sets them (cli.run_ingest)
                    ingested[name] = (out, settings)
            for _ in range(args.tick_rounds):
                for name, (out, settings) in ingested.items():
                    results += time_ticks(args, out, deposit, code, case=f"history {name}", settings=settings)
            for out in outs:  # this repetition's two instances at a time on disk
                for folder in ("dagster_home", "staging", "staging-production"):
                    shutil.rmtree(out / folder, ignore_errors=True)
    return results


def prefill(args, home: Path, code: Path) -> None:
    """Fill the instance at `home` with --history-runs synthetic runs (prefill_worker, in a process of the
    checkout's interpreter)."""
    started = time.perf_counter()
    log = home.parent / "prefill.log"
    command = [sys.executable, "-c", WORKER, str(Path(__file__).resolve().parent), "prefill_worker",
               str(home), str(args.history_runs)]
    code_ = run_logged(command, env=code_env(code, DAGSTER_HOME=str(home)), cwd=home.parent, log=log,
                       timeout=args.timeout)
    if code_ != 0:
        raise SystemExit(f"prefill failed ({'timeout' if code_ is None else f'exit {code_}'}):\n{tail(log)}")
    written = json.loads(log.read_text().splitlines()[-1])
    print(f"prefill: {written['runs']} runs, {written['events']} events, {written['partitions']} partitions "
          f"in {time.perf_counter() - started:.1f} s ({written['seconds']:.1f} s of it writing)",
          file=sys.stderr)


# `python -c WORKER BENCHMARKS_DIR FUNCTION ARGS...` calls a function of this file in a process of its own.
WORKER = ("import sys; sys.path.insert(0, sys.argv[1]); import overhead; "
          "getattr(overhead, sys.argv[2])(*sys.argv[3:])")
PREFILL_RUNS_PER_DATASET = 50
PREFILL_FIRST_DATASET = 30000
PREFILL_FIRST_DEPOSITION = 11000
TICK_CALLS = 20
HISTORY_LIMIT = 1.2  # the bound on prefilled / fresh
SENSORS = ("deposit_sensor", "plan_sensor", "dataset_rollup_sensor")


def prefill_worker(home: str, runs: str) -> None:
    """Write `runs` synthetic finished acquisition runs into the Dagster instance at `home` (what it writes is
    listed in the module docstring); print one JSON line with the counts and the seconds it took."""
    import hashlib
    import logging
    import uuid

    import dagster as dg
    from dagster._core.definitions.asset_checks.asset_check_evaluation import (
        AssetCheckEvaluation,
        AssetCheckEvaluationPlanned,
        AssetCheckEvaluationTargetMaterializationData,
    )
    from dagster._core.definitions.partitions.subset.default import DefaultPartitionsSubset
    from dagster._core.events import (
        AssetMaterializationPlannedData,
        DagsterEvent,
        DagsterEventType,
        StepMaterializationData,
    )
    from dagster._core.events.log import EventLogEntry
    from dagster._core.storage.dagster_run import DagsterRun, DagsterRunStatus
    from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    from cryoet_assets.defs.sensors import DATASET_TAG, DEPOSITION_TAG, dataset_rollup_sensor, plan_sensor
    from cryoet_assets.runner import RUN_KEY_TAG, SENSOR_NAME_TAG, _record, _Tick

    @event.listens_for(Engine, "connect")
    def _no_sync(connection, _pool_record) -> None:
        # Dagster opens a connection per write and SQLite syncs the disk at each commit; the prefill either
        # completes or is thrown away, so it does without. What it writes is the same.
        connection.execute("PRAGMA synchronous=OFF")

    started = time.perf_counter()
    job = "acquisition_run_job"
    count = int(runs)
    datasets = [str(PREFILL_FIRST_DATASET + index) for index in range(-(-count // PREFILL_RUNS_PER_DATASET))]
    deposition = {dataset: str(PREFILL_FIRST_DEPOSITION + index) for index, dataset in enumerate(datasets)}
    keys = [(dataset, f"{dataset}__TS_{number:04d}") for dataset in datasets
            for number in range(1, PREFILL_RUNS_PER_DATASET + 1)][:count]
    # (asset, step that materializes it) and (check, its asset, its step), in the order a run writes them.
    assets = [("run_metadata", "run_documents"), ("voxel_spacings", "run_documents"),
              ("tomograms", "tomograms"), ("run_db_rows", "run_db_rows"),
              ("tomogram_db_rows", "tomogram_db_rows")]
    checks = [("run_metadata_valid", "run_metadata", "run_checks"),
              ("voxel_spacings_valid", "voxel_spacings", "run_checks"),
              ("tomograms_valid", "tomograms", "tomograms_tomograms_valid")]
    steps = list(dict.fromkeys([step for _, step in assets] + [step for *_, step in checks]))
    key_image = "![key image](data:image/png;base64," + "A" * 6400 + ")"  # the size of a real inline preview
    # A run every 20 s, the last an hour ago.
    written = {"events": 0, "clock": time.time() - 3600 - 20 * count}

    def write_run(instance: dg.DagsterInstance, run_id: str, dataset: str, key: str) -> str:
        """The run of partition `key`, its events and their index rows; its run key."""
        version = hashlib.sha256(key.encode()).hexdigest()[:16]
        run_key = f"run:{key}:{version}"
        tags = {".dagster/pool/cpu_heavy": "true", DEPOSITION_TAG: deposition[dataset], DATASET_TAG: dataset,
                SENSOR_NAME_TAG: plan_sensor.name, RUN_KEY_TAG: run_key, "dagster/partition": key,
                "dagster/partition_set": f"{job}_partition_set"}
        instance.add_run(DagsterRun(job_name=job, run_id=run_id, status=DagsterRunStatus.NOT_STARTED,
                                    tags=tags, step_keys_to_execute=steps))

        def store(event_type: DagsterEventType, data=None, step: str | None = None,
                  message: str = "") -> None:
            written["events"] += 1
            written["clock"] += 0.05
            dagster_event = DagsterEvent(event_type_value=event_type.value, job_name=job, step_key=step,
                                         event_specific_data=data, message=message, pid=os.getpid())
            instance.handle_new_event(EventLogEntry(
                error_info=None, level=logging.DEBUG, user_message=message, run_id=run_id,
                timestamp=written["clock"], step_key=step, job_name=job, dagster_event=dagster_event,
            ))

        for asset, step in assets:
            store(DagsterEventType.ASSET_MATERIALIZATION_PLANNED,
                  AssetMaterializationPlannedData(dg.AssetKey(asset), partition=key), step)
        for check, asset, step in checks:
            store(DagsterEventType.ASSET_CHECK_EVALUATION_PLANNED,
                  AssetCheckEvaluationPlanned(asset_key=dg.AssetKey(asset), check_name=check,
                                              partitions_subset=DefaultPartitionsSubset({key})), step)
        store(DagsterEventType.RUN_START, message=f'Started execution of run for "{job}".')
        root = f"{dataset}/{key.split('__')[1]}"
        staged = f"s3://staging/{root}"
        rows = {"database": "sqlite", "database_url": "sqlite:///staging.db"}
        metadata = {
            "run_metadata": {
                "config_file": dg.MetadataValue.path(f"s3://staging/configs/{dataset}.yaml"),
                "source": dg.MetadataValue.path(f"s3://deposit/lab_uploads/{root}"),
                "source_files": 2, "content_version": version, "written": 1, "unchanged": 0,
                "documents": dg.MetadataValue.json({"run_metadata.json": f"{staged}/run_metadata.json"}),
            },
            "voxel_spacings": {"voxel_spacings": dg.MetadataValue.json(["10.012"])},
            "tomograms": {
                "tomograms": dg.MetadataValue.md("| tomogram | voxel spacing |\n|---|---|\n"
                                                 + f"| {key} | 10.012 |\n" * 4),
                "converted": 1, "unchanged": 0, "failed": 0, "written": 7,
                "key_image": dg.MetadataValue.md(key_image),
                "key_photo": dg.MetadataValue.path(f"{staged}/key_photo.png"),
                "zarr": dg.MetadataValue.path(f"{staged}/Reconstructions/VoxelSpacing10.012/{key}.zarr"),
                "documents": dg.MetadataValue.json({"tomogram_metadata.json": "written"}),
            },
            "run_db_rows": {**rows, "rows": dg.MetadataValue.json({"run": {"inserted": 1}})},
            "tomogram_db_rows": {**rows, "rows": dg.MetadataValue.json(
                {"tomogram": {"inserted": 1}, "tomogram_voxel_spacing": {"inserted": 1}})},
        }
        targets: dict[str, AssetCheckEvaluationTargetMaterializationData] = {}

        def materialize(asset: str, step: str) -> None:
            materialization = dg.AssetMaterialization(
                asset_key=asset, partition=key,
                metadata={**metadata[asset], "manifest": dg.MetadataValue.path(
                    f"s3://staging/_cryoet_assets/{asset}/{key}.json")},
                tags={"dagster/code_version": run_id,
                      "dagster/data_version": hashlib.sha256(f"{key}/{asset}".encode()).hexdigest()},
            )
            store(DagsterEventType.ASSET_MATERIALIZATION, StepMaterializationData(materialization), step,
                  f"Materialized value {asset}.")
            if any(checked == asset for _, checked, _ in checks):
                record = instance.fetch_materializations(
                    dg.AssetRecordsFilter(asset_key=dg.AssetKey(asset), asset_partitions=[key]), limit=1
                ).records[0]
                targets[asset] = AssetCheckEvaluationTargetMaterializationData(
                    storage_id=record.storage_id, run_id=run_id, timestamp=record.timestamp)

        def evaluate(check: str, asset: str, step: str) -> None:
            store(DagsterEventType.ASSET_CHECK_EVALUATION, AssetCheckEvaluation(
                asset_key=dg.AssetKey(asset), check_name=check, passed=True, partition=key, blocking=True,
                severity=dg.AssetCheckSeverity.ERROR, description=f"{asset}: passed, 4 expectations",
                metadata={"validation": dg.MetadataValue.json({
                    "failures": [], "passed": True, "severity": None, "suite": asset,
                    "statistics": {"evaluated": 4, "successful": 4, "unsuccessful": 0}})},
                target_materialization_data=targets[asset],
            ), step, f"Asset check '{check}' on '{asset}' passed.")

        for asset, step in assets[:3]:
            materialize(asset, step)
        for check, asset, step in checks:
            evaluate(check, asset, step)
        for asset, step in assets[3:]:
            materialize(asset, step)
        store(DagsterEventType.RUN_SUCCESS, message=f'Finished execution of run for "{job}".')
        return run_key

    with dg.DagsterInstance.from_config(home) as instance:
        instance.add_dynamic_partitions("datasets", datasets)
        instance.add_dynamic_partitions("depositions", list(deposition.values()))
        instance.add_dynamic_partitions("acquisition_runs", [key for _, key in keys])
        shards = instance.event_log_storage
        template = None
        if isinstance(shards, SqliteEventLogStorage):
            # Each run's events go to a SQLite file of its own, which Dagster creates and stamps with its
            # Alembic revision on the run's first event (0.1 s of loading revision scripts each). The prefill
            # has Dagster create one, empty, and copies it for each run.
            with shards.run_connection("prefill-template"):
                pass
            template = Path(shards.path_for_shard("prefill-template"))
        last_runs: list[tuple[str, str]] = []
        for dataset, key in keys:
            run_id = str(uuid.uuid4())
            if template is not None:
                shutil.copyfile(template, shards.path_for_shard(run_id))
                shards._initialized_dbs.add(run_id)
            run_key = write_run(instance, run_id, dataset, key)
            last_runs = [*last_runs[-(PREFILL_RUNS_PER_DATASET - 1):], (run_id, run_key)]
        if template is not None:
            template.unlink()
        # The sensors that follow records start after the prefill's, as if they had seen them (an absent
        # cursor would have the roll-up sensor go through every prefilled run's tomograms).
        cursor = str(shards.get_maximum_record_id() or 0)
        for sensor, ran in ((plan_sensor, last_runs), (dataset_rollup_sensor, [])):
            _record(instance, _Tick(sensor=sensor, started=written["clock"], previous_cursor=None,
                                    result=dg.SensorResult(cursor=cursor), cursor=cursor,
                                    run_ids=[run_id for run_id, _ in ran], run_keys=[key for _, key in ran]))
    print(json.dumps({"runs": len(keys), "events": written["events"],
                      "partitions": len(keys) + 2 * len(datasets), "cursor": int(cursor),
                      "seconds": round(time.perf_counter() - started, 2)}))


def time_ticks(args, out: Path, deposit: Deposit, code: Path, *, case: str,
               settings: dict[str, str]) -> list[Figures]:
    """Each sensor's evaluation on the instance under `out` after its ingest (tick_worker), as Figures."""
    home = out / "dagster_home"
    log = out / "ticks.log"
    command = [sys.executable, "-c", WORKER, str(Path(__file__).resolve().parent), "tick_worker",
               str(TICK_CALLS)]
    code_ = run_logged(command, env=code_env(code, DAGSTER_HOME=str(home), **settings), cwd=out, log=log,
                       timeout=args.timeout)
    if code_ != 0:
        return [Figures(case=f"{case} tick", command="sensor ticks", partitions=deposit.runs,
                        shape=list(deposit.shape), status="timeout" if code_ is None else f"exit {code_}",
                        notes=[tail(log)])]
    measured = json.loads(log.read_text().splitlines()[-1])
    results = []
    for sensor in SENSORS:
        for cursor, command in (("stored", f"{sensor} tick"), ("before", f"{sensor} tick, ingest's cursor")):
            tick = measured[sensor][cursor]
            results.append(Figures(
                case=f"{case} tick", command=command, partitions=deposit.runs, shape=list(deposit.shape),
                wall_s=tick["wall_s"], cpu_s=tick["cpu_s"], cpu_source="process_time",
                notes=[f"median of {TICK_CALLS} calls after one not timed; {tick['requests']} run requests; "
                       + f"cursor {tick['cursor']}"],
            ))
    return results


def tick_worker(calls: str) -> None:
    """Evaluate each sensor on the instance of $DAGSTER_HOME, its resources bound through the CRYOET_*
    environment: from the cursor the runner stored ("stored", the next tick the daemon would make) and from
    the cursor it started the ingest's tick with ("before", the tick that did the ingest's work). One call
    each not timed (first connections), then `calls` timed ones: print their median wall and CPU seconds
    as one JSON line."""
    import contextlib
    import io

    import dagster as dg

    # What the sensors import when called, so that the timed calls import nothing.
    import cryoet_assets.families
    import cryoet_assets.lib.config.loader
    import cryoet_assets.lib.ingestion
    import cryoet_assets.lib.keys
    import cryoet_assets.lib.plan
    import cryoet_assets.lib.watch  # noqa: F401
    from cryoet_assets.definitions import defs
    from cryoet_assets.defs import sensors
    from cryoet_assets.runner import _sensor_origin, _stored_state

    storage = defs.resources["storage"]
    measured: dict[str, dict] = {}
    with dg.DagsterInstance.get() as instance:
        for name in SENSORS:
            sensor = getattr(sensors, name)
            state = _stored_state(instance, sensor)
            origin = _sensor_origin(sensor)
            ticks = instance.get_ticks(origin.get_id(), origin.get_selector().get_id(), limit=2)
            cursors = {"stored": state.instigator_data.cursor if state and state.instigator_data else None,
                       "before": ticks[1].cursor if len(ticks) > 1 else None}
            measured[name] = {}
            for which, cursor in cursors.items():
                times = []
                for _ in range(int(calls) + 1):
                    # As runner._evaluate builds and calls it.
                    context = dg.build_sensor_context(instance=instance, cursor=cursor,
                                                      resources={"storage": storage})
                    with contextlib.redirect_stderr(io.StringIO()):
                        wall, cpu = time.perf_counter(), time.process_time()
                        result = sensor(context)
                        times.append((time.perf_counter() - wall, time.process_time() - cpu))
                walls, cpus = zip(*times[1:])
                measured[name][which] = {
                    "wall_s": round(statistics.median(walls), 4), "cpu_s": round(statistics.median(cpus), 4),
                    "requests": len(result.run_requests or []),
                    "cursor": cursor if cursor is None or len(cursor) < 20 else f"{len(cursor)} characters",
                }
    print(json.dumps(measured))


class Measure:
    """Wall and CPU time, processes and the largest VmHWM of everything started inside the block."""

    def __init__(self, figures: Figures, interval: float) -> None:
        self.figures = figures
        self.interval = interval
        self.popen: set[int] = set()
        self.seen: dict[tuple[int, int], tuple[int, str]] = {}  # (pid, start time) -> (VmHWM kB, command)
        self.cpu: dict[tuple[int, int], tuple[int, int]] = {}  # (pid, start time) -> (user, system) ticks
        self.wall_end: float | None = None
        self.epoch_offset = time.time() - time.perf_counter()
        self._stop = threading.Event()
        self._lock = threading.Lock()

    def __enter__(self) -> Measure:
        global _CURRENT
        # What ran before (the deposit's generation, the other side's outputs) leaves dirty pages that the
        # kernel would write back during this command: flushed first, so that no command pays for another's.
        os.sync()
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
        self._sample()
        left = stop_descendants(self.popen)
        figures = self.figures
        if left:
            figures.notes.append(f"still running after the case: {', '.join(left)}")
        user, system = (after - before for after, before in zip(_children_usage(), self._usage))
        ticks = os.sysconf("SC_CLK_TCK")
        with self._lock:
            sampled_user = sum(user_ticks for user_ticks, _ in self.cpu.values()) / ticks
            sampled_system = sum(system_ticks for _, system_ticks in self.cpu.values()) / ticks
        figures.wall_s = round(ended - self._started, 2)
        figures.cpu_rusage_s = round(user + system, 2)
        figures.cpu_sampled_s = round(sampled_user + sampled_system, 2)
        if sampled_user + sampled_system > user + system:
            figures.cpu_source, user, system = "sampled", sampled_user, sampled_system
        else:
            figures.cpu_source = "rusage"
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
        for proc in descendants():
            self.note_cpu(proc)
            hwm = _status_kb(proc.pid, "VmHWM")
            if hwm is None:  # a zombie (or gone): no memory left to read
                continue
            key, pid = (proc.pid, proc.start), proc.pid
            with self._lock:
                known = self.seen.get(key)
                command = known[1] if known else _command(pid)
                self.seen[key] = (max(hwm, known[0] if known else 0), command)

    def note_cpu(self, proc: Proc) -> None:
        """Keep the latest CPU time seen of a process (a zombie's is its final one)."""
        key = (proc.pid, proc.start)
        with self._lock:
            user, system = self.cpu.get(key, (0, 0))
            self.cpu[key] = (max(user, proc.user), max(system, proc.system))


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
    """SIGINT to the process, then up to `grace` s for it and for what it leaves behind to exit, then SIGKILL
    to what is left; everything is reaped.

    dagster-daemon asks its code server to shut down on SIGINT and exits without waiting for it: the code
    server (orphaned to this subreaper) exits once its run workers have, and is reaped here with the CPU time
    of the run workers it reaped. Killing it at once would lose that time and leave an unreaped zombie.
    """
    own = _CURRENT.popen if _CURRENT is not None else {process.pid}
    deadline = time.monotonic() + grace
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            pass
    while time.monotonic() < deadline and process.poll() is not None:
        reap_orphans(own)
        if not descendants():
            break
        time.sleep(0.1)
    stop_descendants(own)
    process.wait()


def stop_descendants(own: set[int], timeout: float = 10) -> list[str]:
    """SIGKILL every descendant, then reap the orphans until none is left (our own Popen children are
    reaped by their wait); the descendants still there after `timeout` s, as "pid command"."""
    kill_descendants()
    deadline = time.monotonic() + timeout
    while True:
        reap_orphans(own)
        left = [proc for proc in descendants() if not (proc.pid in own and proc.state == "Z")]
        if not left or time.monotonic() > deadline:
            return [f"{proc.pid} {_command(proc.pid)}" for proc in left]
        kill_descendants()
        time.sleep(0.05)


def kill_descendants() -> None:
    for proc in descendants():
        try:
            os.kill(proc.pid, signal.SIGKILL)
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


def deposit_tick_time(home: Path) -> float | None:
    """When the deposit sensor's first tick that asked for runs began (epoch seconds)."""
    try:
        with _connect(home / "schedules" / "schedules.db") as db:
            bodies = db.execute("SELECT tick_body FROM job_ticks WHERE status = 'SUCCESS' ORDER BY id").fetchall()
    except sqlite3.OperationalError:
        return None
    for (body,) in bodies:
        tick = json.loads(body)
        if tick.get("job_name") == DEPOSIT_SENSOR and tick.get("run_ids"):
            return tick["timestamp"]
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


class Proc(NamedTuple):
    """A process as /proc/<pid>/stat shows it; times in clock ticks (os.sysconf("SC_CLK_TCK") a second)."""

    pid: int
    ppid: int
    state: str  # "R", "S", ..., "Z" for a zombie
    start: int  # after boot; with the pid, tells a process from a later one with the same pid
    user: int  # its own user time, without its children's (fields 14 and 15 of the stat line)
    system: int


def descendants() -> list[Proc]:
    """Every descendant of this process, zombies included, from /proc."""
    parents: dict[int, list[Proc]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as handle:
                stat = handle.read()
        except OSError:
            continue
        # Fields after the command, which is in parentheses and may hold spaces: fields[0] is field 3.
        fields = stat[stat.rfind(b")") + 2:].split()
        proc = Proc(pid=int(entry.name), ppid=int(fields[1]), state=fields[0].decode(), start=int(fields[19]),
                    user=int(fields[11]), system=int(fields[12]))
        parents.setdefault(proc.ppid, []).append(proc)
    found, queue = [], [os.getpid()]
    while queue:
        for child in parents.get(queue.pop(), []):
            found.append(child)
            queue.append(child.pid)
    return found


def reap_orphans(own: set[int]) -> None:
    """Reap the exited descendants that were re-parented to this subreaper (not our own Popen children),
    noting their final CPU time for the measurement under way first."""
    with _SPAWN_LOCK:
        for proc in descendants():
            if proc.pid in own or proc.ppid != os.getpid() or proc.state != "Z":
                continue
            if _CURRENT is not None:
                _CURRENT.note_cpu(proc)
            try:
                os.waitpid(proc.pid, os.WNOHANG)
            except ChildProcessError:
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
    ticks = [f for f in results if f.case.endswith(" tick")]
    rows = []
    for f in results:
        if f.case.endswith(" tick"):
            continue
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
    print()
    _print_rows(header, rows)
    if ticks:
        print(f"\nsensor ticks after the ingest (median of {TICK_CALLS} calls after one not timed):")
        _print_rows(["case", "tick", "status", "wall s", "CPU s", "notes"],
                    [[f.case, f.command, f.status, f.wall_s, f.cpu_s, "; ".join(f.notes)] for f in ticks])
    ratios = history_ratios(results, args)
    if ratios:
        print(f"\nhistory-independence: prefilled ({args.history_runs} runs) / fresh, medians of n "
              f"measurements of each; the bound is {HISTORY_LIMIT}x:")
        _print_rows(["measure", "n", "fresh wall s", "prefilled", "ratio", "fresh CPU s", "prefilled", "ratio",
                     "within"],
                    [[r["measure"], r["repetitions"], r["fresh_wall_s"], r["prefilled_wall_s"], r["wall_ratio"],
                      r["fresh_cpu_s"], r["prefilled_cpu_s"], r["cpu_ratio"], "yes" if r["within"] else "NO"]
                     for r in ratios])
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
        seen = [f.from_deposit_tick_s for f in e2e["e2e daemon"] if f.from_deposit_tick_s is not None]
        if seen:
            print(f"  from the deposit sensor's tick that found the deposit (the daemon's start left out): "
                  f"{statistics.median(seen):.2f} s ({min(seen)}-{max(seen)}), "
                  f"{statistics.median(seen) / ours:.2f}x the ingest")
    print()
    for f in results:
        print(json.dumps(f.as_json()))
    for ratio in ratios:
        print(json.dumps(ratio))


def _print_rows(header: list, rows: list[list]) -> None:
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths)).rstrip())


def history_ratios(results: list[Figures], args: argparse.Namespace) -> list[dict]:
    """For the ingest and each tick: prefilled / fresh of the medians of wall and of CPU seconds over the
    repetitions (and, for a tick, the tick rounds) that succeeded."""
    measured = [("", "cryoet-assets ingest")]
    measured += [(" tick", f.command) for f in results if f.case == "history fresh tick" and f.status == "ok"]
    ratios = []
    for suffix, command in dict.fromkeys(measured):
        runs = {name: [f for f in results if f.case == f"history {name}{suffix}" and f.command == command
                       and f.status == "ok"] for name in ("fresh", "prefilled")}
        if not all(runs.values()):
            continue
        ratio = {"case": "history ratio", "measure": command}
        for attribute in ("wall_s", "cpu_s"):
            fresh, prefilled = (statistics.median(getattr(f, attribute) for f in runs[name])
                                for name in ("fresh", "prefilled"))
            ratio[f"fresh_{attribute}"] = round(fresh, 4)
            ratio[f"prefilled_{attribute}"] = round(prefilled, 4)
            ratio[f"{attribute.removesuffix('_s')}_ratio"] = round(prefilled / fresh, 2) if fresh else None
        ratio.update(limit=HISTORY_LIMIT, within=all(ratio[key] is not None and ratio[key] <= HISTORY_LIMIT
                                                     for key in ("wall_ratio", "cpu_ratio")),
                     history_runs=args.history_runs, repetitions=min(len(items) for items in runs.values()))
        ratios.append(ratio)
    return ratios

if __name__ == "__main__":
    sys.exit(main())
