"""Running the console script as a user does: its own process, no CRYOET_* or DAGSTER_* variables inherited."""

import os
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(sys.executable).parent / "cryoet-assets"


def run(args: list[str], cwd: Path, **popen) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CRYOET_", "DAGSTER_"))}
    return subprocess.run([str(SCRIPT), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300,
                          **popen)
