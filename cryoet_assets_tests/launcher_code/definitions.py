"""`report_job`: its op writes `pid ppid start-method` (multiprocessing's default) to `report`, then waits
until `release` exists (at most 60 s)."""

import multiprocessing
import os
import time
from pathlib import Path

import dagster as dg


class Files(dg.Config):
    report: str
    release: str = ""


@dg.op
def report(config: Files) -> None:
    Path(config.report).write_text(f"{os.getpid()} {os.getppid()} {multiprocessing.get_start_method()}")
    deadline = time.monotonic() + 60
    while config.release and not Path(config.release).exists() and time.monotonic() < deadline:
        time.sleep(0.05)


@dg.job
def report_job():
    report()


defs = dg.Definitions(jobs=[report_job], executor=dg.in_process_executor)
