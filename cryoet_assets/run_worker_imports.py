"""What a run imports, for the run launcher's fork server to load once (`preload_modules` in dagster.yaml).

Runs forked from that server start with these modules loaded instead of importing them each: the libraries the
assets import inside their functions (kept out of the definitions, which the code server and the UI load too)
and every module of the package's libraries and entity families. Nothing else imports this module.

It also makes this process's GX context (`gx.prepare`, about 13 ms), which forked runs inherit instead of each
making its own, and keeps numpy's BLAS to one thread in this process and its forks. A run already spreads its
work over the cores (the conversion's passes and chunk writer, Blosc's threads, runs side by side); BLAS is used
only for dot products of a few hundred kB (the volume statistics), after each of which OpenBLAS's own threads
spin, waiting for more: 1-1.7 s of CPU in an ingest of four 128×512×512 tomograms, taken from the other passes.
"""

import importlib
import pkgutil

import alembic.command  # noqa: F401
import fsspec  # noqa: F401
import mrcfile  # noqa: F401
import numcodecs  # noqa: F401
import numpy.rec  # noqa: F401 - numpy imports it on first use (mrcfile's voxel sizes), in every run otherwise
import ome_zarr_models.v04.image  # noqa: F401
import PIL.Image
import sqlalchemy  # noqa: F401
import threadpoolctl
import upath  # noqa: F401
import zarr  # noqa: F401

import cryoet_assets.families
import cryoet_assets.lib
from cryoet_assets.lib.validation.gx import defer_unused_modules, prepare

threadpoolctl.threadpool_limits(limits=1, user_api="blas")
PIL.Image.preinit()  # the PNG, JPEG, GIF, BMP and PPM plugins, which Pillow imports on the first image otherwise
defer_unused_modules()
importlib.import_module("great_expectations")
prepare()

for _package in (cryoet_assets.lib, cryoet_assets.families):
    for _module in pkgutil.walk_packages(_package.__path__, f"{_package.__name__}."):
        if ".migrations" not in _module.name:
            importlib.import_module(_module.name)
