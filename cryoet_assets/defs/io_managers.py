"""IO managers: metadata documents and manifests to the staging bucket, row sets to the staging database."""


from typing import Any

import dagster as dg
from pydantic import BaseModel

from cryoet_assets.defs.partitions import LEVEL_OF
from cryoet_assets.defs.resources import PortalDatabase, PortalStorage
from cryoet_assets.lib.documents import PortalDocuments, dumps, read_json, read_manifest, write_document
from cryoet_assets.lib.paths import state_path


SCOPE_DIGEST = "staging_digest"


def _partition(context) -> str | None:
    return context.asset_partition_key if context.has_asset_partitions else None


class PortalBucketIOManager(dg.ConfigurableIOManager):
    """Writes metadata documents at the portal's paths, then the partition's manifest; reads them back."""

    storage: dg.ResourceDependency[PortalStorage]

    def handle_output(self, context: dg.OutputContext, obj: Any) -> None:
        bucket = self.storage.staging()
        key = state_path(context.asset_key.path[-1], _partition(context))
        if isinstance(obj, PortalDocuments):
            statuses = {}
            for path, doc in obj.documents.items():
                _, statuses[path] = write_document(bucket, path, doc)
            summary = obj.summary.model_dump(mode="json") if isinstance(obj.summary, BaseModel) else obj.summary
            manifest = {"kind": "documents", "documents": statuses, "summary": summary}
            context.add_output_metadata(
                {
                    "documents": dg.MetadataValue.json({path: bucket.uri(path) for path in statuses}),
                    "written": sum(status == "written" for status in statuses.values()),
                    "unchanged": sum(status == "unchanged" for status in statuses.values()),
                }
            )
        else:
            value = obj.model_dump(mode="json") if isinstance(obj, BaseModel) else obj
            manifest = {"kind": "json", "value": value}
        bucket.write_bytes(key, dumps(manifest), content_type="application/json")
        context.add_output_metadata({"manifest": dg.MetadataValue.path(bucket.uri(key))})
        level = LEVEL_OF.get(context.asset_partitions_def.name) if context.has_asset_partitions else None
        if level is not None:
            from cryoet_assets.lib.promotion.objects import content_digest, partition_scope, scope_objects

            # What the partition's staging objects are now: promotion copies them only if they still are.
            objects = scope_objects(bucket, partition_scope(level, context.asset_partition_key))
            context.add_output_metadata({SCOPE_DIGEST: content_digest(objects), "staging_objects": len(objects)})

    def load_input(self, context: dg.InputContext) -> Any:
        bucket = self.storage.staging()
        try:
            manifest = read_manifest(bucket, context.asset_key.path[-1], _partition(context))
        except FileNotFoundError:
            raise dg.Failure(
                f"{context.asset_key.to_user_string()} has not been materialized for partition "
                f"{_partition(context)} (no manifest in {bucket.uri('')})"
            ) from None
        if manifest["kind"] == "documents":
            return PortalDocuments(
                documents={path: read_json(bucket, path) for path in manifest["documents"]},
                summary=manifest.get("summary", {}),
            )
        return manifest["value"]


class PortalDatabaseIOManager(dg.ConfigurableIOManager):
    """Applies a partition's row set to the staging database in one transaction (upsert, keep ids, prune)."""

    database: dg.ResourceDependency[PortalDatabase]

    def handle_output(self, context: dg.OutputContext, obj: Any) -> None:
        from cryoet_assets.lib.db.sync import apply_rowset

        engine = self.database.staging()
        report = apply_rowset(engine, obj)
        # Kinds are fixed when the code loads, before the run's database URL is known: the assets' kind
        # is the neutral "sql", and each materialization says which database it actually wrote.
        context.add_output_metadata(
            {
                "rows": dg.MetadataValue.json(report.as_dict()),
                "database": engine.dialect.name,
                "database_url": engine.url.render_as_string(hide_password=True),
            }
        )

    def load_input(self, context: dg.InputContext) -> Any:
        raise dg.Failure(
            f"{context.asset_key.to_user_string()} lives in the portal database; query it there instead"
        )
