"""Following sources: ``sources`` (what sources.yaml lists, and how each is doing) and ``watch``."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import click

from bot.cli.base import handle_errors, main, settings_of, yield_cpu

if TYPE_CHECKING:
    from bot.sources import PollResult, Watcher
    from bot.sources.scheduler import SourceStatus


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print the sources and their state as JSON.")
@click.pass_context
@handle_errors
def sources(ctx: click.Context, as_json: bool) -> None:
    """List the sources of NEWSBOT_SOURCES_FILE (sources.yaml) with their state.

    \b
    Per source: kind, interval, last poll, last change, items, consecutive failures, next poll
    and the last error. A bad sources.yaml is reported by source and field (exit code 2).
    """
    from bot.sources import FAILING_AFTER, StateStore, load_sources
    from bot.sources.state import STATE_FILE, SourceState

    settings = settings_of(ctx)
    listed = load_sources(settings.sources_file)
    states = {s.name: SourceState(s.name) for s in listed}
    if (settings.data_dir / STATE_FILE).exists():  # nothing watched yet: no data dir is made for it
        store = StateStore(settings.data_dir)
        try:
            states = {s.name: store.load(s.name) for s in listed}
        finally:
            store.close()
    rows: list[SourceStatus] = [
        {"name": s.name, "kind": s.kind, "interval": s.interval, **states[s.name].summary()} for s in listed
    ]
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False))
        return
    if not rows:
        click.echo(f"{settings.sources_file} lists no sources.")
        return
    click.echo(
        f"{'source':<20} {'kind':<8} {'every':>6}  {'last poll':<17} {'last change':<17} {'items':>6} "
        f"{'fails':>5}  next poll"
    )
    for row in rows:
        click.secho(
            f"{row['name']:<20} {row['kind']:<8} {_every(row['interval']):>6}  {_when(row['last_poll']):<17} "
            f"{_when(row['last_change']):<17} {row['items']:>6} {row['failures']:>5}  {_when(row['next_poll'])}",
            fg="red" if row["failures"] >= FAILING_AFTER else None,
        )
        if row["last_error"] and row["failures"]:
            click.echo(f"  last error: {row['last_error']}")


@main.command()
@click.option("--once", is_flag=True, help="Poll every source once, print what changed and exit.")
@click.option("--json", "as_json", is_flag=True, help="With --once: print the poll results as JSON.")
@click.pass_context
@handle_errors
def watch(ctx: click.Context, once: bool, as_json: bool) -> None:
    """Follow the feeds, sitemaps and folders of sources.yaml and keep the index current (Ctrl-C stops).

    \b
    New and changed articles are ingested within a poll interval, pages that answer 404/410
    (and, with on_missing: remove, pages a sitemap drops) leave the index, deleted files take
    their articles along. State survives restarts (sources.sqlite3 in the data dir). Writes take
    the index's lock one at a time, so `newsbot ingest` and the API can write beside it.
    To answer and watch in one process: newsbot serve --watch.
    """
    from bot.admin import NewsAdmin
    from bot.sources import Watcher, load_sources

    settings = settings_of(ctx)
    listed = load_sources(settings.sources_file)
    yield_cpu(settings)
    if ctx.obj["verbose"] == 0:
        logging.getLogger("bot.sources").setLevel(logging.INFO)  # what each poll changed
    with NewsAdmin.open(settings, write=False) as admin:
        watcher = Watcher.build(settings, admin, listed, sources_file=settings.sources_file)
        try:
            if once:
                results = watcher.run_once(every=True)
                if as_json:
                    click.echo(json.dumps([r.to_dict() for r in results], ensure_ascii=False))
                else:
                    for r in results:
                        click.echo(_result_line(r))
                sys.exit(0 if all(r.ok for r in results) else 1)
            click.echo(
                f"Watching {len(listed)} sources from {settings.sources_file}; Ctrl-C stops.",
                err=True,
            )
            asyncio.run(_watch(watcher))
        finally:
            watcher.close()
    click.echo("Stopped; every poll that finished is saved.", err=True)


async def _watch(watcher: Watcher) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):  # not the main thread, or no signals here
            loop.add_signal_handler(signum, stop.set)
    await watcher.run(stop)


def _result_line(r: PollResult) -> str:
    if not r.ok:
        return f"{r.source}: failed: {r.error}"
    state = " (not modified)" if r.not_modified else ""
    return (
        f"{r.source}: {r.added} added, {r.updated} updated, {r.unchanged} unchanged, "
        f"{r.removed} removed, {len(r.failed)} failed{state}"
    )


def _when(iso: str | None) -> str:
    if not iso:
        return "-"
    return datetime.fromisoformat(iso).astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def _every(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:g}{unit}"
    return f"{seconds:g}s"
