"""The `cryoet-assets` console script: demo, ingest, promote, grant-deposit and validate-config."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

if TYPE_CHECKING:
    from datetime import timedelta

DEFAULT_HOME = ".cryoet-assets"
WORKERS_HELP = ("acquisition runs executed at once, each in a process forked from this one "
                "(default: the number of cores; 1 runs every run in this process)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="cryoet-assets", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser("demo", help="generate a small deposit and ingest it on the embedded default")
    demo.add_argument("--root", type=Path, default=Path("demo"), help="folder for everything the demo makes")
    demo.add_argument("--workers", type=_positive, default=None, help=WORKERS_HELP)

    ingest = commands.add_parser("ingest", help="ingest one config and its deposit")
    ingest.add_argument("--config", type=Path, required=True, help="ingestion config (portal YAML format)")
    ingest.add_argument("--deposit", required=True, help="deposit bucket: folder, file:// or s3://bucket/prefix")
    ingest.add_argument("--staging", required=True, help="staging bucket: folder, file:// or s3://bucket/prefix")
    ingest.add_argument("--db", required=True, help="staging portal database, a SQLAlchemy URL")
    ingest.add_argument("--production", help="production bucket (default: <staging>-production)")
    ingest.add_argument("--production-db", help="production database URL, for promotion (default: beside the "
                                                "staging one, its name suffixed -production, or _production)")
    ingest.add_argument("--staging-https-prefix", default="",
                        help="public https:// URL of the staging bucket's root, written to the portal "
                             "database's https columns (required when --staging is an s3:// bucket)")
    ingest.add_argument("--s3-endpoint-url", default="", help="S3 endpoint, e.g. for MinIO")
    ingest.add_argument("--workers", type=_positive, default=None, help=WORKERS_HELP)
    ingest.add_argument("--dagster-home", type=Path, help=f"Dagster instance folder (default: $DAGSTER_HOME or "
                                                          f"./{DEFAULT_HOME}/dagster_home)")

    promote = commands.add_parser(
        "promote", help="copy validated partitions from staging to the production bucket and database"
    )
    promote.add_argument("--staging", required=True, help="staging bucket: folder, file:// or s3://bucket/prefix")
    promote.add_argument("--production", required=True, help="production bucket: folder, file:// or s3://...")
    promote.add_argument("--db", required=True, help="staging portal database, a SQLAlchemy URL")
    promote.add_argument("--production-db", required=True, help="production portal database, a SQLAlchemy URL")
    promote.add_argument("--dataset", action="append", default=[], metavar="ID",
                         help="promote this dataset, its depositions and its runs (repeatable)")
    promote.add_argument("--deposition", action="append", default=[], metavar="ID",
                         help="promote this deposition (repeatable); with neither option, every dataset")
    promote.add_argument("--dry-run", action="store_true", help="print what would be done; change nothing")
    promote.add_argument("--staging-https-prefix", default="", help="public URL of the staging bucket's root")
    promote.add_argument("--production-https-prefix", default="",
                         help="public URL of the production bucket's root, written to promoted rows")
    promote.add_argument("--s3-endpoint-url", default="", help="S3 endpoint, e.g. for MinIO")
    promote.add_argument("--dagster-home", type=Path, help="the Dagster instance the staging partitions were "
                                                           "ingested on (default: as for ingest)")

    validate = commands.add_parser("validate-config", help="validate ingestion configs offline")
    validate.add_argument("files", nargs="+", type=Path)

    from cryoet_assets.lib.deposit_access import DEFAULT_EXPIRY

    grant = commands.add_parser(
        "grant-deposit", help="let a data creator upload into one deposition's folder of an S3 deposit"
    )
    grant.add_argument("--deposit", required=True, help="deposit bucket: s3://bucket/prefix")
    grant.add_argument("--deposition", required=True, type=_deposition_id,
                       help="deposition id: the creator may upload into {prefix}/{deposition}/ only")
    grant.add_argument("--expires", type=_expiry, default=DEFAULT_EXPIRY,
                       help="how long the access lasts: 7d, 12h or 30m (default and longest: 7d)")
    grant.add_argument("--s3-endpoint-url", default="", help="S3 endpoint, e.g. for MinIO")

    args = parser.parse_args(argv)
    if args.command == "validate-config":
        return validate_config(args.files)
    if args.command == "grant-deposit":
        return run_grant_deposit(args, grant.error)
    if args.command == "demo":
        return run_demo(args.root, workers=args.workers)
    if args.command == "promote":
        for option in ("staging_https_prefix", "production_https_prefix"):
            value = getattr(args, option)
            if value and not value.startswith(("https://", "http://")):
                promote.error(f"--{option.replace('_', '-')} {value!r} must start with https:// or http://")
        return run_promote(args)
    https_prefix = args.staging_https_prefix
    if https_prefix and not https_prefix.startswith(("https://", "http://")):
        ingest.error(f"--staging-https-prefix {https_prefix!r} must start with https:// or http://")
    if args.staging.startswith("s3://") and not https_prefix:
        ingest.error(
            f"--staging {args.staging} is an S3 bucket: give --staging-https-prefix, the public https:// URL "
            "of its root (e.g. https://BUCKET.s3.amazonaws.com/PREFIX); the portal database stores every "
            "file's https URL"
        )
    return run_ingest(args)


def validate_config(files: list[Path]) -> int:
    """Print one line per problem (file, line, YAML path, reason; warnings marked `warning:`), then
    `<file>: valid` for each file without errors; 0 when every file is valid, else 1."""
    from cryoet_assets.lib.config.validate import format_issues, is_valid, validate_paths

    results = validate_paths(files)
    bad = 0
    for path, issues in results.items():
        for line in format_issues(issues):
            print(line)
        if not is_valid(issues):
            bad += 1
        elif issues:
            print(f"{path}: valid ({len(issues)} warning{'s' if len(issues) > 1 else ''})")
        else:
            print(f"{path}: valid")
    print(f"{len(results) - bad} valid, {bad} invalid")
    return 1 if bad else 0


def run_grant_deposit(args: argparse.Namespace, error: Callable[[str], NoReturn]) -> int:
    """Issue and record a deposit grant, then print the presigned POST, the IAM policy and upload examples.

    A bad or local `--deposit` goes to `error` (argparse's: usage, exit 2); S3 refusing the grant record
    or missing credentials print the reason and return 1, with nothing recorded.
    """
    from botocore.exceptions import BotoCoreError, ClientError

    from cryoet_assets.lib.deposit_access import DepositAccessError, grant_deposit, upload_instructions
    from cryoet_assets.lib.storage import S3Bucket, open_bucket

    try:
        deposit = open_bucket(args.deposit, endpoint_url=args.s3_endpoint_url or None)
    except ValueError as exc:
        error(f"--deposit: {exc}")
    if not isinstance(deposit, S3Bucket):
        error(f"--deposit {args.deposit!r} is a local folder: presigned uploads and IAM policies need an S3 "
              "bucket (s3://bucket/prefix)")
    try:
        issued = grant_deposit(deposit, args.deposition, args.expires)
    except DepositAccessError as exc:
        error(f"--deposit: {exc}")
    except (BotoCoreError, ClientError) as exc:
        print(f"{args.deposit}: cannot grant access to deposition {args.deposition}: {exc}", file=sys.stderr)
        return 1
    print(upload_instructions(issued))
    return 0


def _deposition_id(text: str) -> str:
    from cryoet_assets.lib.deposit_access import DepositAccessError, check_deposition_id

    try:
        return check_deposition_id(text)
    except DepositAccessError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _expiry(text: str) -> timedelta:
    from cryoet_assets.lib.deposit_access import DepositAccessError, parse_expiry

    try:
        return parse_expiry(text)
    except DepositAccessError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, not {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def run_demo(root: Path, *, workers: int | None = None) -> int:
    from cryoet_assets.lib.demo import write_demo
    from cryoet_assets.lib.storage import open_bucket
    from cryoet_assets.runner import Settings

    root = root.resolve()
    settings = Settings.embedded(root)
    deposit = open_bucket(settings.deposit_url)
    demo = write_demo(deposit=deposit, configs=open_bucket(settings.configs_url))
    print(f"Generated deposit {deposit.uri('')} and config {settings.configs_url}/{demo.config_key}")
    return _run(settings, home=root / "dagster_home", ui_dir=root, workers=workers)


def run_ingest(args: argparse.Namespace) -> int:
    from cryoet_assets.lib.config.loader import ConfigError, load_config
    from cryoet_assets.lib.config.rules import config_issues
    from cryoet_assets.lib.paths import STATE_PREFIX
    from cryoet_assets.lib.storage import LocalBucket
    from cryoet_assets.runner import Settings

    problem = _database_problem("--db", args.db) or _database_problem("--production-db", args.production_db or "")
    if problem:
        print(f"ingest: {problem}; nothing ingested", file=sys.stderr)
        return 1
    staging, db = _absolute_bucket(args.staging), _absolute_database(args.db)
    settings = Settings(
        configs_url=f"{staging.rstrip('/')}/{STATE_PREFIX}/configs",
        deposit_url=_absolute_bucket(args.deposit),
        staging_url=staging,
        production_url=_absolute_bucket(args.production or f"{staging.rstrip('/')}-production"),
        staging_db_url=db,
        production_db_url=_absolute_database(args.production_db or _beside(db)),
        s3_endpoint_url=args.s3_endpoint_url,
        staging_https_prefix=args.staging_https_prefix.rstrip("/"),
    )
    try:
        storage = settings.resources()[0]
        problem = storage.layout_problem()
        deposit = storage.deposit()
        if not problem and isinstance(deposit, LocalBucket) and not deposit.root.is_dir():
            problem = f"--deposit {args.deposit}: no folder {deposit.root}"
    except ValueError as exc:  # a URL no bucket can be opened from: an unknown scheme, an invalid S3 name
        problem = str(exc)
    if problem:
        print(f"ingest: {problem}; nothing ingested", file=sys.stderr)
        return 1
    try:
        data = args.config.read_bytes()
    except OSError as exc:
        print(f"--config {args.config}: cannot read the config: {exc.strerror}", file=sys.stderr)
        return 1
    try:
        errors = [issue for issue in config_issues(load_config(data, source=str(args.config)),
                                                   source=str(args.config)) if issue.is_error]
    except ConfigError as exc:
        errors = exc.issues
    if errors:
        print("\n".join(str(issue) for issue in errors), file=sys.stderr)
        print(f"{args.config}: not ingested, nothing was written (`cryoet-assets validate-config` checks a config "
              "alone)", file=sys.stderr)
        return 1
    home = args.dagster_home or Path(os.environ.get("DAGSTER_HOME") or Path(DEFAULT_HOME) / "dagster_home")
    return _run(settings, home=home, ui_dir=None, workers=args.workers, config=(args.config.name, data))


def run_promote(args: argparse.Namespace) -> int:
    from cryoet_assets.defs.resources import forget_connections
    from cryoet_assets.lib.paths import STATE_PREFIX
    from cryoet_assets.promote import (
        describe,
        existing_database,
        fail_abandoned_runs,
        promote,
        promotion_targets,
    )
    from cryoet_assets.runner import Settings

    staging = _absolute_bucket(args.staging)
    settings = Settings(
        # Promotion reads no config and no deposit; the resources still name a folder for each.
        configs_url=f"{staging.rstrip('/')}/{STATE_PREFIX}/configs",
        deposit_url=staging,
        staging_url=staging,
        production_url=_absolute_bucket(args.production),
        staging_db_url=_absolute_database(args.db),
        production_db_url=_absolute_database(args.production_db),
        s3_endpoint_url=args.s3_endpoint_url,
        staging_https_prefix=args.staging_https_prefix.rstrip("/"),
        production_https_prefix=args.production_https_prefix.rstrip("/"),
    )
    problem = _promotion_problem(settings)
    if problem:
        print(f"promote: {problem}; nothing promoted", file=sys.stderr)
        return 1
    home = (args.dagster_home or Path(os.environ.get("DAGSTER_HOME") or Path(DEFAULT_HOME) / "dagster_home")).resolve()
    if not (home / "dagster.yaml").exists():
        print(f"{home}: no Dagster instance here; promote reads the check results of the instance the data "
              "was ingested on (give --dagster-home)", file=sys.stderr)
        return 1
    _prepare_home(home, settings)
    storage, database = settings.resources()
    verb = "Would promote" if args.dry_run else "Promoting"
    print(f"{verb} from {storage.staging().uri('')} to {storage.production().uri('')} "
          f"(database {settings.production_db_url})")
    if args.dry_run and existing_database(settings.production_db_url) is None:
        print("  the production database has no portal tables yet: every row would be inserted")
    instance = _open_instance(home)
    if instance is None:
        return 1
    with instance:
        if not args.dry_run:
            for abandoned in fail_abandoned_runs(instance):
                partition = abandoned.tags.get("dagster/partition", "")
                print(f"  run {abandoned.run_id} ({abandoned.job_name} {partition}) of a promote command that "
                      "died is marked failed")
        targets = promotion_targets(instance, storage, datasets=args.dataset, depositions=args.deposition)
        if not targets:
            print("  nothing to promote: this instance has ingested no dataset")
        try:
            results = promote(instance, storage, database, targets, dry_run=args.dry_run,
                              on_result=lambda result: print(describe(result, dry_run=args.dry_run), flush=True))
        except KeyboardInterrupt:
            print("\ninterrupted: the promotion in progress was stopped and recorded as failed (its partition "
                  "holds no metadata document it did not hold before), no other was started; run promote "
                  "again to finish", file=sys.stderr)
            return 130
        finally:
            forget_connections()
    done = [result for result in results if result.promoted]
    refused = len(results) - len(done)
    print(f"{len(done)} partition{'s' * (len(done) != 1)} {'can be ' if args.dry_run else ''}promoted, "
          f"{refused} refused: {sum(r.copied for r in done)} objects "
          f"({sum(r.copied_bytes for r in done) / 1e6:.1f} MB) {'to copy' if args.dry_run else 'copied'}, "
          f"{sum(r.unchanged for r in done)} unchanged, {sum(r.deleted for r in done)} "
          f"{'to delete' if args.dry_run else 'deleted'}")
    return 1 if refused else 0


def _absolute_bucket(url: str) -> str:
    """`url`, a plain local path made absolute: the runs, the rows' prefixes, the UI and `promote` then name the
    same folder whatever folder they start in."""
    return url if "://" in url else str(Path(url).resolve())


def _absolute_database(url: str) -> str:
    """`url`, a SQLite file's relative path made absolute (see `_absolute_bucket`); any other URL as given."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except ArgumentError:
        return url  # said by what opens it, with the option's name
    path = _sqlite_file(parsed)
    return parsed.set(database=str(path)).render_as_string(hide_password=False) if path else url


def _sqlite_file(url) -> Path | None:
    """The absolute path of the file a parsed SQLite URL names; None for an in-memory database or another one."""
    path = url.database
    if url.get_backend_name() != "sqlite" or not path or path == ":memory:" or path.startswith("file:"):
        return None
    return Path(path).resolve()


def _beside(db_url: str) -> str:
    """The default production database of a staging one: `portal.db` -> `portal-production.db` (SQLite), else
    the database name suffixed `_production` on the same server."""
    from sqlalchemy.engine import make_url

    url = make_url(db_url)
    if not url.database:
        return db_url
    if url.get_backend_name() == "sqlite":
        path = Path(url.database)
        name = str(path.with_name(f"{path.stem}-production{path.suffix}"))
    else:
        name = f"{url.database}_production"
    return url.set(database=name).render_as_string(hide_password=False)


def _database_problem(option: str, url: str) -> str:
    """Why `url`, given as `option`, is not a database URL SQLAlchemy can open, or "" (also for no URL; nothing
    connects)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    if not url:
        return ""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return (f"{option} {url!r} is not a database URL (e.g. sqlite:///portal.db or "
                "postgresql+psycopg2://user@host/db)")
    try:
        parsed.get_dialect()
    except NoSuchModuleError:
        return (f"{option} {parsed.render_as_string(hide_password=True)}: no SQLAlchemy dialect "
                f"{parsed.drivername!r} (sqlite:///path for a file, postgresql+psycopg2:// for Postgres)")
    path = _sqlite_file(parsed)
    if path and not path.parent.is_dir():
        return f"{option} {url}: folder {path.parent} does not exist"
    return ""


def _promotion_problem(settings) -> str:
    """Why these buckets and databases cannot be promoted between, or "" (nothing is created or changed)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import SQLAlchemyError

    from cryoet_assets.defs.promotion import distinct_problem
    from cryoet_assets.promote import existing_database

    problem = (_database_problem("--db", settings.staging_db_url)
               or _database_problem("--production-db", settings.production_db_url))
    if problem:
        return problem
    try:
        problem = distinct_problem(*settings.resources())
        if problem:
            return problem
        staging = existing_database(settings.staging_db_url)
        if staging is None:
            return f"--db {settings.staging_db_url}: no portal database there (it is the one ingest loaded)"
        staging.dispose()
        if make_url(settings.production_db_url).get_backend_name() != "sqlite":
            existing = existing_database(settings.production_db_url)  # connects: a wrong URL is said now
            if existing is not None:
                existing.dispose()
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        return f"cannot open a database: {reason}"
    return ""


def _prepare_home(home: Path, settings) -> Path:
    """Make `home` a Dagster instance folder (the embedded default's dagster.yaml unless it has one) and export
    it and the settings for the definitions' resources."""
    from importlib.resources import files

    from cryoet_assets.runner import workspace_yaml

    home = home.resolve()
    home.mkdir(parents=True, exist_ok=True)
    if not (home / "dagster.yaml").exists():
        # The repository's root dagster.yaml, shipped in the package: the embedded default instance.
        (home / "dagster.yaml").write_text(files("cryoet_assets").joinpath("defaults/dagster.yaml").read_text())
    workspace = home / "workspace.yaml"
    if not workspace.exists():
        workspace.write_text(workspace_yaml())
    os.environ["DAGSTER_HOME"] = str(home)
    settings.apply()
    return home


def _open_instance(home: Path):
    """The Dagster instance in `home` ($DAGSTER_HOME), or None once its dagster.yaml's error is said (without a
    traceback)."""
    import dagster as dg

    try:
        return dg.DagsterInstance.get()
    except Exception as exc:  # noqa: BLE001 - whatever its configuration gets wrong: a module, a field, YAML
        print(f"{home / 'dagster.yaml'}: cannot open the Dagster instance: {type(exc).__name__}: "
              f"{str(exc).strip()}", file=sys.stderr)
        return None


def _is_new_home(home: Path) -> bool:
    """Whether `home` holds no instance yet: missing, or holding only its dagster.yaml, workspace.yaml and .env."""
    try:
        return all(entry.name in {"dagster.yaml", "workspace.yaml", ".env"} for entry in home.iterdir())
    except FileNotFoundError:
        return True


def _run(settings, *, home: Path, ui_dir: Path | None, workers: int | None,
         config: tuple[str, bytes] | None = None) -> int:
    """Ingest with the instance in `home`; `config` (file name, bytes), if given, is first put among the configs
    the deposit sensor reads, once the instance has opened."""
    from cryoet_assets.collection import collection_paused

    with collection_paused():
        import cryoet_assets.definitions  # noqa: F401
        from cryoet_assets.defs.resources import forget_connections
        from cryoet_assets.runner import Display, import_while_storages_are_made, ingest
        from cryoet_assets.summary import print_summary

    fresh = _is_new_home(home)
    home = _prepare_home(home, settings)
    workspace = home / "workspace.yaml"
    display = TerminalDisplay() if sys.stdout.isatty() else Display()
    try:
        if fresh:
            # The first ingest into an instance executes runs: what they import is imported now, side by side
            # with the making of the instance's storages and the database's migration.
            import_while_storages_are_made([settings.staging_db_url])
        instance = _open_instance(home)
        if instance is None:
            return 1
        with instance:
            if config is not None:
                from cryoet_assets.lib.storage import open_bucket

                name, data = config
                configs = open_bucket(settings.configs_url, endpoint_url=settings.s3_endpoint_url or None)
                configs.write_bytes(name, data)
            print(f"Dagster instance: {home}")
            report = ingest(instance, display=display, workers=workers or os.cpu_count() or 1)
            if report.runs:
                print_summary(report, settings=settings)
            else:
                print("  nothing new: every config and deposit is as this instance last ingested it (to plan a "
                      "dataset again, e.g. to retry runs that failed, rewrite its deposit's _DONE marker or edit "
                      "its config)")
            # Closing the last connections checkpoints a SQLite database's write-ahead log into its file.
            forget_connections()
    except KeyboardInterrupt:
        forget_connections()
        print("\ninterrupted: the runs in progress were stopped and recorded as failed (a run that was about to "
              "end may have ended); no other run was started. Run the same ingest again to go on: it runs the "
              "stopped runs and those not started.", file=sys.stderr)
        return 130
    # `dagster dev` loads the .env of the folder it starts in: the UI's runs then see this ingest's settings.
    ui_dir = ui_dir or home
    env_file = ui_dir / ".env"
    env_file.touch()
    env_file.chmod(0o600)  # the database URLs may hold passwords
    env_file.write_text("".join(f"{key}={value}\n" for key, value in settings.environment().items()))
    print("\nOpen the same instance in the Dagster UI (its sensors go on from where this run left them; "
          f"{ui_dir / '.env'} holds the CRYOET_* settings):")
    dagster = Path(sys.executable).parent / "dagster"
    print(f"  cd {ui_dir} && DAGSTER_HOME={home} {dagster} dev -w {workspace} -h 127.0.0.1 -p 3000")
    if not report.runs or any(run.success for run in report.runs if run.kind == "run"):
        print("\nPromote the partitions whose checks passed to production (--dry-run first to see what it would "
              "do):")
        print(f"  {Path(sys.executable).parent / 'cryoet-assets'} " + " ".join(_promote_arguments(settings, home)))
    return 0 if report.success else 1


def _promote_arguments(settings, home: Path) -> list[str]:
    """The `promote` arguments for the buckets, databases and instance of an ingest."""
    import shlex

    arguments = ["promote", "--staging", settings.staging_url, "--production", settings.production_url,
                 "--db", settings.staging_db_url, "--production-db", settings.production_db_url]
    for option, value in (("--s3-endpoint-url", settings.s3_endpoint_url),
                          ("--staging-https-prefix", settings.staging_https_prefix),
                          ("--production-https-prefix", settings.production_https_prefix)):
        if value:
            arguments += [option, value]
    return [shlex.quote(argument) for argument in [*arguments, "--dagster-home", str(home)]]


class TerminalDisplay:
    """On a terminal: each job on one line, redrawn in place with a bar for the tomogram being converted.

    Jobs running at once (`--workers`) share the line, one status each; a finished job's line stays.
    """

    BAR = 16

    def __init__(self, stream=None, *, width: int | None = None) -> None:
        import shutil
        import threading

        self._stream = stream or sys.stdout
        self._width = width or shutil.get_terminal_size().columns - 1
        self._running: dict[str, tuple[str, str]] = {}  # partition key -> (job prefix, status)
        self._lock = threading.Lock()  # progress arrives from the conversion's thread

    def started(self, job_name: str, partition_key: str) -> None:
        with self._lock:
            self._running[partition_key] = (f"  {job_name:<20} {partition_key:<20} ", "running")
            self._draw()

    def progress(self, progress, partition_key: str = "") -> None:
        filled = self.BAR * progress.done // max(progress.total, 1)
        name = progress.source.rsplit("/", 1)[-1]
        bar = "#" * filled + "." * (self.BAR - filled)
        with self._lock:
            key = partition_key or next(reversed(self._running), "")
            prefix, _ = self._running.get(key, ("  ", ""))
            self._running[key] = (prefix, f"[{bar}] {progress.done}/{progress.total} planes of {name}")
            self._draw()

    def finished(self, outcome) -> None:
        from cryoet_assets.runner import describe

        with self._lock:
            self._running.pop(outcome.partition_key, None)
            self._draw(done=describe(outcome))

    def _draw(self, done: str | None = None) -> None:
        status = " | ".join(f"{prefix}{text}" for prefix, text in self._running.values())
        if done is not None:
            self._stream.write("\r\033[K" + done[: self._width] + "\n")
            if status:
                self._stream.write(status[: self._width])
        else:
            self._stream.write("\r\033[K" + status[: self._width])
        self._stream.flush()


def console() -> NoReturn:
    """The `cryoet-assets` command: `main`, then the process ends without tearing its modules down one by one.

    Freeing the objects of dagster, great_expectations and their dependencies at interpreter exit costs 1-2 s
    of CPU after the work is done. Everything is closed by then (the instance and the databases by `main`),
    and the exit handlers still run: logs flushed, temporary folders removed.
    """
    import atexit

    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    atexit._run_exitfuncs()
    os._exit(code)


if __name__ == "__main__":
    console()
