"""Asking: ``ask`` (one question), ``repl`` (a conversation) and ``eval`` (SQuAD-style metrics)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from bot.cli.base import handle_errors, main, settings_of


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
    from bot.feedback import QuestionLog
    from bot.qa import NewsQA
    from bot.render import answer_text

    settings = settings_of(ctx)
    with NewsQA(settings) as qa:
        answer = qa.ask(question, since=since, until=until, sources=list(sources) or None)
    with QuestionLog(settings) as questions:
        questions.record(answer, front_end="cli")  # a failure is a warning; the answer is printed anyway
    if as_json:
        click.echo(json.dumps(answer.to_dict(debug=debug), ensure_ascii=False))
    else:
        click.echo(answer_text(answer, debug=debug))


@main.command()
@click.pass_context
@handle_errors
def repl(ctx: click.Context) -> None:
    """Ask questions interactively (line editing, history, follow-ups; :help inside)."""
    from bot.feedback import QuestionLog
    from bot.qa import NewsQA
    from bot.repl import Repl

    settings = settings_of(ctx)
    with NewsQA(settings) as qa, QuestionLog(settings) as questions:
        if qa.overview().articles == 0:
            click.secho("The index is empty: run `newsbot ingest corpus/` first.", fg="yellow", err=True)
        interactive = sys.stdin.isatty()
        qa.warm_up()
        Repl(qa, write=click.echo, history_file=Path(settings.data_dir) / "repl_history", questions=questions).run(
            None if interactive else sys.stdin
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

    settings = settings_of(ctx)
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
