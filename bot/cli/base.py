"""The ``newsbot`` command group, its settings and logging, and the error handling every command shares.

Readable text for people, ``--json`` for tools; domain errors become one clear
line on stderr and an exit code, never a traceback (``-v`` shows one for bugs).
The commands live beside this module: ``admin`` (ingest, remove, reindex, stats,
check), ``asking`` (ask, repl, eval) and ``servers`` (telegram, serve).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn, ParamSpec, TypeVar

import click
from pydantic import ValidationError

from bot.errors import NewsbotError, storage_error
from bot.settings import Settings

logger = logging.getLogger("newsbot")
EXIT_BUG = 70  # EX_SOFTWARE: something newsbot did not expect
EXIT_PIPE = 141  # 128 + SIGPIPE: what a shell reports for a tool whose reader went away
P = ParamSpec("P")
T = TypeVar("T")


def settings_of(ctx: click.Context) -> Settings:
    return ctx.obj["settings"]


def handle_errors(command: Callable[P, T]) -> Callable[P, T]:
    """Translate exceptions at the edge: domain errors to a message, bugs to a short notice."""

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            try:
                return command(*args, **kwargs)
            finally:
                sys.stdout.flush()  # a closed pipe shows here, not as noise at exit
        except BrokenPipeError:
            _leave_quietly()
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


def yield_cpu(settings: Settings) -> None:
    """A bulk writer (ingest, reindex, watch) runs at ``NEWSBOT_INGEST_NICE``: beside a server on
    the same machine, questions keep their latency while the writer takes the CPU they leave.
    Called before the embedding model starts its threads, which inherit it."""
    if settings.ingest_nice and hasattr(os, "setpriority"):
        with contextlib.suppress(OSError):  # not allowed (a container's policy): run as is
            if os.getpriority(os.PRIO_PROCESS, 0) < settings.ingest_nice:  # never raises it back
                os.setpriority(os.PRIO_PROCESS, 0, settings.ingest_nice)


def _leave_quietly() -> NoReturn:
    """``newsbot ask ... | head``: the reader of our output left. Exit as Unix tools do, without a
    message, and keep Python from failing again when it flushes stdout at exit."""
    with contextlib.suppress(OSError, ValueError):  # not a real file (tests, embedding): nothing to flush
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    sys.exit(EXIT_PIPE)


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
