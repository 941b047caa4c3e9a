"""`report_job`: its op writes `pid ppid start-method preloaded` (multiprocessing's default start method;
whether `launcher_code.preloaded` was imported) to `report`, then waits until `release` exists (at most 60 s)."""

import multiprocessing
import os
import sys
import time
from pathlib import Path

import dagster as dg


class Files(dg.Config):
    report: str
    release: str = ""


@dg.op
def report(config: Files) -> None:
    preloaded = int("launcher_code.preloaded" in sys.modules)
    Path(config.report).write_text(f"{os.getpid()} {os.getppid()} {multiprocessing.get_start_method()} {preloaded}")
    deadline = time.monotonic() + 60
    while config.release and not Path(config.release).exists() and time.monotonic() < deadline:
        time.sleep(0.05)


@dg.job
def report_job():
    report()


defs = dg.Definitions(jobs=[report_job], executor=dg.in_process_executor)
