"""Every text newsbot shows a user, in German and English, in one table.

Answers speak the question's language; Telegram speaks the user's Telegram language. Any
other language gets English (``texts``): the quotes stay German, the frame around them is
in the language most readers share.
"""

from __future__ import annotations

FALLBACK = "en"

TEXTS: dict[str, dict[str, str]] = {
    "de": {
        "refusal": "Dazu habe ich in den Artikeln nichts gefunden.",
        "according": "Laut {who}",
        "updated": "Stand {date}",
        "published": "vom {date}",
        "note": "Hinweis zur Berichterstattung: {note}",
        "llm_unverified": "Die KI-Antwort ließ sich nicht mit den Quellen belegen; hier stattdessen wörtliche Zitate.",
        "llm_failed": "Das Sprachmodell hat nicht (rechtzeitig) geantwortet; hier stattdessen wörtliche Zitate.",
        "unsure": "Unsicher: Diese Stelle beantwortet die Frage womöglich nicht genau; bitte im Artikel nachlesen.",
        "open": "„",
        "close": "“",
        "sources": "Quellen",
        "also": "gleichlautend",
        "filter": "Filter",
        "start": "Hallo! Ich beantworte Fragen aus dem Artikelarchiv, mit wörtlichen Zitaten und Quellen. Schreib einfach eine Frage, zum Beispiel:\n„{example}“\n\n/help zeigt, was ich weiß und kann.",
        "help": "Ich kenne {articles} Artikel ({range}){sources}.\n\nFrag auf Deutsch oder Englisch, z. B.:\n• {examples}\n\nFolgefragen („Und wann?“) beziehen sich auf die letzte Frage.\n/sources – alle Quellen der letzten Antwort\n/since DATUM, /until DATUM – nur Artikel ab/bis zu einem Datum (ohne Datum: aufheben)\n/reset – Verlauf und Filter vergessen",
        "group": "In Gruppen antworte ich, wenn ihr mich erwähnt ({mention}) oder auf meine Nachricht antwortet.",
        "not_allowed": "Entschuldigung, dieser Bot ist nur für die Redaktion freigeschaltet. Bitte wende dich an die Administratoren.",
        "no_sources": "Noch keine Quellen: Die letzte Antwort hat nichts zitiert.",
        "filter_set": "Filter gesetzt: {which} {value}.",
        "filter_cleared": "Filter aufgehoben: {which}.",
        "reset": "Verlauf und Filter sind zurückgesetzt.",
        "empty": "Schreib mir eine Frage, zum Beispiel: „{example}“",
        "error": "Entschuldigung, da ist etwas schiefgegangen. Bitte versuch es gleich noch einmal.",
        "too_many": "Das waren viele Fragen in kurzer Zeit. Bitte warte einen Moment und frag dann noch einmal.",
        "unknown": "Diesen Befehl kenne ich nicht. /help zeigt, was geht.",
        "since": "ab",
        "until": "bis",
        "feedback_helpful": "👍 Hilfreich",
        "feedback_wrong": "👎 Falsch",
        "feedback_thanks": "Danke für die Rückmeldung!",
        "feedback_ask_comment": "Danke! Was war falsch? Antworte auf diese Nachricht mit einem kurzen Kommentar – oder lass es einfach.",
        "feedback_comment_hint": "Was war falsch?",
        "feedback_comment_thanks": "Danke, der Kommentar ist notiert.",
        "feedback_refused": "Zu dieser Antwort kann ich hier keine Rückmeldung annehmen.",
        "feedback_off": "Rückmeldungen sind auf diesem Server ausgeschaltet.",
    },
    "en": {
        "refusal": "I found nothing about that in the articles.",
        "according": "According to {who}",
        "updated": "updated {date}",
        "published": "published {date}",
        "note": "Editorial note from the cited article: {note}",
        "llm_unverified": "The generated answer could not be verified against the sources, so here are verbatim quotes instead.",
        "llm_failed": "The language model did not answer (in time), so here are verbatim quotes instead.",
        "unsure": "Not sure: this passage may not answer exactly what you asked; please check the article.",
        "open": "“",
        "close": "”",
        "sources": "Sources",
        "also": "same text in",
        "filter": "Filter",
        "start": "Hello! I answer questions from the article archive, with verbatim quotes and sources. Just send a question, for example:\n“{example}”\n\n/help shows what I know and can do.",
        "help": "I know {articles} articles ({range}){sources}.\n\nAsk in English or German, e.g.:\n• {examples}\n\nFollow-ups (“And when?”) refer to the previous question.\n/sources – every source of the last answer\n/since DATE, /until DATE – only articles from/until a date (no date: clear)\n/reset – forget the conversation and filters",
        "group": "In groups I answer when you mention me ({mention}) or reply to my message.",
        "not_allowed": "Sorry, this bot is only open to the newsroom. Please ask its administrators for access.",
        "no_sources": "No sources yet: the last answer cited nothing.",
        "filter_set": "Filter set: {which} {value}.",
        "filter_cleared": "Filter cleared: {which}.",
        "reset": "Conversation and filters are reset.",
        "empty": "Send me a question, for example: “{example}”",
        "error": "Sorry, something went wrong. Please try again in a moment.",
        "too_many": "That was a lot of questions in a short time. Please wait a moment, then ask again.",
        "unknown": "I don't know that command. /help lists what works.",
        "since": "from",
        "until": "until",
        "feedback_helpful": "👍 Helpful",
        "feedback_wrong": "👎 Wrong",
        "feedback_thanks": "Thanks for the feedback!",
        "feedback_ask_comment": "Thanks! What was wrong? Reply to this message with a short comment, or just leave it.",
        "feedback_comment_hint": "What was wrong?",
        "feedback_comment_thanks": "Thanks, the comment is noted.",
        "feedback_refused": "I cannot take feedback on this answer here.",
        "feedback_off": "Feedback is switched off on this server.",
    },
}
EXAMPLES = {
    "de": ["Wer hat in Belarus verhandelt?", "Was geschah gestern in der Ukraine?", "Und wann?"],
    "en": ["Who negotiated in Belarus?", "What happened in Ukraine last week?", "And when?"],
}
COMMANDS = {
    "de": [
        ("help", "Was ich weiß und kann"),
        ("sources", "Alle Quellen der letzten Antwort"),
        ("since", "Nur Artikel ab DATUM"),
        ("until", "Nur Artikel bis DATUM"),
        ("reset", "Verlauf und Filter vergessen"),
    ],
    "en": [
        ("help", "What I know and can do"),
        ("sources", "Every source of the last answer"),
        ("since", "Only articles from DATE on"),
        ("until", "Only articles until DATE"),
        ("reset", "Forget the conversation and filters"),
    ],
}


REPL_HELP = """Ask a question in German or English; follow-up questions use the conversation so far.
  :sources       all sources of the last answer, with links
  :debug         show/hide how answers are found (query, date filter, scores, timings)
  :since DATE    only articles from DATE on (":since" alone clears it); :until DATE likewise
  :reset         forget the conversation and the date filters
  :help          this text
  :quit          leave (Ctrl-D works too)"""


def language_of(code: str | None) -> str:
    """``de`` or ``en`` for a language code such as ``de-AT``, ``en``, ``fr`` or None."""
    code = (code or "").casefold()
    return next((lang for lang in TEXTS if code.startswith(lang)), FALLBACK)


def texts(language: str | None) -> dict[str, str]:
    """The texts for ``language`` (a code; anything but German and English gets English)."""
    return TEXTS[language_of(language)]
