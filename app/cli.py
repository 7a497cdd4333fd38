"""The ``mammoread`` command: one group on which each domain registers its own commands
(``app.core.cli``: config, db; ``app.auth.cli``: init, user; ``app.imaging.cli``: import,
demo; ``app.export.cli``: export, import-release). Serving, running jobs and sweeping the
whole application are here."""

from __future__ import annotations

import click

from app.auth import cli as auth_cli
from app.core import cli as core_cli
from app.core.cli import Context, pass_context
from app.core.database import make_session_factory
from app.core.private import restrict_umask
from app.export import cli as export_cli
from app.imaging import cli as imaging_cli
from app.studies import cli as studies_cli


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="mammoread")
def main() -> None:
    """MammoRead: double reading, pairwise masking sort and dataset export for mammography."""
    restrict_umask()  # the data directory and everything in it are for this user only


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option(
    "--workers", type=click.IntRange(1, 64), help="Worker processes [default: MAMMOREAD_WORKERS]"
)
@pass_context
def serve(context: Context, host: str, port: int, workers: int | None) -> None:
    """Serve pages and API (uvicorn)."""
    import uvicorn

    workers = workers or context.settings.workers
    context.current_engine().dispose()
    uvicorn.run(
        "app.main:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        proxy_headers=True,
        forwarded_allow_ips=context.settings.forwarded_allow_ips,
        log_level="info",
    )


@main.command()
@click.option("--ae-title", help="AE title to answer as [default: MAMMOREAD_RECEIVE_AE_TITLE]")
@click.option("--host", help="Address to listen on [default: MAMMOREAD_RECEIVE_HOST]")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    help="Port; 0 picks a free one (printed) [default: MAMMOREAD_RECEIVE_PORT]",
)
@click.option(
    "--allow",
    "allowed",
    multiple=True,
    help="A calling AE title allowed to push (repeatable); replaces "
    "MAMMOREAD_RECEIVE_ALLOWED_AE_TITLES.",
)
@pass_context
def receive(
    context: Context,
    ae_title: str | None,
    host: str | None,
    port: int | None,
    allowed: tuple[str, ...],
) -> None:
    """Receive pushed studies: a DICOM storage SCP (C-STORE, C-ECHO) importing each image
    like an upload. Runs until SIGINT or SIGTERM."""
    from app.imaging.kit import ImagingKit
    from app.pacs import receive as receiving

    try:
        config = receiving.ReceiveConfig.from_settings(
            context.settings, ae_title=ae_title, host=host, port=port, allowed=allowed
        )
        receiving.configure_logging()
        context.settings.ensure_data_dir()
        engine = context.current_engine()
        try:
            kit = ImagingKit.from_settings(context.settings, engine)
            receiver = receiving.Receiver(config, make_session_factory(engine), kit)
            receiving.run_until_signalled(receiver, click.echo)
        finally:
            engine.dispose()
    except receiving.ReceiveConfigError as error:  # refused to start: say why, no traceback
        raise click.ClickException(str(error)) from None


@main.command()
@click.option(
    "--concurrency",
    type=click.IntRange(1, 64),
    default=1,
    show_default=True,
    help="Jobs this worker runs at once (each in a thread; start one worker per core).",
)
@pass_context
def worker(context: Context, concurrency: int) -> None:
    """Run jobs (imports, exports) from the job queue until SIGINT or SIGTERM; a job running then is
    finished first. Needs PostgreSQL: on SQLite the server runs its jobs itself."""
    import asyncio

    from app.imaging.kit import ImagingKit
    from app.jobs.postgres import ProcrastinateQueue
    from app.workers import workers_for

    engine = context.current_engine()
    if engine.dialect.name != "postgresql":
        raise click.ClickException(
            "mammoread worker needs PostgreSQL (MAMMOREAD_DATABASE_URL); "
            "with SQLite the server runs its jobs itself."
        )
    context.settings.ensure_data_dir()
    try:
        kit = ImagingKit.from_settings(context.settings, engine)
        workers = workers_for(context.settings, make_session_factory(engine), kit)
        assert isinstance(workers.queue, ProcrastinateQueue)
        click.echo(f"worker {workers.queue.worker_name}: running jobs, {concurrency} at once")
        asyncio.run(workers.queue.work(concurrency))
        workers.exports.stop()
    finally:
        engine.dispose()
    click.echo("worker stopped")


@main.command("sweep")
@click.option("--dry-run", is_flag=True, help="Only list what would be ended and removed.")
@pass_context
def sweep_command(context: Context, dry_run: bool) -> None:
    """End the work of processes that stopped (export jobs, import batches) and remove the
    files nothing references (drafts, images without a row, exports of failed jobs). Also
    done at every server start-up."""
    from app import sweep
    from app.imaging.kit import store_from_settings

    store = store_from_settings(context.settings)
    with context.db() as session:
        factory = make_session_factory(session.get_bind())
        report = sweep.sweep(factory, context.settings.data_dir, dry_run=dry_run, store=store)
    verb = "would" if dry_run else "did"
    for job_id in report.failed_jobs:
        click.echo(f"export job {job_id}: {verb} fail (its server stopped)")
    for batch_id in report.finished_batches:
        click.echo(f"import batch {batch_id}: {verb} finish (its server stopped)")
    for path in report.removed:
        click.echo(f"{'would remove' if dry_run else 'removed'} {path}")
    click.echo(("Dry run: " if dry_run else "") + report.summary(dry_run))


for domain in (core_cli, auth_cli, imaging_cli, export_cli, studies_cli):
    domain.register(main)

if __name__ == "__main__":
    main()
