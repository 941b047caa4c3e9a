"""Tomogram standardization benchmark: MRC + OME-Zarr pyramid + key images, to a local folder.

    python benchmarks/tomogram.py --shape 500 1000 1000
    python benchmarks/tomogram.py --shape 500 1000 1000 --axes 3 2 1
    python benchmarks/tomogram.py --input some.mrc
    python benchmarks/tomogram.py --shape 500 1000 1000 --with-checks

Without --input a synthetic float32 MRC (10 Å) is generated first, in a separate process, so its
memory does not count; with --axes it is then stored with its columns, rows and sections along those
physical axes (mapc, mapr, maps), as EMDB and CCP4 maps may be. The conversion then runs exactly as
the tomogram asset runs it (`cryoet_assets.families.tomogram.standardize`, local deposit and staging
folders), and the last line printed is one JSON object: shape, input_mb, seconds, mb_per_s and peak_rss_mb (this process's
high-water resident set size, interpreter included).

With --with-checks the tomogram gate (`validate_run_tomograms`, as the `tomograms_valid` check runs
it) then runs on the outputs in a fresh process, and the JSON object also has check_passed,
check_seconds (the gate alone), check_import_seconds (loading its libraries: Great Expectations,
mrcfile, ome-zarr-models), check_peak_rss_mb (that process's own high-water resident set size,
imports included) and check_imports_rss_mb (the same after the imports alone), so the check's
memory is measured apart from the conversion's.
"""

from __future__ import annotations

import argparse
import json
import math
import posixpath
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DEPOSITION_ID = 10000
TOMOGRAM_METADATA = {
    "authors": [{"name": "A. Benchmark", "primary_author_status": True, "corresponding_author_status": True}],
    "reconstruction_method": "WBP",
    "reconstruction_software": "IMOD",
    "processing": "raw",
    "fiducial_alignment_status": "FIDUCIAL",
    "ctf_corrected": False,
    "tomogram_version": 1,
    "align_software": "IMOD",
    "is_visualization_default": True,
    "offset": {"x": 0, "y": 0, "z": 0},
    "affine_transformation_matrix": [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]],
    "dates": {"deposition_date": "2026-01-01", "last_modified_date": "2026-01-01", "release_date": "2026-01-01"},
}


def generate(path: Path, shape: list[int], axes: list[int]) -> None:
    code = (
        "import sys; from pathlib import Path; "
        "from cryoet_assets.lib.volume.synthetic import write_synthetic_mrc; "
        "write_synthetic_mrc(Path(sys.argv[1]), shape=tuple(int(n) for n in sys.argv[2:5]), voxel_size=10.0)"
    )
    subprocess.run([sys.executable, "-c", code, str(path), *map(str, shape)], check=True)
    if axes != [1, 2, 3]:
        subprocess.run([sys.executable, "-c", REORDER, str(path), *map(str, axes)], check=True)


# Holds the volume twice in memory, in a process of its own.
REORDER = """
import sys
import mrcfile
import numpy as np

path, axes = sys.argv[1], tuple(int(a) for a in sys.argv[2:5])
mapc, mapr, maps = axes
with mrcfile.open(path) as mrc:
    volume, voxel = np.array(mrc.data), float(mrc.voxel_size.y)
nz, ny, nx = volume.shape
stored = np.ascontiguousarray(volume.transpose(3 - maps, 3 - mapr, 3 - mapc))
del volume
with mrcfile.new_mmap(path, shape=stored.shape, mrc_mode=2, overwrite=True) as mrc:
    mrc.data[:] = stored
    header = mrc.header
    header.mapc, header.mapr, header.maps = axes
    header.mx, header.my, header.mz = nx, ny, nz  # per physical axis (MRC2014)
    mrc.voxel_size = voxel
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", nargs=3, type=int, metavar=("Z", "Y", "X"), default=[256, 512, 512])
    parser.add_argument("--axes", nargs=3, type=int, metavar=("MAPC", "MAPR", "MAPS"), default=[1, 2, 3])
    parser.add_argument("--input", type=Path, help="an existing MRC to convert instead of a synthetic one")
    parser.add_argument("--workdir", type=Path, help="where to put the deposit and output folders (default: a temp dir)")
    parser.add_argument("--voxel-spacing", type=float, default=None, help="default: the input header's voxel size")
    parser.add_argument("--with-checks", action="store_true", help="then run the tomogram gate in a fresh process")
    parser.add_argument("--run-check", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run_check:
        print(json.dumps(run_check(json.loads(args.run_check.read_text()))))
        return

    work = Path(tempfile.mkdtemp(prefix="cryoet-bench-", dir=args.workdir))
    try:
        deposit_root, output_root = work / "deposit", work / "staging"
        deposit_root.mkdir()
        source = deposit_root / "tomogram.mrc"
        if args.input:
            source.symlink_to(args.input.resolve())
        else:
            generate(source, args.shape, args.axes)
        figures, job = run(deposit_root, output_root, voxel_spacing=args.voxel_spacing)
        if args.with_checks:
            figures.update(check_in_child(work / "check.json", job))
        print(json.dumps(figures))
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run(deposit_root: Path, output_root: Path, *, voxel_spacing: float | None) -> tuple[dict, dict]:
    """Convert; the figures, and what the gate needs to check the outputs (see `run_check`)."""
    import numpy as np

    from cryoet_assets.families.tomogram.manifest import TomogramManifest
    from cryoet_assets.families.tomogram.standardize import standardize, tomogram_document
    from cryoet_assets.lib.mrc_header import HEADER_BYTES, parse_header
    from cryoet_assets.lib.storage import open_bucket
    from cryoet_assets.lib.volume.sources import SUPPORTED_MODES

    deposit, output = open_bucket(str(deposit_root)), open_bucket(str(output_root))
    with open(deposit_root / "tomogram.mrc", "rb") as handle:
        header = parse_header(handle.read(HEADER_BYTES), name="tomogram.mrc")
    shape, spacing = header.shape, voxel_spacing or header.voxel_size
    nbytes = math.prod(shape) * np.dtype(SUPPORTED_MODES[int(header.fields["mode"])]).itemsize
    started = time.perf_counter()
    result = standardize(
        deposit,
        output,
        source_key="tomogram.mrc",
        dataset_id="10000",
        run_name="TS_001",
        voxel_spacing=spacing,
        tomogram_id=100,
    )
    seconds = time.perf_counter() - started
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        f"mrc {result.mrc_bytes / 1e6:.0f} MB, zarr {result.zarr_bytes / 1e6:.0f} MB, "
        f"key images {len(result.key_images)}, levels {[list(s.values()) for s in result.scales]}",
        file=sys.stderr,
    )
    figures = {
        "shape": list(shape),
        "input_mb": round(nbytes / 1e6, 1),
        "seconds": round(seconds, 2),
        "mb_per_s": round(nbytes / 1e6 / seconds, 1),
        "peak_rss_mb": round(peak_kb / 1024, 1),
    }
    doc = tomogram_document(
        result, metadata=TOMOGRAM_METADATA, dataset_id="10000", run_name="TS_001", deposition_id=DEPOSITION_ID
    )
    doc_path = f"{posixpath.dirname(result.mrc_key)}/tomogram_metadata.json"
    job = {
        "output_root": str(output_root),
        "documents": {doc_path: doc},
        "manifest": TomogramManifest(
            dataset_id="10000",
            run_name="TS_001",
            dataset_deposition_id=DEPOSITION_ID,
            tomograms={doc_path: result.as_dict()},
        ).model_dump(mode="json"),
    }
    return figures, job


def check_in_child(job_path: Path, job: dict) -> dict:
    """Run `run_check` in a fresh interpreter, so its peak resident set size is its own."""
    job_path.write_text(json.dumps(job))
    done = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--run-check", str(job_path)],
        check=True,
        stdout=subprocess.PIPE,
        text=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def run_check(job: dict) -> dict:
    """The tomogram gate over `job`'s outputs, as the tomograms_valid check runs it; its own figures."""
    started = time.perf_counter()
    import great_expectations  # noqa: F401 - imported here so check_seconds is the gate alone
    import mrcfile  # noqa: F401
    import ome_zarr_models.v04.image  # noqa: F401

    from cryoet_assets.families.tomogram.manifest import TomogramManifest
    from cryoet_assets.families.tomogram.validation import validate_run_tomograms
    from cryoet_assets.lib.storage import open_bucket

    imported = time.perf_counter()
    imports_kb = _own_peak_rss_kb()
    outcome = validate_run_tomograms(
        open_bucket(job["output_root"]),
        job["documents"],
        TomogramManifest.model_validate(job["manifest"]),
        deposition_exists={DEPOSITION_ID: True},
    )
    seconds = time.perf_counter() - imported
    if not outcome.passed:
        print(outcome.summary(), file=sys.stderr)
    return {
        "check_passed": outcome.passed,
        "check_seconds": round(seconds, 2),
        "check_import_seconds": round(imported - started, 2),
        "check_peak_rss_mb": round(_own_peak_rss_kb() / 1024, 1),
        "check_imports_rss_mb": round(imports_kb / 1024, 1),
    }


def _own_peak_rss_kb() -> int:
    """This process's peak resident set size, in KiB.

    Linux's ru_maxrss survives exec: a child started by a large parent reports at least the parent's
    size. The memory map's own high-water mark (VmHWM) starts afresh at exec.
    """
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


if __name__ == "__main__":
    main()
