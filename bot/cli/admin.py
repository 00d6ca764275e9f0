"""Admin commands: ``ingest``, ``remove``, ``reindex``, ``stats`` and ``check`` (through ``NewsAdmin``)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from bot.cli.base import handle_errors, main, settings_of, yield_cpu
from bot.errors import ConfigError

if TYPE_CHECKING:
    from bot.admin import IngestReport


@main.command()
@click.argument("paths", nargs=-1, required=True)
@click.option(
    "--sync", is_flag=True, help="For directory arguments: also remove indexed articles whose files are gone."
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option(
    "--progress/--no-progress", default=None, help="Show a progress bar [default: when stderr is a terminal]."
)
@click.option("--restore", is_flag=True, help="Also add back articles that were taken down (newsbot remove, 404/410).")
@click.pass_context
@handle_errors
def ingest(
    ctx: click.Context, paths: tuple[str, ...], sync: bool, as_json: bool, progress: bool | None, restore: bool
) -> None:
    """Add or update articles from PATHS: files, directories, feed URLs, or - for JSONL on stdin.

    \b
    Formats: .txt (title, "Stand: DD.MM.YYYY HH:MM Uhr", text), .md with YAML front matter,
    .html pages, .json / .jsonl records, .csv (with a header, or 10kGNAD's label;'text'),
    RSS/Atom feeds (.xml/.rss/.atom files or http(s) URLs; a feed URL's teaser items are
    read from their pages, as newsbot watch reads them). Unchanged articles are skipped,
    changed ones replaced. Articles taken down (remove, a page's 404/410) stay down unless
    --restore; a feed's teaser never replaces an article's full text. Exit code 1 when any
    item failed; the rest is ingested anyway.
    """
    from bot.admin import NewsAdmin

    if sync and not any(Path(p).is_dir() for p in paths):
        raise ConfigError("--sync needs at least one directory argument.")
    show = sys.stderr.isatty() if progress is None else progress
    yield_cpu(settings_of(ctx))
    with NewsAdmin.open(settings_of(ctx)) as admin:
        report = admin.ingest_paths(paths, sync=sync, progress=show, stdin=sys.stdin, restore=restore)
    _print_report(report, as_json)
    sys.exit(1 if report.failed else 0)


@main.command()
@click.argument("ids", nargs=-1, required=True)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.pass_context
@handle_errors
def remove(ctx: click.Context, ids: tuple[str, ...], as_json: bool) -> None:
    """Take articles down by id: delete them from every store (catalog, keyword index, vectors)
    and keep them down: a later ingest of the same id or URL does not add them again."""
    from bot.admin import NewsAdmin

    with NewsAdmin.open(settings_of(ctx)) as admin:
        report = admin.remove(ids)
    _print_report(report, as_json)
    sys.exit(1 if report.failed else 0)


@main.command()
@click.argument("ids", nargs=-1, required=True)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.pass_context
@handle_errors
def restore(ctx: click.Context, ids: tuple[str, ...], as_json: bool) -> None:
    """Lift the take-down of articles by id (or URL): the next ingest or poll adds them again."""
    from bot.admin import NewsAdmin

    with NewsAdmin.open(settings_of(ctx)) as admin:
        report = admin.restore(ids)
    _print_report(report, as_json)
    sys.exit(1 if report.failed else 0)


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.option("--progress/--no-progress", default=None, help="Show a progress bar.")
@click.pass_context
@handle_errors
def reindex(ctx: click.Context, as_json: bool, progress: bool | None) -> None:
    """Re-embed every sentence with the configured embedder (after changing NEWSBOT_EMBEDDER).

    The old vectors stay in use until the new ones are complete.
    """
    from bot.admin import NewsAdmin

    show = sys.stderr.isatty() if progress is None else progress
    yield_cpu(settings_of(ctx))
    with NewsAdmin.open(settings_of(ctx), check_embedder=False) as admin:
        result = admin.reindex(progress=show)
    if as_json:
        click.echo(json.dumps(result.to_dict()))
    else:
        click.echo(f"Re-embedded {result.sentences} sentences with {result.embedder} in {result.seconds:.1f} s.")


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print the statistics as JSON.")
@click.pass_context
@handle_errors
def stats(ctx: click.Context, as_json: bool) -> None:
    """What the index holds: articles, sentences, passages, sources, dates, embedder, size."""
    from bot.admin import NewsAdmin

    with NewsAdmin.open(settings_of(ctx), write=False, check_embedder=False) as admin:
        stats = admin.stats()
    if as_json:
        click.echo(json.dumps(stats.to_dict(), ensure_ascii=False))
        return
    click.echo(f"Articles:   {stats.articles} (+{stats.duplicates} duplicates not indexed twice)")
    click.echo(f"Sentences:  {stats.sentences} in {stats.passages} passages")
    click.echo(f"Dates:      {_day(stats.oldest)} to {_day(stats.newest)}")
    click.echo(f"Taken down: {stats.taken_down} (kept out of every ingest; newsbot restore ID)")
    sources = ", ".join(f"{s.source or '(no source)'} ({s.articles})" for s in stats.sources[:8])
    click.echo(f"Sources:    {sources or '-'}")
    click.echo(f"Embedder:   {stats.embedder}" + (f", {stats.dim} dimensions" if stats.dim else ""))
    click.echo(f"Vectors:    {stats.vector_store}")
    click.echo(f"Data:       {stats.data_dir} ({stats.data_bytes / 1e6:.1f} MB)")


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_context
@handle_errors
def check(ctx: click.Context, as_json: bool) -> None:
    """Repair what an interrupted write left, then verify that catalog, keyword index and vectors agree."""
    from bot.admin import NewsAdmin

    with NewsAdmin.open(settings_of(ctx)) as admin:
        result = admin.check()
    if as_json:
        click.echo(json.dumps(result.to_dict()))
    else:
        state = "consistent" if result.ok else "INCONSISTENT"
        click.echo(
            f"Index is {state}: {result.sentences} sentences, {result.missing_vectors} "
            f"missing vectors, {result.orphan_vectors} orphan vectors, "
            f"{result.vectors_not_in_catalog} without the catalog's copy of their vector."
        )
        if result.missing_vectors or result.vectors_not_in_catalog:
            click.echo("Rebuild the missing vectors from the catalog with: newsbot reindex")
    sys.exit(0 if result.ok else 1)


def _print_report(report: IngestReport, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(report.to_dict(), ensure_ascii=False))
        return
    for problem in report.warnings:
        click.secho(f"warning: {problem['path']}: {problem['reason']}", fg="yellow", err=True)
    for problem in report.failed:
        click.secho(f"failed: {problem['path']}: {problem['reason']}", fg="red", err=True)
    parts = [f"{getattr(report, k)} {k}" for k in ("added", "updated", "unchanged", "removed", "duplicates")]
    parts += [
        f"{getattr(report, k)} {k.replace('_', ' ')}"
        for k in ("kept_down", "kept_full_text", "restored")
        if getattr(report, k)
    ]
    click.echo(
        ", ".join(parts).capitalize() + f", {len(report.failed)} failed. "
        f"Embedded {report.embedded_sentences} sentences in {round(report.seconds, 3):.1f} s."
    )


def _day(iso: str | None) -> str:
    return iso[:10] if iso else "-"
