"""Resources: the portal's buckets and databases, configured by URL."""

from __future__ import annotations

import threading
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

import dagster as dg

from cryoet_assets.lib.storage import Bucket, open_bucket

if TYPE_CHECKING:
    from sqlalchemy import Engine


class PortalStorage(dg.ConfigurableResource):
    """Config folder, deposit, staging and production buckets: `file://` folders or `s3://bucket/prefix` URLs."""

    configs_url: str
    deposit_url: str
    staging_url: str
    production_url: str
    s3_endpoint_url: str = ""
    staging_https_prefix: str = ""
    production_https_prefix: str = ""

    def configs(self) -> Bucket:
        return _bucket(self.configs_url, self.s3_endpoint_url)

    def deposit(self) -> Bucket:
        return _bucket(self.deposit_url, self.s3_endpoint_url)

    def staging(self) -> Bucket:
        return _bucket(self.staging_url, self.s3_endpoint_url)

    def production(self) -> Bucket:
        return _bucket(self.production_url, self.s3_endpoint_url)

    def layout_problem(self) -> str:
        """Why the deposit, staging and production buckets cannot be used together, or "": none may be another
        or lie inside another (`overlap_problem`). The configs' folder may lie in staging: ingest keeps it there."""
        from cryoet_assets.lib.storage import overlap_problem

        return overlap_problem({"deposit": self.deposit(), "staging": self.staging(), "production": self.production()})

    def publish_key_photos(self, sources: dict[str, str | None], *, parent_dir: str) -> dict[str, str | None]:
        """Copy key photos named by a config into `{parent_dir}/Images/` of the staging bucket."""
        from cryoet_assets.lib.photos import publish_photos

        return publish_photos(
            sources,
            parent_dir=parent_dir,
            deposit=self.deposit(),
            output=self.staging(),
            endpoint_url=self.s3_endpoint_url or None,
        )

    def s3_root(self) -> str:
        """Root URI of the staging bucket for the database's s3 columns (`file://` for a local folder)."""
        return _root_uri(self.staging())

    def https_root(self) -> str:
        """Public URL of the staging bucket's root (its URI when no HTTPS front is configured)."""
        return self.staging_https_prefix or self.s3_root()

    def production_prefixes(self) -> dict[str, dict[str, str]]:
        """`promote_rows` keyword arguments: {staging root: production root} for the https columns (`prefixes`)
        and the s3 columns (`s3_prefixes`) of promoted rows."""
        s3_root = _root_uri(self.production())
        return {
            "prefixes": {self.https_root(): self.production_https_prefix or s3_root},
            "s3_prefixes": {self.s3_root(): s3_root},
        }


class PortalDatabase(dg.ConfigurableResource):
    """Staging and production portal databases as SQLAlchemy URLs (SQLite or Postgres)."""

    staging_url: str
    production_url: str
    parent_wait_retries: int = 10
    parent_wait_seconds: float = 15.0

    def staging(self) -> Engine:
        return _engine(self.staging_url)

    def production(self) -> Engine:
        return _engine(self.production_url)


def _root_uri(bucket: Bucket) -> str:
    uri = bucket.uri("")
    return uri if "://" in uri else Path(uri).as_uri()


def forget_connections() -> None:
    """Close this process's cached database engines and drop its buckets, e.g. before forking children.

    A forked child that used an engine or S3 client of its parent would share its sockets.
    """
    with _ENGINES_LOCK:
        while _ENGINES:
            _ENGINES.popitem()[1].dispose()
    _bucket.cache_clear()


@cache
def _bucket(url: str, endpoint_url: str) -> Bucket:
    return open_bucket(url, endpoint_url=endpoint_url or None)


_ENGINES: dict[str, Engine] = {}
_ENGINES_LOCK = threading.Lock()
# Outlives `forget_connections`: a run forked after this process migrated a database does not run alembic
# again (about 15 ms of CPU a run, alembic loading its environment and scripts).
_MIGRATED: set[str] = set()


def _engine(url: str) -> Engine:
    """One engine per database URL in this process, made on first use after migrating the database (once
    per URL in this process and the processes forked from it)."""
    with _ENGINES_LOCK:
        if url not in _ENGINES:
            from cryoet_assets.families import migration_locations, table_metadata
            from cryoet_assets.lib.db import make_engine
            from cryoet_assets.lib.db.migrate import upgrade

            # The sync finds tables by name on the shared metadata, so every family's models must be loaded.
            table_metadata()
            if url not in _MIGRATED:
                upgrade(url, version_locations=migration_locations())
                _MIGRATED.add(url)
            _ENGINES[url] = make_engine(url)
        return _ENGINES[url]
