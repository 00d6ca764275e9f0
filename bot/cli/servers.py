"""Servers: ``telegram`` (the bot) and ``serve`` (HTTP API and widget, optionally with the bot)."""

from __future__ import annotations

import logging
from pathlib import Path

import click

from bot.cli.base import handle_errors, main, settings_of
from bot.errors import ConfigError
from bot.extras import require


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
    require("telegram")
    from bot import telegram

    settings = settings_of(ctx)
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
    "--watch", is_flag=True, help="Follow the sources of NEWSBOT_SOURCES_FILE (newsbot watch) in the same process."
)
@click.option(
    "--forwarded-allow-ips",
    default="127.0.0.1",
    show_default=True,
    help="Proxies whose X-Forwarded-* headers are trusted (comma-separated, or '*').",
)
@click.pass_context
@handle_errors
def serve(ctx: click.Context, host: str, port: int, with_telegram: bool, watch: bool, forwarded_allow_ips: str) -> None:
    """Run the intranet HTTP API and the chat widget (Ctrl-C stops it).

    \b
    Needs NEWSBOT_API_KEYS (and NEWSBOT_ADMIN_KEYS to push articles); pages that embed
    the widget need their origin in NEWSBOT_CORS_ORIGINS. API docs: http://HOST:PORT/docs
    Widget: <script src="http://HOST:PORT/widget.js" data-api-key="KEY" data-lang="de"></script>
    """
    require("http")
    if with_telegram:
        require("telegram")
    import uvicorn

    from bot import http as api

    settings = settings_of(ctx)
    if with_telegram:  # the bot itself starts inside the app's lifespan: check its settings now
        from bot import telegram

        telegram.check_settings(settings)
    if watch:  # a bad sources.yaml stops the start, not the first poll
        from bot.sources import load_sources

        load_sources(settings.sources_file)
    app = api.create_app(settings, telegram=with_telegram, watch=watch)  # refuses unsafe API settings
    if not settings.log_questions:  # -v's access log would write /v1/search?q=<question> down
        logging.getLogger("uvicorn.access").addFilter(QueryOutOfAccessLog())
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


class QueryOutOfAccessLog(logging.Filter):
    """Keeps query strings out of uvicorn's access log (``serve -v``): with
    ``NEWSBOT_LOG_QUESTIONS=false`` a question in ``/v1/search?q=...`` must not be written down
    there either. The path stays; the query becomes ``?…``."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str) and "?" in args[2]:
            record.args = (*args[:2], args[2].split("?", 1)[0] + "?…", *args[3:])
        return True
