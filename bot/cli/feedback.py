"""``newsbot report``: what the newsroom asked, what the archive could not answer, what readers
marked wrong; ``--export-helpful`` turns answers marked helpful into a regression set for ``eval``."""

from __future__ import annotations

import csv
import json
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

import click

from bot.cli.base import handle_errors, main, settings_of
from bot.errors import ArticleNotFoundError, ConfigError

if TYPE_CHECKING:
    from bot.feedback import QuestionLog, Report
    from bot.settings import Settings


@main.command()
@click.option("--since", help="Only questions from this date on (e.g. 2024-05-01 or 01.05.2024).")
@click.option("--limit", type=click.IntRange(1, 500), default=20, show_default=True, help="Entries per list.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON (the same as GET /v1/report).")
@click.option("--csv", "as_csv", is_flag=True, help="Print the report as CSV rows (section, day, front end, ...).")
@click.option(
    "--export-helpful",
    "export",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Write the answers marked helpful as SQuAD JSON to this file (for `newsbot eval FILE`).",
)
@click.pass_context
@handle_errors
def report(ctx: click.Context, since: str | None, limit: int, as_json: bool, as_csv: bool, export: Path | None) -> None:
    """What the archive could not answer: refused questions grouped by similar wording, answers
    marked wrong (with the comment and what they cited), questions answered but unsure (their
    answer said the quote may not answer them), the most asked questions and topics, answered vs
    refused per day and front end.

    \b
    Examples:
      newsbot report --since 2024-05-01
      newsbot report --csv > report.csv
      newsbot report --export-helpful helpful.json && newsbot eval helpful.json
    """
    from bot.feedback import QuestionLog

    if as_json and as_csv:
        raise ConfigError("--json and --csv exclude each other: pick one.")
    settings = settings_of(ctx)
    with QuestionLog(settings) as questions:
        if export is not None:
            _export(settings, questions, export, since)
            return
        result = questions.report(since=since, limit=limit)
    if as_json:
        click.echo(json.dumps(result.to_dict(), ensure_ascii=False))
    elif as_csv:
        _csv(result)
    else:
        _text(result)


def _export(settings: Settings, questions: QuestionLog, path: Path, since: str | None) -> None:
    from bot.qa import NewsQA

    with NewsQA(settings) as qa:

        def article_text(article_id: str) -> str | None:
            try:
                return qa.article(article_id).text
            except ArticleNotFoundError:
                return None

        squad = questions.helpful_squad(article_text, since=since)
    n = sum(len(p["qas"]) for a in squad["data"] for p in a["paragraphs"])
    if n == 0:
        raise ConfigError("No answer has been marked helpful yet (or none since --since): nothing to export.")
    try:
        path.write_text(json.dumps(squad, ensure_ascii=False, indent=1), encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"Cannot write {path}: {exc.strerror or exc}") from exc
    click.echo(f"{n} questions from {len(squad['data'])} articles written to {path}; run: newsbot eval {path}")


def _text(r: Report) -> None:
    """The report for a terminal. Questions, comments and titles are anyone's input: their control
    characters (terminal escape sequences) are shown as U+FFFD, never sent to the terminal."""
    t = r.totals
    since = f" since {r.since[:10]}" if r.since else ""
    _echo(
        f"{t.questions} questions{since}: {t.answered} answered, {t.refused} refused, {t.unsure} answered but unsure; "
        f"feedback: {t.helpful} helpful, {t.wrong} wrong."
    )
    if not r.logging:
        click.secho("Question logging is off (NEWSBOT_LOG_QUESTIONS=false): nothing new is logged.", fg="yellow")
    lists = (("Refused most often", r.refused), ("Answered but unsure", r.unsure), ("Asked most often", r.asked))
    for title, groups in lists:
        if groups:
            _echo(f"\n{title}:")
        for g in groups:
            variants = f"  (also: {'; '.join(g.variants)})" if g.variants else ""
            searched = f"  (searched as: {g.searched_as})" if g.searched_as else ""
            _echo(f"  {g.count:>4}x  {g.question}{variants}{searched}")
    if r.wrong:
        _echo("\nMarked wrong:")
    for w in r.wrong:
        comment = f" -- {w.comment}" if w.comment else ""
        _echo(f"  {w.rated_at[:16]}  {w.front_end:<8}  {w.question}{comment}")
        for c in w.citations:
            _echo(f"      [{c.article_id}] {c.title}: „{' … '.join(c.quotes)[:160]}“")
    if r.topics:
        _echo("\nTopics: " + ", ".join(f"{x.term} ({x.count})" for x in r.topics))
    if r.daily:
        _echo(f"\n{'day':<12}{'front end':<11}{'answered':>9}{'refused':>9}")
    for d in r.daily:
        _echo(f"{d.day:<12}{d.front_end:<11}{d.answered:>9}{d.refused:>9}")


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def _echo(line: str) -> None:
    click.echo(_CONTROL.sub("\ufffd", line))


class _SafeCells:
    """A CSV writer whose text cells cannot become spreadsheet formulas: questions and comments are
    anyone's input, and ``=HYPERLINK(...)`` in a cell would run once the file is opened. A cell
    starting with = + - @ tab or carriage return gets a leading ``'`` (OWASP's advice)."""

    def __init__(self, out: TextIO) -> None:
        self.writer = csv.writer(out, lineterminator="\n")

    def writerow(self, row: list[str | int]) -> None:
        self.writer.writerow([_defused(cell) if isinstance(cell, str) else cell for cell in row])


def _defused(cell: str) -> str:
    return "'" + cell if cell.startswith(("=", "+", "-", "@", "\t", "\r")) else cell


def _csv(r: Report) -> None:
    """One table for spreadsheets: a row per list entry, ``section`` says which list."""
    out = _SafeCells(sys.stdout)
    out.writerow(["section", "day", "front_end", "item", "count", "answered", "refused", "detail"])
    for section, groups in (("refused", r.refused), ("unsure", r.unsure), ("asked", r.asked)):
        for g in groups:
            out.writerow([section, g.last_asked[:10], "", g.question, g.count, "", "", " | ".join(g.variants)])
    for w in r.wrong:
        cited = " | ".join(f"{c.article_id}: {' … '.join(c.quotes)}" for c in w.citations)
        detail = " || ".join(x for x in (w.comment, cited) if x)
        out.writerow(["wrong", w.rated_at[:10], w.front_end, w.question, 1, "", "", detail])
    for x in r.topics:
        out.writerow(["topic", "", "", x.term, x.count, "", "", ""])
    for d in r.daily:
        out.writerow(["daily", d.day, d.front_end, "", d.answered + d.refused, d.answered, d.refused, ""])
