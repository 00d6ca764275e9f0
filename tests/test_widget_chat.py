"""The widget as a chat, in real headless Chromium: a thread of question/answer turns with
follow-ups and a reset, "copy citation" onto the clipboard, and 👍/👎 feedback that reaches the
question log (checked through ``GET /v1/report``), all by keyboard, on a page with hostile CSS."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import httpx
import pytest

from tests.test_widget import ADMIN, ARTIFACTS, CHROMIUM, READ, browser, site  # noqa: F401  (module fixtures)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium (apt-get install chromium)"),
]

THREAD = ".newsbot-widget .turn"


def expect():
    return pytest.importorskip("playwright.sync_api").expect


def report(urls: dict[str, str]) -> dict:
    response = httpx.get(f"{urls['api']}/v1/report", headers={"X-API-Key": ADMIN}, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()


def focused(page) -> dict[str, str | None]:
    """The element focused inside the widget's shadow root."""
    return page.evaluate(
        """() => { const a = document.activeElement.shadowRoot && document.activeElement.shadowRoot.activeElement;
                   return a ? {tag: a.tagName, id: a.id, label: a.getAttribute('aria-label'), text: a.textContent} : {}; }"""
    )


def send(page, question: str) -> None:
    """Type a question into the focused question field and send it with Enter; the field empties."""
    page.keyboard.type(question)
    page.keyboard.press("Enter")
    expect()(page.locator("#newsbot-q")).to_have_value("")


def test_three_turns_follow_ups_and_a_new_conversation(site, browser, tmp_path):  # noqa: F811
    page = browser.new_page(viewport={"width": 900, "height": 700})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    asked: list[dict[str, str]] = []
    page.on("request", lambda r: asked.append(json.loads(r.post_data)) if r.url.endswith("/v1/ask/stream") else None)
    page.goto(f"{site['intranet']}/index.html")
    turns = page.locator(THREAD)

    page.keyboard.press("Tab")
    assert focused(page)["id"] == "newsbot-q"
    questions = [
        "Wo wollen sich Lawrow und Kuleba treffen?",
        "Und wann?",  # a follow-up: only the conversation says what it is about
        "Wie lange braucht die Fähre nach Helgoland?",
    ]
    for n, question in enumerate(questions):
        send(page, question)
        expect()(turns).to_have_count(n + 1)
        expect()(turns.nth(n).locator("[data-state=answered]")).to_be_visible(timeout=30_000)
        expect()(page.locator("#newsbot-q")).to_be_focused()  # the next question can be typed at once

    # Three question/answer pairs, in order, each answer with its own sources.
    assert [turns.nth(i).locator(".question .text").inner_text() for i in range(3)] == questions
    for i in range(3):
        reply = turns.nth(i).locator(".reply")
        assert reply.locator("h3").inner_text() == "Quellen" and reply.locator("ol li").count() >= 1
    assert "Antalya" in turns.nth(0).locator(".reply").inner_text()
    follow_up = turns.nth(1).locator(".reply").inner_text()
    assert "Lawrow" in follow_up or "Antalya" in follow_up  # "Und wann?" kept the topic
    assert "Helgoland" in turns.nth(2).locator(".reply").inner_text()
    assert len({a["conversation_id"] for a in asked}) == 1 and [a["question"] for a in asked] == questions

    # The newest answer is announced; older turns scroll away inside the thread, the newest shows.
    expect()(page.locator(".newsbot-widget .announce")).to_contain_text("Schnellfähre")
    assert page.locator(".newsbot-widget .announce").get_attribute("aria-live") == "polite"
    thread = page.locator(".newsbot-widget .thread")
    assert thread.evaluate("t => t.scrollHeight > t.clientHeight")
    expect()(turns.nth(2).locator(".question")).to_be_in_viewport()

    # Page CSS (red text, hidden buttons, green block quotes) still cannot reach the widget.
    bubble = turns.nth(0).locator(".question")
    assert bubble.evaluate("b => getComputedStyle(b).color") == "rgb(255, 255, 255)"
    assert bubble.evaluate("b => getComputedStyle(b).backgroundColor") == "rgb(11, 87, 208)"
    expect()(turns.nth(2).locator("button.good")).to_be_visible()
    page.screenshot(path=str(tmp_path / "widget-thread.png"), full_page=True)

    # "New conversation" (by keyboard: Tab from the question field passes "Fragen"): empty thread,
    # new id, and "Und wann?" no longer has a topic to borrow.
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    assert focused(page)["text"] == "Neues Gespräch"
    page.keyboard.press("Enter")
    expect()(turns).to_have_count(0)
    expect()(page.locator("#newsbot-q")).to_be_focused()
    send(page, "Und wann?")
    expect()(turns.nth(0).locator("[data-state=refused]")).to_be_visible(timeout=30_000)
    assert asked[-1]["conversation_id"] != asked[0]["conversation_id"]
    expect()(turns).to_have_count(1)
    page.screenshot(path=str(tmp_path / "widget-new-conversation.png"), full_page=True)

    ARTIFACTS.mkdir(exist_ok=True)
    for shot in tmp_path.glob("widget-*.png"):
        shutil.copy(shot, ARTIFACTS / shot.name)
    assert not errors, errors
    page.close()


def test_copy_citation_and_feedback_by_keyboard(site, browser, tmp_path):  # noqa: F811
    context = browser.new_context(
        viewport={"width": 900, "height": 900}, permissions=["clipboard-read", "clipboard-write"]
    )
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{site['intranet']}/index.html")
    before = report(site)["totals"]
    turns = page.locator(THREAD)

    page.keyboard.press("Tab")
    send(page, "Wie lange braucht die Fähre nach Helgoland?")
    reply = turns.nth(0).locator("[data-state=answered]")
    expect()(reply).to_be_visible(timeout=30_000)

    # Copy citation: quote, title, source, date and link as plain text on the clipboard.
    copy = reply.locator("button.copy").first
    copy.focus()
    page.keyboard.press("Enter")
    expect()(copy).to_have_text("Kopiert ✓")
    assert page.evaluate("navigator.clipboard.readText()") == (
        "„Eine neue Schnellfähre verbindet ab Mai Hamburg und Helgoland in drei Stunden.“ – "
        f"Neue Fähre nach Helgoland, NDR, 09.03.2022, {site['intranet']}/faehre.html"
    )

    # Feedback by keyboard: from the question field, Shift+Tab reaches 👎, then 👍.
    page.locator("#newsbot-q").focus()
    page.keyboard.press("Shift+Tab")
    assert focused(page)["label"] == "Falsch"
    page.keyboard.press("Shift+Tab")
    assert focused(page)["label"] == "Hilfreich"
    page.keyboard.press("Enter")
    row = reply.locator(".feedback")
    expect()(row).to_have_attribute("data-rated", "helpful")
    expect()(row.locator("button.good")).to_have_attribute("aria-pressed", "true")
    expect()(row.locator(".result")).to_have_text("Danke für die Rückmeldung!")
    assert report(site)["totals"]["helpful"] == before["helpful"] + 1

    # Changing one's mind: 👎 with a comment, typed and sent by keyboard.
    page.keyboard.press("Tab")
    assert focused(page)["label"] == "Falsch"
    page.keyboard.press("Space")
    expect()(row).to_have_attribute("data-rated", "wrong")
    expect()(row.locator("button.good")).to_have_attribute("aria-pressed", "false")
    page.keyboard.press("Tab")
    assert focused(page)["label"] == "Kommentar zur Antwort"
    page.keyboard.type("Die Fähre fährt erst ab Juni.")
    page.keyboard.press("Enter")
    expect()(row.locator(".result")).to_have_text("Danke, der Kommentar ist notiert.")
    expect()(row.locator("input.comment")).to_have_count(0)
    page.screenshot(path=str(tmp_path / "widget-feedback.png"), full_page=True)

    after = report(site)
    assert after["totals"]["helpful"] == before["helpful"] and after["totals"]["wrong"] == before["wrong"] + 1
    wrong = next(w for w in after["wrong"] if w["comment"] == "Die Fähre fährt erst ab Juni.")
    assert wrong["question"] == "Wie lange braucht die Fähre nach Helgoland?" and wrong["front_end"] == "api"
    assert wrong["citations"][0]["article_id"] == "faehre"
    assert "Schnellfähre" in wrong["citations"][0]["quotes"][0]

    ARTIFACTS.mkdir(exist_ok=True)
    for shot in tmp_path.glob("widget-*.png"):
        shutil.copy(shot, ARTIFACTS / shot.name)
    assert not errors, errors
    context.close()


def test_a_stream_that_ends_without_an_answer_is_an_error_and_gives_the_question_back(site, browser):  # noqa: F811
    """A proxy's timeout or a restarted server ends the stream after a draft, or sends an error
    event without its error object: the turn shows the error, the question is back in the field."""
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    streams = iter(
        [
            'event: draft\ndata: {"text": "Russland und die Ukraine haben"}\n\n',  # ... and then nothing
            "event: error\ndata: {}\n\n",
        ]
    )
    page.route(
        "**/v1/ask/stream",
        lambda route: route.fulfill(status=200, content_type="text/event-stream", body=next(streams)),
    )
    page.goto(f"{site['api']}/embed#key={READ}&lang=de")
    field = page.locator("#newsbot-q")
    turns = page.locator(THREAD)
    question = "Wer hat in Belarus verhandelt?"
    field.fill(question)
    field.press("Enter")
    reply = turns.nth(0).locator(".reply")
    expect()(reply).to_have_attribute("data-state", "error")
    expect()(reply.locator("[role=alert]")).to_have_text("Der Server ist nicht erreichbar.")
    expect()(reply.locator(".draft")).to_have_count(0)  # the unverified draft is gone
    expect()(field).to_have_value(question)  # ready to send again
    expect()(page.locator(".newsbot-widget button[type=submit]")).to_be_enabled()

    field.press("Enter")
    reply = turns.nth(1).locator(".reply")
    expect()(reply).to_have_attribute("data-state", "error")
    expect()(reply.locator("[role=alert]")).to_have_text("Die Anfrage ist fehlgeschlagen")
    expect()(field).to_have_value(question)
    assert not errors, errors
    page.close()
