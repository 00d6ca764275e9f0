"""The ``newsbot`` command line: a thin adapter over the index and, later, the answering facade.

Readable text for people, ``--json`` for tools; domain errors become one clear
line on stderr and an exit code, never a traceback (``-v`` shows one for bugs).
"""

from __future__ import annotations

import functools
import json
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from pydantic import ValidationError

from bot.errors import ConfigError, NewsbotError, storage_error
from bot.settings import Settings

logger = logging.getLogger("newsbot")
EXIT_BUG = 70  # EX_SOFTWARE: something newsbot did not expect


def _settings(ctx: click.Context) -> Settings:
    return ctx.obj["settings"]


def handle_errors(command: Callable[..., Any]) -> Callable[..., Any]:
    """Translate exceptions at the edge: domain errors to a message, bugs to a short notice."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except NewsbotError as exc:
            click.secho(f"Error: {exc}", fg="red", err=True)
            sys.exit(exc.exit_code)
        except KeyboardInterrupt:
            click.echo("Interrupted; the index stays at its last committed state.", err=True)
            sys.exit(130)
        except Exception as exc:  # the last line of defence: no traceback for users
            known = storage_error(exc)  # a full disk, a damaged catalog: say which, and what to do
            if known is not None:
                logger.debug("storage error", exc_info=True)
                click.secho(f"Error: {known}", fg="red", err=True)
                sys.exit(known.exit_code)
            logger.debug("unexpected error", exc_info=True)
            click.secho(
                f"Unexpected error ({type(exc).__name__}: {exc}). Run with -v to see the details.",
                fg="red",
                err=True,
            )
            sys.exit(EXIT_BUG)

    return wrapper


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Index directory [env NEWSBOT_DATA_DIR; default ./data].",
)
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
@click.version_option(package_name="newsbot")
@click.pass_context
def main(ctx: click.Context, data_dir: Path | None, verbose: int) -> None:
    """newsbot: ask a newsroom's articles questions and get answers with cited passages.

    \b
    Typical start:
      newsbot ingest corpus/          # index the sample articles
      newsbot repl                    # ask questions interactively
      newsbot ask "Wer hat in Belarus verhandelt?"
      newsbot stats                   # what the index holds
    Front ends:
      newsbot telegram                # the Telegram bot (NEWSBOT_TELEGRAM_*)
      newsbot serve [--telegram]      # HTTP API + chat widget (NEWSBOT_API_KEYS, ...)
    Settings come from NEWSBOT_* environment variables or a .env file (see .env.example);
    NEWSBOT_LLM_BASE_URL and NEWSBOT_LLM_MODEL turn on generative answers with verified citations.
    """
    try:
        settings = Settings(data_dir=data_dir) if data_dir else Settings()
    except ValidationError as exc:
        problems = "; ".join(f"NEWSBOT_{'_'.join(map(str, e['loc'])).upper()}: {e['msg']}" for e in exc.errors())
        raise click.UsageError(f"invalid setting: {problems}") from None
    level = (
        logging.DEBUG
        if verbose > 1
        else logging.INFO
        if verbose
        else getattr(logging, settings.log_level.upper(), logging.WARNING)
    )
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    # Bot API and other URLs can carry secrets; httpx logs every URL at INFO.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    ctx.obj = {"settings": settings, "verbose": verbose}


@main.command()
@click.argument("paths", nargs=-1, required=True)
@click.option(
    "--sync", is_flag=True, help="For directory arguments: also remove indexed articles whose files are gone."
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option(
    "--progress/--no-progress", default=None, help="Show a progress bar [default: when stderr is a terminal]."
)
@click.pass_context
@handle_errors
def ingest(ctx: click.Context, paths: tuple[str, ...], sync: bool, as_json: bool, progress: bool | None) -> None:
    """Add or update articles from PATHS: files, directories, feed URLs, or - for JSONL on stdin.

    \b
    Formats: .txt (title, "Stand: DD.MM.YYYY HH:MM Uhr", text), .md with YAML front matter,
    .html pages, .json / .jsonl records, .csv (with a header, or 10kGNAD's label;'text'),
    RSS/Atom feeds (.xml/.rss/.atom files or http(s) URLs). Unchanged articles are skipped,
    changed ones replaced. Exit code 1 when any item failed; the rest is ingested anyway.
    """
    from bot.admin import NewsAdmin

    if sync and not any(Path(p).is_dir() for p in paths):
        raise ConfigError("--sync needs at least one directory argument.")
    show = sys.stderr.isatty() if progress is None else progress
    with NewsAdmin.open(_settings(ctx)) as admin:
        report = admin.ingest_paths(paths, sync=sync, progress=show, stdin=sys.stdin)
    _print_report(report.to_dict(), as_json)
    sys.exit(1 if report.failed else 0)


@main.command()
@click.argument("ids", nargs=-1, required=True)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.pass_context
@handle_errors
def remove(ctx: click.Context, ids: tuple[str, ...], as_json: bool) -> None:
    """Delete articles by id from every store (catalog, keyword index, vectors)."""
    from bot.admin import NewsAdmin

    with NewsAdmin.open(_settings(ctx)) as admin:
        report = admin.remove(ids)
    _print_report(report.to_dict(), as_json)
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
    with NewsAdmin.open(_settings(ctx), check_embedder=False) as admin:
        result = admin.reindex(progress=show)
    if as_json:
        click.echo(json.dumps(result))
    else:
        click.echo(
            f"Re-embedded {result['sentences']} sentences with {result['embedder']} in {result['seconds']:.1f} s."
        )


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print the statistics as JSON.")
@click.pass_context
@handle_errors
def stats(ctx: click.Context, as_json: bool) -> None:
    """What the index holds: articles, sentences, passages, sources, dates, embedder, size."""
    from bot.admin import NewsAdmin

    with NewsAdmin.open(_settings(ctx), write=False, check_embedder=False) as admin:
        data = admin.stats()
    if as_json:
        click.echo(json.dumps(data, ensure_ascii=False))
        return
    click.echo(f"Articles:   {data['articles']} (+{data['duplicates']} duplicates not indexed twice)")
    click.echo(f"Sentences:  {data['sentences']} in {data['passages']} passages")
    click.echo(f"Dates:      {_day(data['oldest'])} to {_day(data['newest'])}")
    sources = ", ".join(f"{s['source'] or '(no source)'} ({s['articles']})" for s in data["sources"][:8])
    click.echo(f"Sources:    {sources or '-'}")
    click.echo(f"Embedder:   {data['embedder']}" + (f", {data['dim']} dimensions" if data["dim"] else ""))
    click.echo(f"Vectors:    {data['vector_store']}")
    click.echo(f"Data:       {data['data_dir']} ({data['data_bytes'] / 1e6:.1f} MB)")


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_context
@handle_errors
def check(ctx: click.Context, as_json: bool) -> None:
    """Repair what an interrupted write left, then verify that catalog, keyword index and vectors agree."""
    from bot.admin import NewsAdmin

    with NewsAdmin.open(_settings(ctx)) as admin:
        result = admin.check()
    if as_json:
        click.echo(json.dumps(result))
    else:
        state = "consistent" if result["ok"] else "INCONSISTENT"
        click.echo(
            f"Index is {state}: {result['sentences']} sentences, {result['missing_vectors']} "
            f"missing vectors, {result['orphan_vectors']} orphan vectors."
        )
        if result["missing_vectors"]:
            click.echo("Rebuild the missing vectors from the catalog with: newsbot reindex")
    sys.exit(0 if result["ok"] else 1)


@main.command()
@click.argument("question")
@click.option("--json", "as_json", is_flag=True, help="Print the answer as JSON (a stable contract).")
@click.option("--since", help="Only articles from this date on (e.g. 07.03.2022 or 2022-03-07).")
@click.option("--until", help="Only articles up to and including this date.")
@click.option("--source", "sources", multiple=True, help="Only articles from this source (repeatable).")
@click.option("--debug", is_flag=True, help="Show the rewritten query, date filter, scores and timings.")
@click.pass_context
@handle_errors
def ask(
    ctx: click.Context,
    question: str,
    as_json: bool,
    since: str | None,
    until: str | None,
    sources: tuple[str, ...],
    debug: bool,
) -> None:
    """Answer QUESTION with verbatim quotes from the articles, or say that nothing was found.

    \b
    Examples:
      newsbot ask "Wer hat in Belarus verhandelt?"
      newsbot ask "Who negotiated in Belarus?" --json
      newsbot ask "Was geschah gestern?" --since 2022-03-01
    """
    from bot.qa import NewsQA
    from bot.render import answer_text

    with NewsQA(_settings(ctx)) as qa:
        answer = qa.ask(question, since=since, until=until, sources=list(sources) or None)
    if as_json:
        click.echo(json.dumps(answer.to_dict(debug=debug), ensure_ascii=False))
    else:
        click.echo(answer_text(answer, debug=debug))


@main.command()
@click.pass_context
@handle_errors
def repl(ctx: click.Context) -> None:
    """Ask questions interactively (line editing, history, follow-ups; :help inside)."""
    from bot.qa import NewsQA
    from bot.repl import Repl

    settings = _settings(ctx)
    with NewsQA(settings) as qa:
        if qa.overview()["articles"] == 0:
            click.secho("The index is empty: run `newsbot ingest corpus/` first.", fg="yellow", err=True)
        interactive = sys.stdin.isatty()
        qa.warm_up()
        Repl(qa, write=click.echo, history_file=Path(settings.data_dir) / "repl_history").run(
            None if interactive else sys.stdin
        )


@main.command()
@click.option("--webhook", metavar="URL", help="Receive updates at this public https URL instead of long polling.")
@click.option(
    "--listen",
    default="127.0.0.1",
    show_default=True,
    help="Webhook mode: address to listen on (behind a reverse proxy, keep 127.0.0.1).",
)
@click.option(
    "--port", type=click.IntRange(1, 65535), default=8443, show_default=True, help="Webhook mode: port to listen on."
)
@click.option(
    "--persist",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Keep chat histories and filters in this file across restarts.",
)
@click.pass_context
@handle_errors
def telegram(ctx: click.Context, webhook: str | None, listen: str, port: int, persist: Path | None) -> None:
    """Run the Telegram bot (Ctrl-C stops it).

    \b
    Needs NEWSBOT_TELEGRAM_TOKEN (from @BotFather) and who may ask:
    NEWSBOT_TELEGRAM_ALLOWED_USERS / NEWSBOT_TELEGRAM_ALLOWED_CHATS (comma-separated ids),
    or NEWSBOT_TELEGRAM_ALLOW_ALL=true. In groups the bot answers when mentioned or replied to.
    """
    from bot import telegram

    settings = _settings(ctx)
    if webhook is not None and not webhook.startswith(("https://", "http://")):
        raise ConfigError(f"--webhook needs a URL (https://...), not '{webhook}'.")
    if ctx.obj["verbose"] == 0:
        logging.getLogger("bot.telegram").setLevel(logging.INFO)  # who was refused, errors
    telegram.run(settings, webhook=webhook, listen=listen, port=port, persist=persist)


@main.command()
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on (behind a reverse proxy keep 127.0.0.1).",
)
@click.option("--port", type=click.IntRange(1, 65535), default=8080, show_default=True, help="Port to listen on.")
@click.option(
    "--telegram", "with_telegram", is_flag=True, help="Run the Telegram bot (long polling) in the same process."
)
@click.option(
    "--forwarded-allow-ips",
    default="127.0.0.1",
    show_default=True,
    help="Proxies whose X-Forwarded-* headers are trusted (comma-separated, or '*').",
)
@click.pass_context
@handle_errors
def serve(ctx: click.Context, host: str, port: int, with_telegram: bool, forwarded_allow_ips: str) -> None:
    """Run the intranet HTTP API and the chat widget (Ctrl-C stops it).

    \b
    Needs NEWSBOT_API_KEYS (and NEWSBOT_ADMIN_KEYS to push articles); pages that embed
    the widget need their origin in NEWSBOT_CORS_ORIGINS. API docs: http://HOST:PORT/docs
    Widget: <script src="http://HOST:PORT/widget.js" data-api-key="KEY" data-lang="de"></script>
    """
    import uvicorn

    from bot import http as api

    settings = _settings(ctx)
    if with_telegram:  # the bot itself starts inside the app's lifespan: check its settings now
        from bot import telegram

        telegram.check_settings(settings)
    app = api.create_app(settings, telegram=with_telegram)  # refuses unsafe API settings
    click.echo(f"newsbot API on http://{host}:{port} (docs: /docs, widget: /widget.js); Ctrl-C stops it.", err=True)
    uvicorn.run(
        app,
        host=host,
        port=port,
        proxy_headers=True,
        forwarded_allow_ips=forwarded_allow_ips,
        log_level="info" if ctx.obj["verbose"] else "warning",
        access_log=bool(ctx.obj["verbose"]),
    )


@main.command(name="eval")
@click.argument("squad_json", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--questions",
    "questions_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Ask the questions from this file instead (same ids, another language).",
)
@click.option(
    "--holdout",
    type=click.FloatRange(0, 0.5),
    default=0.0,
    show_default=True,
    help="Leave this share of paragraphs out of the index; their questions should be refused.",
)
@click.option("--limit", type=int, default=None, help="Only the first N questions.")
@click.option("--json", "as_json", is_flag=True, help="Print the metrics as JSON.")
@click.pass_context
@handle_errors
def evaluate(
    ctx: click.Context, squad_json: Path, questions_path: Path | None, holdout: float, limit: int | None, as_json: bool
) -> None:
    """Measure retrieval and answers on a SQuAD-format file (XQuAD, or SQuAD 2.0 like bench/news/).

    The paragraphs are indexed as articles in a temporary data dir unless --data-dir is given.
    Questions marked is_impossible (SQuAD 2.0), and those of --holdout paragraphs, should be
    refused: refused_unanswerable says how many were.
    """
    import tempfile

    from bot import evaluate as ev

    settings = _settings(ctx)
    show = sys.stderr.isatty()
    with tempfile.TemporaryDirectory(prefix="newsbot-eval-") as tmp:
        if ctx.parent is None or ctx.parent.params.get("data_dir") is None:
            settings = settings.model_copy(update={"data_dir": Path(tmp)})
        result = ev.run(
            settings, squad_json, questions_path=questions_path, holdout=holdout, limit=limit, progress=show
        )
    if as_json:
        click.echo(json.dumps(result))
        return
    for key, value in result.items():
        click.echo(f"{key:<22} {value}")


def _print_report(report: dict[str, Any], as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(report, ensure_ascii=False))
        return
    for problem in report["warnings"]:
        click.secho(f"warning: {problem['path']}: {problem['reason']}", fg="yellow", err=True)
    for problem in report["failed"]:
        click.secho(f"failed: {problem['path']}: {problem['reason']}", fg="red", err=True)
    parts = [f"{report[k]} {k}" for k in ("added", "updated", "unchanged", "removed", "duplicates")]
    click.echo(
        ", ".join(parts).capitalize() + f", {len(report['failed'])} failed. "
        f"Embedded {report['embedded_sentences']} sentences in {report['seconds']:.1f} s."
    )


def _day(iso: str | None) -> str:
    return iso[:10] if iso else "-"


if __name__ == "__main__":
    main()
