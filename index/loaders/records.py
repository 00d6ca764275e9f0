"""Many articles per file: JSON (an object or an array), JSONL and CSV (with a header row, or
10kGNAD's ``label;'text'``). The byte limit applies per record, not to the file."""

from __future__ import annotations

import csv
import io
import itertools
import json
import re
from collections.abc import Iterator, Mapping
from typing import IO, TypeVar

import ijson

from index.loaders.base import LoadResult, Problem, Reading, guard, too_big

GNAD_LINE = re.compile(r"^[\w\- ]{1,40};\S")  # 10kGNAD: label;'text' (quoted only when it must be)
SHAPE_LINES = 20  # lines that decide a CSV's shape: a file's first row alone may be the odd one
ECHO_CHARS = 80  # how much of a file's content an error message repeats
MAX_JSON_DEPTH = 500  # nesting a streamed JSON record may have (json.loads stops near 1,000)
Row = TypeVar("Row")  # a CSV row: a list of fields, or a dict by column


def _echo(text: str) -> str:
    """``text`` cut for an error message: it may be a whole article."""
    text = " ".join(text.split())
    return text if len(text) <= ECHO_CHARS else text[: ECHO_CHARS - 1] + "…"


def _gnad_shaped(lines: list[str]) -> bool:
    """10kGNAD's ``label;text`` without a header: most of the first lines look so, and the first
    is not a header row naming a ``text`` column."""
    if not lines or "text" in {f.strip().strip("'\"").casefold() for f in re.split(r"[,;\t]", lines[0])}:
        return False
    return sum(bool(GNAD_LINE.match(line)) for line in lines) > len(lines) / 2


def load_json(
    reader: Reading, text: str, origin: str, meta: Mapping[str, object] | None = None
) -> Iterator[LoadResult]:
    """A JSON object or an array of objects, each an article record."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        yield Problem(origin, f"invalid JSON: {exc}")
        return
    except RecursionError:
        yield Problem(origin, "invalid JSON: nested too deeply")
        return
    records = data if isinstance(data, list) else [data]
    for n, record in enumerate(records):
        where = origin if len(records) == 1 else f"{origin}[{n}]"
        yield guard(where, lambda record=record, where=where: reader.article_from_record(record, where))


def load_json_array(reader: Reading, stream: IO[bytes], origin: str) -> Iterator[LoadResult]:
    """A JSON array of records read from disk record by record (``ijson``): memory holds one
    record, not the whole export (``json.loads`` of a 50 MB array took 670 MB); the records before
    a syntax error are loaded and the error is reported where it stands. UTF-8, as JSON is."""
    if stream.read(3) != b"\xef\xbb\xbf":  # a UTF-8 byte order mark
        stream.seek(0)
    n, pending = 0, None  # one record is held back: an array of one names no index, as load_json

    def held() -> Iterator[LoadResult]:
        if pending is not None:
            where = origin if n == 1 and done else f"{origin}[{n - 1}]"
            yield guard(where, lambda: reader.article_from_record(pending, where))

    # ijson's event stream without prefixes (a prefix per event costs O(depth) each: quadratic
    # memory on "[[[[..."), one ObjectBuilder per record, and a depth bound like json.loads' own
    depth, builder, done = 0, None, False
    try:
        for event, value in itertools.islice(ijson.basic_parse(stream, use_float=True), 1, None):  # past "["
            if event in ("start_map", "start_array"):
                depth += 1
                if depth > MAX_JSON_DEPTH:
                    yield from held()
                    yield Problem(f"{origin}[{n}]", "invalid JSON: nested too deeply")
                    return
            elif event in ("end_map", "end_array"):
                depth -= 1
                if depth < 0:  # the array's "]"
                    break
            builder = builder or ijson.ObjectBuilder()
            builder.event(event, value)
            if depth == 0:  # a record is complete
                yield from held()
                pending, n, builder = builder.value, n + 1, None
    except (ijson.JSONError, UnicodeDecodeError) as exc:
        yield from held()
        yield Problem(f"{origin}[{n}]", f"invalid JSON: {_parse_error(exc)}")
        return
    done = True
    yield from held()


def _parse_error(exc: Exception) -> str:
    """ijson's error in one short line (yajl's message is bytes and points at the place below)."""
    message = exc.args[0] if exc.args else ""
    if isinstance(message, bytes):
        message = message.decode("utf-8", errors="replace")
    first = str(message).splitlines()[0] if message else type(exc).__name__
    if isinstance(exc, UnicodeDecodeError) or "UTF8" in first:
        return "not UTF-8 (a JSON array is read as UTF-8, as JSON is written)"
    return _echo(first)


def load_records(reader: Reading, text: str, origin: str) -> Iterator[LoadResult]:
    """A JSON object, a JSON array of objects, or JSONL (one object per line)."""
    try:
        json.loads(text)
    except RecursionError:
        pass  # load_json reports it
    except json.JSONDecodeError:
        if "\n" in text.strip():
            yield from load_jsonl_stream(reader, io.StringIO(text), origin)
            return
    yield from load_json(reader, text, origin)


def load_jsonl(
    reader: Reading, text: str, origin: str, meta: Mapping[str, object] | None = None
) -> Iterator[LoadResult]:
    yield from load_jsonl_stream(reader, io.StringIO(text), origin)


def load_jsonl_stream(reader: Reading, stream: IO[str], origin: str) -> Iterator[LoadResult]:
    """One JSON record per line; a malformed line is reported with its line number."""
    for lineno, line in enumerate(stream, 1):
        if not line.strip():
            continue
        where = f"{origin}:{lineno}"
        if too_big(line, reader.max_bytes):
            yield Problem(where, f"record larger than NEWSBOT_MAX_ARTICLE_BYTES ({reader.max_bytes} bytes)")
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            yield Problem(where, f"malformed JSON line: {exc.msg}")
            continue
        except RecursionError:
            yield Problem(where, "malformed JSON line: nested too deeply")
            continue
        yield guard(where, lambda record=record, where=where: reader.article_from_record(record, where))


def load_csv(reader: Reading, text: str, origin: str, meta: Mapping[str, object] | None = None) -> Iterator[LoadResult]:
    """CSV with a header row, or the 10kGNAD shape ``label;'text'`` without one."""
    text = text.lstrip("\ufeff")
    head = [line.rstrip("\r\n") for line in itertools.islice(io.StringIO(text), SHAPE_LINES * 4) if line.strip()]
    head = head[:SHAPE_LINES]
    first = head[0] if head else ""
    if _gnad_shaped(head):
        rows = csv.reader(io.StringIO(text), delimiter=";", quotechar="'")
        for lineno, row in _csv_rows(rows, origin):
            if isinstance(row, Problem):
                yield row
                continue
            if not row:
                continue
            where = f"{origin}:{lineno}"
            if len(row) != 2:
                yield Problem(where, f"expected label;'text', got {len(row)} fields")
                continue
            yield guard(
                where,
                lambda row=row, where=where: reader.article_from_record({"section": row[0], "text": row[1]}, where),
            )
        return
    try:
        dialect = csv.Sniffer().sniff(first, delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    table = csv.DictReader(io.StringIO(text), dialect=dialect)
    if "text" not in (table.fieldnames or []):
        columns = _echo(", ".join(table.fieldnames or []))
        yield Problem(origin, f"CSV has no 'text' column (columns: {columns})")
        return
    for line_num, fields in _csv_rows(table, origin):
        if isinstance(fields, Problem):
            yield fields
            continue
        where = f"{origin}:{line_num}"
        record: dict[str, str] = {k: v for k, v in fields.items() if k is not None and v not in (None, "")}
        yield guard(where, lambda record=record, where=where: reader.article_from_record(record, where))


def _csv_rows(reader: Iterator[Row], origin: str) -> Iterator[tuple[int, Row | Problem]]:
    """(line number, row) of a csv reader; a row the csv module rejects (a field over the size
    limit, a stray quote) becomes a ``Problem`` and reading goes on with the next line."""
    n = 0
    while True:
        n += 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield n, Problem(f"{origin}:{getattr(reader, 'line_num', n)}", f"malformed CSV row: {exc}")
            continue
        yield getattr(reader, "line_num", n), row
