"""Dates in questions: "gestern", "am 7. März", "letzte Woche", "seit Montag", "yesterday",
"in March 2022" and the like, resolved against an injectable ``now`` into a date filter. In a
question in another language, a calendar day ("el 7 de marzo de 2022", "le 7 mars", "7 марта")
and "yesterday" ("ayer", "hier", "вчера") are read through dateparser (``_other_language``).

All ranges are half-open ``[since, until)`` in the newsroom's time zone.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from bot.errors import InvalidInputError
from index.dates import parse_datetime

MONTHS = {
    "januar": 1,
    "jänner": 1,
    "jan": 1,
    "january": 1,
    "februar": 2,
    "feb": 2,
    "february": 2,
    "märz": 3,
    "maerz": 3,
    "mär": 3,
    "march": 3,
    "mar": 3,
    "april": 4,
    "apr": 4,
    "mai": 5,
    "may": 5,
    "juni": 6,
    "jun": 6,
    "june": 6,
    "juli": 7,
    "jul": 7,
    "july": 7,
    "august": 8,
    "aug": 8,
    "september": 9,
    "sep": 9,
    "sept": 9,
    "oktober": 10,
    "okt": 10,
    "october": 10,
    "oct": 10,
    "november": 11,
    "nov": 11,
    "dezember": 12,
    "dez": 12,
    "december": 12,
    "dec": 12,
}
WEEKDAYS = {
    "montag": 0,
    "monday": 0,
    "dienstag": 1,
    "tuesday": 1,
    "mittwoch": 2,
    "wednesday": 2,
    "donnerstag": 3,
    "thursday": 3,
    "freitag": 4,
    "friday": 4,
    "samstag": 5,
    "sonnabend": 5,
    "saturday": 5,
    "sonntag": 6,
    "sunday": 6,
}
_MONTH_NAMES = "|".join(sorted(MONTHS, key=len, reverse=True))
_MONTH = rf"(?P<b>{_MONTH_NAMES})\.?"
_WEEKDAY = "(?P<w>" + "|".join(WEEKDAYS) + ")"
_YEAR = r"(?P<y>(?:19|20)\d{2})"
# An optional "since"/"until" word in front turns a day or period into an open range.
_PRE = (
    r"(?:(?P<since>\b(?:seit|since|ab|from|nach|after)\s+(?:dem\s+|the\s+|letztem\s+|last\s+)?)"
    r"|(?P<until>\b(?:bis|until|till|before)\s+(?:zum\s+|dem\s+|the\s+)?))?"
)
RECENCY_RE = re.compile(
    r"\b(aktuell\w*|neueste\w*|neuesten|jüngste\w*|zuletzt|latest|newest|recent\w*|current\w*|now)\b",
    re.IGNORECASE,
)


@dataclass
class DateFilter:
    """A resolved date range for article dates, and whether newer articles should be favoured."""

    since: datetime | None = None
    until: datetime | None = None
    recency: bool = False
    phrases: list[str] = field(default_factory=list)
    # A filter guessed from the question's wording lets undated articles through; explicit
    # --since/--until bounds (``explicit``) exclude them.
    explicit: bool = False

    @property
    def include_undated(self) -> bool:
        return not self.explicit

    def __bool__(self) -> bool:
        return self.since is not None or self.until is not None

    def as_dict(self) -> dict[str, object]:
        return {
            "since": self.since.isoformat() if self.since else None,
            "until": self.until.isoformat() if self.until else None,
            "recency": self.recency,
            "phrases": self.phrases,
            "undated_included": self.include_undated,
        }


REPORT_LAG_DAYS = 7  # articles about an event on a calendar date appear up to this many days later
logger = logging.getLogger(__name__)


def resolve(question: str, now: datetime, tz: str = "Europe/Berlin", language: str | None = None) -> DateFilter:
    """Find date expressions in ``question`` and turn them into a filter relative to ``now``; in
    another language than German or English (``language``, ``bot.language``) its calendar days
    and "yesterday" too."""
    zone = ZoneInfo(tz)
    now = now.astimezone(zone) if now.tzinfo else now.replace(tzinfo=zone)
    german_or_english = language in (None, "de", "en")
    # a German or English word is no date in another language's question ("el diario Heute")
    result = _Resolver(now.date(), zone, words=german_or_english).run(question)
    if not german_or_english and not result:
        _other_language(question, language or "", now.date(), zone, result)
    return result


# A word before a date that makes it a bound ("desde el 7 de marzo", "après le 7 mars", "до 7
# марта"), in the languages a newsroom's readers ask in: such a date is left alone (no filter is
# better than a day where a range was meant). Read among the five words before its number,
# inside the phrase dateparser found or before it, apostrophes as spaces ("jusqu’au"; "entre el 1
# y el 7 de marzo" is five words back).
_BOUND_WORDS = frozenset(
    "desde hasta después tras antes partir entre depuis dès jusqu avant après dal dall fino dopo prima entro "
    "sinds vanaf tot voor na od do przed po před після з із до с со после перед по "
    "até após between since until after before "
    "cada chaque ogni elke każdego каждое каждый кожного every".split()  # (and a day of every year)
)
_BOUND_CONTEXT = 5


_PUNCTUATION = "\"'“”„«»‹›()[]{},.;:!?¿¡。，、！？؟…"
_UNSPACED = frozenset({"zh", "ja", "ko", "th"})  # "yesterday" may sit inside a longer run of letters ("昨天的")


def _other_language(question: str, language: str, today: date, zone: ZoneInfo, result: DateFilter) -> None:
    """Calendar days and "yesterday" in a question in ``language`` (dateparser's languages), into
    ``result``. A calendar day is a phrase dateparser reads as a day that holds the day's number and
    a month's name ("7 de marzo de 2022", "le 7 mars", "7 марта 2022 года"); it runs on by
    ``REPORT_LAG_DAYS`` as the German and English ones do. Weekdays, "now", months without a day and
    bare years are not read: dateparser also finds them in words that are none ("sa", "şu anda",
    "hasta ahora"), and a year names when something happened, not when it was written."""
    from dateparser.date import DateDataParser
    from dateparser.languages.loader import default_loader
    from dateparser.search import search_dates

    try:
        relative = default_loader.get_locale(language).info.get("relative-type", {})
        # (a word for both, Hindi "कल", says neither)
        yesterday = [w for w in relative.get("1 day ago", []) if w not in relative.get("in 1 day", [])]
        base = datetime.combine(today, time(12))
        settings = {"RELATIVE_BASE": base, "PREFER_DATES_FROM": "past", "RETURN_AS_TIMEZONE_AWARE": False}
        parser = DateDataParser(languages=[language], settings=settings)
        found = [
            (text, moment, parser.get_date_data(text).period)
            for text, moment in search_dates(question, languages=[language], settings=settings) or []
        ]
    except Exception as exc:  # a language or text dateparser cannot read: no filter, the question still works
        logger.debug("dateparser could not read %r (%s): %s", question, language, exc)
        return
    words = {w.strip(_PUNCTUATION).casefold() for w in question.split()}  # (a regex's \w splits Hindi words)
    for word in yesterday:
        if word.casefold() in words or (language in _UNSPACED and word in question):
            result.phrases.append(word)
            result.since, result.until = (
                datetime.combine(d, time.min, tzinfo=zone) for d in (today - timedelta(1), today)
            )
            return
    for text, moment, period in found:
        numbers = {int(n) for n in re.findall(r"(?<!\d)\d{1,2}(?!\d)", text)}
        number_at = re.search(r"\d", text)
        lead = question[: question.find(text)] + text[: number_at.start() if number_at else 0]
        before = re.split(r"[\s'’]+", lead.casefold())[-_BOUND_CONTEXT - 1 :]
        if (
            moment.day not in numbers
            or not re.search(r"[^\W\d_]{3,}", text)
            or ":" in text
            or not 1900 <= moment.year <= today.year + 1
            or _BOUND_WORDS.intersection(before)
            or period != "day"
        ):
            continue
        day = moment.date()
        result.phrases.append(text.strip())
        result.since = _later(result.since, datetime.combine(day, time.min, tzinfo=zone))
        end = day + timedelta(days=1 + REPORT_LAG_DAYS)
        result.until = _earlier(result.until, datetime.combine(end, time.min, tzinfo=zone))
        return


class _Resolver:
    """One resolution: rules in order of specificity; a span matched once is not read again.

    A bare year ("2014", "im Jahr 1990") is deliberately not a filter: in a question it
    usually names when the event happened, not when the article was written.
    """

    def __init__(self, today: date, zone: ZoneInfo, *, words: bool = True) -> None:
        self.today = today
        self.zone = zone
        today_ = today  # the lambdas below close over it
        calendar: list[tuple[str, Callable[[re.Match[str]], tuple[date, date] | None]]] = [
            (
                rf"{_PRE}\b(?:am\s+|on\s+|vom\s+)?(?P<a>\d{{1,2}})\.?\s+{_MONTH}(?:\s+{_YEAR})?\b",
                lambda m: self._day(m.group("a"), m.group("b"), m.group("y")),
            ),
            (
                rf"{_PRE}\b(?:on\s+)?{_MONTH}\s+(?P<a>\d{{1,2}})(?:st|nd|rd|th)?(?:,?\s+{_YEAR})?\b",
                lambda m: self._day(m.group("a"), m.group("b"), m.group("y")),
            ),
            (
                rf"{_PRE}\b(?P<a>\d{{1,2}})\.(?P<b>\d{{1,2}})\.(?P<y>(?:19|20)?\d{{2}})?(?!\d)",
                lambda m: self._day(m.group("a"), m.group("b"), m.group("y")),
            ),
            (
                rf"{_PRE}\b(?:im\s+|in\s+)?{_MONTH}\s+{_YEAR}\b",
                lambda m: _month_range(int(m.group("y")), _month_no(m.group("b"))),
            ),
            (
                rf"{_PRE}\b(?:im|in)\s+{_MONTH}(?!\s*\d)\b",
                lambda m: _month_range(self._year_for(_month_no(m.group("b")), 1), _month_no(m.group("b"))),
            ),
        ]
        relative: list[tuple[str, Callable[[re.Match[str]], tuple[date, date] | None]]] = [
            (rf"{_PRE}\b(vorgestern|day before yesterday)\b", lambda m: (today_ - timedelta(2), today_ - timedelta(1))),
            (rf"{_PRE}\b(gestern|yesterday)\b", lambda m: (today_ - timedelta(1), today_)),
            # "heute" as "nowadays" ("noch heute", "heute bekannt als", "than today") is no date
            (
                rf"{_PRE}(?<!noch )(?<!bis )(?<!als )(?<!than )(?<!even )(?<!as )\b(heute|today|tonight)\b"
                r"(?!\s+(?:als|bekannt|noch|known))",
                lambda m: (today_, today_ + timedelta(1)),
            ),
            (
                rf"{_PRE}\b(letzte[nrms]?|vergangene[nrms]?|last|previous)\s+(woche|week)\b",
                lambda m: (_monday(today_) - timedelta(7), _monday(today_)),
            ),
            (rf"{_PRE}\b(diese[rn]?|this)\s+(woche|week)\b", lambda m: (_monday(today_), today_ + timedelta(1))),
            (
                rf"{_PRE}\b(letzte[nrms]?|vergangene[nrms]?|last|previous)\s+(monat|month)\b",
                lambda m: _month_range(*_prev_month(today_)),
            ),
            (
                rf"{_PRE}\b(diese[nrm]?|this)\s+(monat|month)\b",
                lambda m: (today_.replace(day=1), today_ + timedelta(1)),
            ),
            (
                rf"{_PRE}\b(?:am\s+|on\s+|last\s+|letzten\s+|letztem\s+)?{_WEEKDAY}\b",
                lambda m: (d := _last_weekday(today_, WEEKDAYS[m.group("w").casefold()]), d + timedelta(1)),
            ),
            (rf"{_PRE}\bvor\s+(?P<n>\d+)\s+(?P<u>tag|tagen|woche|wochen)\b", lambda m: self._ago(m)),
            (rf"{_PRE}\b(?P<n>\d+)\s+(?P<u>day|days|week|weeks)\s+ago\b", lambda m: self._ago(m)),
        ]
        # A calendar date in a question names when something happened; reports about it
        # follow for a while, so the article-date range runs on by REPORT_LAG_DAYS.
        # without ``words``, only the calendar rules that a number anchors
        self.rules = [(re.compile(p, re.IGNORECASE), f, True) for p, f in calendar if words or "<a>" in p] + [
            (re.compile(p, re.IGNORECASE), f, False) for p, f in relative if words
        ]

    def run(self, question: str) -> DateFilter:
        result = DateFilter(recency=bool(RECENCY_RE.search(question)))
        taken: list[tuple[int, int]] = []
        for pattern, to_range, is_calendar in self.rules:
            for match in pattern.finditer(question):
                span = match.span()
                if any(s < span[1] and span[0] < e for s, e in taken):
                    continue  # inside an expression a more specific rule already read
                try:
                    found = to_range(match)
                    if found is not None and is_calendar:
                        found = (found[0], found[1] + timedelta(days=REPORT_LAG_DAYS))
                except (ValueError, KeyError, OverflowError):
                    # "31. Februar", "vor 999999 Tagen": no date, so no filter rather than a wrong one
                    found = None
                if found is None:
                    continue
                taken.append(span)
                start, end = (datetime.combine(d, time.min, tzinfo=self.zone) for d in found)
                result.phrases.append(match.group(0).strip())
                if match.group("since"):
                    result.since = _later(result.since, start)
                elif match.group("until"):
                    result.until = _earlier(result.until, start)
                else:
                    result.since = _later(result.since, start)
                    result.until = _earlier(result.until, end)
        if result.since and result.until and result.since >= result.until:
            result.until = None  # contradictory phrases: keep the lower bound only
        return result

    def _year_for(self, month: int, dom: int) -> int:
        """A date without a year means its most recent occurrence up to today."""
        try:
            return self.today.year if date(self.today.year, month, dom) <= self.today else self.today.year - 1
        except ValueError:
            return self.today.year - 1

    def _day(self, dom_text: str, month_text: str, year_text: str | None) -> tuple[date, date] | None:
        dom = int(dom_text)
        month = int(month_text) if month_text.isdigit() else _month_no(month_text)
        if not 1 <= month <= 12:
            return None
        if year_text:
            year = int(year_text) + (2000 if len(year_text) == 2 else 0)
        else:
            year = self._year_for(month, dom)
        start = date(year, month, dom)
        return start, start + timedelta(1)

    def _ago(self, match: re.Match[str]) -> tuple[date, date]:
        n, unit = int(match.group("n")), match.group("u").casefold()
        if unit.startswith(("woche", "week")):
            start = self.today - timedelta(7 * n)
            return start, start + timedelta(7)
        start = self.today - timedelta(n)
        return start, start + timedelta(1)


def _month_no(name: str) -> int:
    return MONTHS[name.casefold().rstrip(".")]


def _month_range(year: int, month: int) -> tuple[date, date]:
    return date(year, month, 1), date(year + (month == 12), month % 12 + 1, 1)


def _prev_month(today: date) -> tuple[int, int]:
    return (today.year - 1, 12) if today.month == 1 else (today.year, today.month - 1)


def _monday(d: date) -> date:
    return d - timedelta(d.weekday())


def _last_weekday(today: date, weekday: int) -> date:
    return today - timedelta((today.weekday() - weekday) % 7)


def _later(a: datetime | None, b: datetime) -> datetime:
    return b if a is None or b > a else a


def _earlier(a: datetime | None, b: datetime) -> datetime:
    return b if a is None or b < a else a


def combine(
    dates: DateFilter, since: datetime | date | str | None, until: datetime | date | str | None, tz: str
) -> DateFilter:
    """``dates`` (read from the question) narrowed by explicit bounds (``--since``/``--until``,
    the API's fields): the later start and the earlier end win; a bound given as a day means
    that whole day; explicit bounds exclude undated articles."""
    try:
        explicit_since = parse_datetime(since, tz)
        explicit_until = parse_datetime(until, tz)
    except ValueError as exc:
        raise InvalidInputError(f"Invalid date filter: {exc}") from exc
    dates.explicit = explicit_since is not None or explicit_until is not None
    if explicit_since is not None:
        dates.since = max(d for d in (dates.since, explicit_since) if d is not None)
    if explicit_until is not None and _is_day(until):
        try:
            explicit_until += timedelta(days=1)  # "until 07.03.2022" includes that day
        except OverflowError:  # "until 9999-12-31": no upper bound at all
            explicit_until = None
    if explicit_until is not None:
        dates.until = min(d for d in (dates.until, explicit_until) if d is not None)
    return dates


def _is_day(value: object) -> bool:
    """A date without a time of day: a bound given as a day means the whole day."""
    if isinstance(value, datetime):
        return False
    if isinstance(value, date):
        return True
    return isinstance(value, str) and ":" not in value and "T" not in value
