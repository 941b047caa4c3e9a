"""Tomograms of one acquisition run: portal ids, standardized volumes and key images, metadata documents."""

from __future__ import annotations

import contextlib
import json
import posixpath
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryoet_assets.families.tomogram.manifest import TomogramManifest
from cryoet_assets.families.tomogram.plan import TomogramPlan, run_tomograms
from cryoet_assets.lib import ids, paths
from cryoet_assets.lib.ids import published_ids
from cryoet_assets.lib.plan import DatasetPlan
from cryoet_assets.lib.storage import Bucket
from cryoet_assets.lib.volume.sources import VolumeError, VolumeSource, open_volume

# Fields whose values make two tomograms of a run the same tomogram (facts §2.5).
ID_FIELDS = ("alignment_metadata_path", "reconstruction_method", "processing", "processing_software")
FIDUCIAL_STATUS = {True: "FIDUCIAL", "true": "FIDUCIAL", False: "NON_FIDUCIAL", "false": "NON_FIDUCIAL"}
# Bumped when the converter's output changes, so that re-materializing re-converts unchanged sources.
CONVERTER_VERSION = "2"


class TomogramError(ValueError):
    """A tomogram that cannot be standardized or numbered; the message names the source or the field."""


def identity(metadata: Mapping[str, Any], *, voxel_spacing: float, deposition_id: int) -> str:
    """The portal's hash key of a tomogram: same key, same id on re-ingestion."""
    values = [f"{float(voxel_spacing):.3f}"] + [str(metadata.get(name)) for name in ID_FIELDS]
    return json.dumps([*values, str(deposition_id)])


def existing_ids(output: Bucket, dataset_id: str, run_name: str) -> dict[str, int]:
    """Ids of the tomograms already published for the run, by hash key."""
    pattern = f"{paths.run_dir(dataset_id, run_name)}/Reconstructions/VoxelSpacing*/Tomograms/*/tomogram_metadata.json"
    return published_ids(
        output,
        pattern,
        key_of=lambda doc: identity(doc, voxel_spacing=float(doc["voxel_spacing"]), deposition_id=doc["deposition_id"]),
    )


def assign_ids(
    tomograms: Sequence[TomogramPlan], *, existing: Mapping[str, int], deposition_id: int, where: str
) -> list[int]:
    """Ids for `tomograms` in order: the published id for a known hash key, else the next free one from 100.

    Raises TomogramError naming `where` and both sources when two tomograms have one hash key.
    """
    def duplicate(first: TomogramPlan, second: TomogramPlan) -> str:
        return (
            f"{where}: tomograms {first.source_path} and {second.source_path} at "
            f"{second.voxel_spacing:.3f} Å have the same {', '.join(ID_FIELDS)}; the portal would give "
            "them one id: set a different processing or processing_software in their config metadata"
        )

    try:
        return ids.assign_ids(
            tomograms,
            key_of=lambda t: identity(t.metadata, voxel_spacing=t.voxel_spacing, deposition_id=deposition_id),
            existing=existing,
            duplicate=duplicate,
        )
    except ids.DuplicateIdentityError as exc:
        raise TomogramError(str(exc)) from None


@dataclass
class StandardizedTomogram:
    """Where one standardized tomogram went and what it is."""

    tomogram_id: int
    voxel_spacing: float
    source: str
    mrc_key: str
    zarr_key: str
    key_images: dict[str, str]
    size: dict[str, int]
    scales: list[dict[str, int]]
    stats: dict[str, float]
    mrc_bytes: int
    zarr_bytes: int
    header_voxel_size: float
    seconds: float
    warnings: list[str] = field(default_factory=list)  # what was odd about the source but could be read

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@contextlib.contextmanager
def local_source(deposit: Bucket, key: str) -> Iterator[VolumeSource]:
    """The deposit object `key` opened as a volume, downloaded first when the deposit is remote."""
    name = deposit.uri(key)
    local = deposit.local_path(key)
    with contextlib.ExitStack() as stack:
        if local is None:
            folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="cryoet-source-")))
            local = folder / posixpath.basename(key.rstrip("/"))
            _download(deposit, key, local)
        source = open_volume(local, display_name=name)
        stack.callback(source.close)
        yield source


def _download(deposit: Bucket, key: str, local: Path) -> None:
    if deposit.info(key) is not None:
        deposit.download_file(key, local)
        return
    objects = list(deposit.list(key))
    if not objects:
        raise VolumeError(f"{deposit.uri(key)}: no such file or folder")
    for item in objects:
        target = local / posixpath.relpath(item.key, key)
        target.parent.mkdir(parents=True, exist_ok=True)
        deposit.download_file(item.key, target)


def standardize(
    deposit: Bucket,
    output: Bucket,
    *,
    source_key: str,
    dataset_id: str,
    run_name: str,
    voxel_spacing: float,
    tomogram_id: int,
    progress: Callable[[int, int], None] | None = None,
) -> StandardizedTomogram:
    """Convert one tomogram source to the portal's MRC, OME-Zarr and key images, then publish them.

    Everything is built in a private work folder first: a source that fails (truncated, NaN, wrong mode,
    ...) leaves the published outputs of this tomogram exactly as they were.
    """
    from cryoet_assets.lib.volume.convert import convert_tomogram
    from cryoet_assets.lib.volume.key_images import render_key_images

    folder = paths.tomogram_dir(dataset_id, run_name, voxel_spacing, tomogram_id)
    mrc_key = f"{folder}/{run_name}.mrc"
    zarr_key = f"{folder}/{run_name}.zarr"
    with local_source(deposit, source_key) as source, output.work_dir(folder) as work:
        if not voxel_spacing > 0:
            raise TomogramError(
                f"{deposit.uri(source_key)}: no usable voxel spacing: the config's voxel spacing is "
                f"{voxel_spacing} and the file's header gives {source.voxel_size:g} Å"
            )
        result = convert_tomogram(
            source, voxel_spacing=voxel_spacing, mrc_path=work / f"{run_name}.mrc", zarr_path=work / f"{run_name}.zarr",
            progress=progress,
        )
        images = render_key_images(result.projection)
        image_keys = {
            name: paths.key_image_path(dataset_id, run_name, voxel_spacing, tomogram_id, name) for name in images
        }
        mrc_bytes = result.mrc_path.stat().st_size
        zarr_bytes = sum(path.stat().st_size for path in result.zarr_path.rglob("*") if path.is_file())
        for name, data in images.items():
            output.write_bytes(image_keys[name], data)
        output.publish_tree(result.zarr_path, zarr_key, last=[".zattrs", ".zgroup"])
        output.publish_file(result.mrc_path, mrc_key)
        header_voxel = source.voxel_size
    stats = result.stats
    return StandardizedTomogram(
        tomogram_id=tomogram_id,
        voxel_spacing=result.voxel_spacing,
        source=deposit.uri(source_key),
        mrc_key=mrc_key,
        zarr_key=zarr_key,
        key_images=image_keys,
        size=result.scales[0],
        scales=result.scales,
        stats={"min": stats.minimum, "max": stats.maximum, "mean": stats.mean, "rms": stats.rms},
        mrc_bytes=mrc_bytes,
        zarr_bytes=zarr_bytes,
        header_voxel_size=round(header_voxel, 3),
        seconds=round(result.seconds, 3),
        warnings=list(result.warnings),
    )


def tomogram_document(
    tomogram: StandardizedTomogram | Mapping[str, Any],
    *,
    metadata: Mapping[str, Any],
    dataset_id: str,
    run_name: str,
    deposition_id: int,
) -> dict[str, Any]:
    """`tomogram_metadata.json`: the config metadata plus the fields the portal adds (facts §2.3)."""
    facts = tomogram.as_dict() if isinstance(tomogram, StandardizedTomogram) else dict(tomogram)
    doc = {key: value for key, value in metadata.items() if key != "voxel_spacing"}
    status = doc.get("fiducial_alignment_status")
    if isinstance(status, str):
        status = status.lower() if status.lower() in ("true", "false") else status
    doc["fiducial_alignment_status"] = FIDUCIAL_STATUS.get(status, status)  # type: ignore[arg-type]
    doc.update(
        {
            "scales": facts["scales"],
            "size": facts["size"],
            "omezarr_dir": posixpath.basename(facts["zarr_key"]),
            "mrc_file": posixpath.basename(facts["mrc_key"]),
            "run_name": run_name,
            "key_photo": {
                "snapshot": facts["key_images"]["snapshot"],
                "thumbnail": facts["key_images"]["thumbnail"],
            },
            "voxel_spacing": float(f"{facts['voxel_spacing']:.3f}"),
            "alignment_metadata_path": metadata.get("alignment_metadata_path"),
            "neuroglancer_config_path": paths.neuroglancer_config_path(
                dataset_id, run_name, facts["voxel_spacing"], facts["tomogram_id"]
            ),
            "deposition_id": deposition_id,
        }
    )
    return doc


@dataclass
class RunTomograms:
    """What the tomograms of one run came to: documents to publish, per-tomogram facts, failures."""

    dataset_id: str
    run_name: str
    dataset_deposition_id: int
    voxel_spacings: list[float]
    documents: dict[str, dict[str, Any]]
    facts: dict[str, dict[str, Any]]
    failures: list[dict[str, str]]

    def summary(self) -> TomogramManifest:
        """The manifest kept by the bucket IO manager: enough to skip unchanged sources and load rows."""
        sizes: dict[str, int] = {}
        for fact in self.facts.values():
            sizes[fact["mrc_key"]] = fact["mrc_bytes"]
            sizes[fact["zarr_key"]] = fact["zarr_bytes"]
        return TomogramManifest(
            dataset_id=self.dataset_id,
            run_name=self.run_name,
            dataset_deposition_id=self.dataset_deposition_id,
            voxel_spacings=self.voxel_spacings,
            tomograms=self.facts,
            file_sizes=sizes,
            failures=self.failures,
        )


def standardize_run(
    plan: DatasetPlan,
    run_name: str,
    *,
    deposit: Bucket,
    output: Bucket,
    previous: TomogramManifest | None = None,
    log: Callable[[str], None] = lambda message: None,
    warn: Callable[[str], None] | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> RunTomograms:
    """Standardize every tomogram the plan found for `run_name`, each on its own.

    `progress(source_uri, planes_written, planes)` follows each conversion (see `convert_tomogram`).

    A tomogram whose source and config did not change since the last materialization (`previous`
    manifest) and whose outputs are still in place is not converted again. A tomogram that fails is
    recorded in `failures` with an error naming its source; the others go on. What was odd about a
    source that could be converted all the same is in its facts' `warnings` and passed to `warn`
    (default: `log`) when it is converted.
    """
    warn = warn or log
    run = plan.run(run_name)
    where = f"{plan.config.path}: run {run_name}"
    tomograms = run_tomograms(run)
    ids = assign_ids(
        tomograms,
        existing=existing_ids(output, plan.dataset_id, run_name),
        deposition_id=plan.deposition_id,
        where=where,
    )
    before = dict(previous.tomograms) if previous else {}
    outcome = RunTomograms(
        dataset_id=plan.dataset_id,
        run_name=run_name,
        dataset_deposition_id=plan.deposition_id,
        voxel_spacings=run.voxel_spacings,
        documents={},
        facts={},
        failures=[],
    )
    for tomogram, tomogram_id in zip(tomograms, ids):
        path = paths.tomogram_metadata_path(plan.dataset_id, run_name, tomogram.voxel_spacing, tomogram_id)
        version = f"{tomogram.source_version}:{CONVERTER_VERSION}"
        facts = before.get(path)
        if facts and facts.get("source_version") == version and _outputs_in_place(output, facts):
            log(f"{deposit.uri(tomogram.source_path)}: unchanged since the last materialization, not converted")
            facts = {**facts, "converted": False}
        else:
            try:
                result = standardize(
                    deposit,
                    output,
                    source_key=tomogram.source_path,
                    dataset_id=plan.dataset_id,
                    run_name=run_name,
                    voxel_spacing=tomogram.voxel_spacing,
                    tomogram_id=tomogram_id,
                    progress=_for_source(progress, deposit.uri(tomogram.source_path)),
                )
            except (VolumeError, TomogramError, FileNotFoundError) as exc:
                outcome.failures.append({"source": deposit.uri(tomogram.source_path), "error": str(exc)})
                continue
            facts = {**result.as_dict(), "source_version": version, "converted": True}
            for warning in result.warnings:
                warn(warning)
            log(f"{result.source}: standardized as tomogram {tomogram_id} in {result.seconds:.1f} s")
        outcome.facts[path] = facts
        outcome.documents[path] = tomogram_document(
            facts,
            metadata=tomogram.metadata,
            dataset_id=plan.dataset_id,
            run_name=run_name,
            deposition_id=plan.deposition_id,
        )
    return outcome


def _outputs_in_place(output: Bucket, facts: Mapping[str, Any]) -> bool:
    mrc = output.info(facts["mrc_key"])
    return (
        mrc is not None
        and mrc.size == facts.get("mrc_bytes")
        and output.exists(f"{facts['zarr_key']}/.zattrs")
        and all(output.exists(key) for key in facts.get("key_images", {}).values())
    )


def _for_source(
    progress: Callable[[str, int, int], None] | None, source: str
) -> Callable[[int, int], None] | None:
    return None if progress is None else lambda done, total: progress(source, done, total)
