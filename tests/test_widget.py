"""The chat widget in real headless Chromium (Debian's /usr/bin/chromium, driven by playwright):
an intranet page on another origin embeds the script tag, asks by keyboard, and gets the cited
answer, a working source link and the refused state; page and widget styles stay apart."""

from __future__ import annotations

import functools
import shutil
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from bot.http import create_app
from bot.qa import NewsQA
from bot.settings import Settings
from tests.conftest import ROOT, negotiation, sample_index, serve_app

CHROMIUM = "/usr/bin/chromium"
READ, ADMIN = "widget-read-key", "widget-admin-key"
ARTIFACTS = ROOT / "tests" / ".artifacts"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium (apt-get install chromium)"),
]


def serve_static(directory: Path) -> tuple[ThreadingHTTPServer, str]:
    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(directory)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd, f"http://127.0.0.1:{httpd.server_address[1]}"


@pytest.fixture(scope="module")
def site(tmp_path_factory, e5) -> Iterator[dict[str, str]]:
    """An intranet site (one origin) and the newsbot API (another origin), both on 127.0.0.1."""
    pages = tmp_path_factory.mktemp("intranet")
    intranet, intranet_url = serve_static(pages)
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("widget") / "data", api_keys=READ, admin_keys=ADMIN, cors_origins=intranet_url
    )
    sample_index(settings, e5, tmp_path_factory.mktemp("records"))
    with NewsQA(settings, embedder=e5) as qa:
        with serve_app(create_app(settings, qa=qa)) as api:
            # An article whose link leads to a page that exists here, so following it can be checked.
            article = {
                "id": "faehre",
                "title": "Neue Fähre nach Helgoland",
                "source": "NDR",
                "url": f"{intranet_url}/faehre.html",
                "published": "2022-03-09T08:00:00+01:00",
                "text": "Eine neue Schnellfähre verbindet ab Mai Hamburg und Helgoland in drei Stunden.",
            }
            pushed = httpx.post(f"{api}/v1/articles", json=article, headers={"X-API-Key": ADMIN}, timeout=60)
            assert pushed.json()["added"] == 1
            (pages / "faehre.html").write_text(
                '<meta charset="utf-8"><title>Fähre</title><h1>Die Fähre fährt.</h1>', encoding="utf-8"
            )
            (pages / "index.html").write_text(
                f"""<!doctype html>
    <html lang="de"><head><meta charset="utf-8"><title>Intranet</title>
    <style>
      * {{ color: rgb(255, 0, 0) !important; font-family: serif !important; }}
      button {{ display: none !important; }}
      blockquote {{ border: 0 !important; background: rgb(0, 255, 0) !important; }}
    </style></head>
    <body><h1>Redaktions-Intranet</h1>
    <blockquote id="page-quote">Ein Zitat der Seite</blockquote>
    <script src="{api}/widget.js" data-api-key="{READ}" data-lang="de"></script>
    </body></html>""",
                encoding="utf-8",
            )
            yield {"intranet": intranet_url, "api": api}
    intranet.shutdown()


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"])
        yield browser
        browser.close()


def ask_by_keyboard(page, question: str) -> None:
    page.keyboard.type(question)
    page.keyboard.press("Enter")


def test_widget_answers_cites_links_and_refuses(site, browser, tmp_path):
    page = browser.new_page(viewport={"width": 900, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    outside: list[str] = []
    page.on("request", lambda r: outside.append(r.url) if not r.url.startswith("http://127.0.0.1") else None)
    page.goto(f"{site['intranet']}/index.html")

    # Keyboard only: the first Tab lands in the widget's question field.
    page.keyboard.press("Tab")
    focused = page.evaluate("document.activeElement.shadowRoot && document.activeElement.shadowRoot.activeElement.id")
    assert focused == "newsbot-q"
    ask_by_keyboard(page, "Wer hat in Belarus verhandelt?")
    answered = page.locator(".newsbot-widget [data-state=answered]")
    answered.wait_for(timeout=30_000)
    assert negotiation(answered.locator("blockquote").first.inner_text())
    assert "tagesschau.de" in answered.locator(".attribution").first.inner_text()
    assert "[1]" in answered.inner_text() and "Quellen" in answered.inner_text()

    # Shadow DOM: the page's hostile CSS does not reach the widget, and the widget's not the page.
    button = page.locator(".newsbot-widget button[type=submit]")
    assert button.is_visible()
    quote_style = answered.locator("blockquote").first.evaluate(
        "q => [getComputedStyle(q).color, getComputedStyle(q).backgroundColor]"
    )
    assert quote_style[0] != "rgb(255, 0, 0)" and quote_style[1] != "rgb(0, 255, 0)"
    page_quote = page.evaluate("getComputedStyle(document.getElementById('page-quote')).borderLeftStyle")
    assert page_quote == "none"

    # A source with a link: it opens the article.
    page.locator(".newsbot-widget input").fill("Wie lange braucht die Fähre nach Helgoland?")
    page.locator(".newsbot-widget input").press("Enter")
    link = page.locator(".newsbot-widget .turn").nth(1).locator("[data-state=answered] ol a")
    link.wait_for(timeout=30_000)
    assert link.inner_text() == "Neue Fähre nach Helgoland (09.03.2022)"
    assert link.get_attribute("rel") == "noopener noreferrer"
    with page.context.expect_page() as opened:
        link.focus()
        page.keyboard.press("Enter")
    article = opened.value
    article.wait_for_load_state()
    assert article.title() == "Fähre" and article.url.endswith("/faehre.html")
    article.close()
    page.screenshot(path=str(tmp_path / "widget-answer.png"), full_page=True)

    # What the archive does not know is refused, and looks different. (Not "asdf qwer zxcv" any
    # more: its detected language is Dutch, so its refusal is in English, the fallback.)
    page.locator(".newsbot-widget input").fill("Wie viele Einhörner leben auf dem Mond?")
    page.locator(".newsbot-widget input").press("Enter")
    refused = page.locator(".newsbot-widget [data-state=refused]")
    refused.wait_for(timeout=30_000)
    assert "nichts gefunden" in refused.inner_text()
    assert refused.locator(".refused").evaluate("r => getComputedStyle(r).backgroundColor") != "rgba(0, 0, 0, 0)"
    # A chat: the refusal is the newest turn, the two answers before it stay in the thread.
    assert page.locator(".newsbot-widget .turn").last.locator("[data-state=refused]").count() == 1
    assert page.locator(".newsbot-widget [data-state=answered]").count() == 2
    page.screenshot(path=str(tmp_path / "widget-refused.png"), full_page=True)

    # The words that answer are bold inside the quote, which stays whole (answer_spans).
    page.locator(".newsbot-widget input").fill("Who led the Russian delegation in the talks?")
    page.locator(".newsbot-widget input").press("Enter")
    marked = page.locator(".newsbot-widget .turn").nth(3).locator("[data-state=answered] blockquote strong.answer")
    marked.first.wait_for(timeout=30_000)
    assert marked.first.inner_text() == "Wladimir Medinski"
    quote = page.locator(".newsbot-widget .turn").nth(3).locator("blockquote").first.inner_text()
    assert "Verhandlungsführer Wladimir Medinski kündigte" in quote
    assert marked.first.evaluate("m => getComputedStyle(m).fontWeight") in ("700", "bold")

    ARTIFACTS.mkdir(exist_ok=True)
    for shot in tmp_path.glob("widget-*.png"):
        shutil.copy(shot, ARTIFACTS / shot.name)
    assert not errors, errors
    assert not outside, outside  # nothing loaded from outside the two servers
    page.close()


def test_widget_shows_api_errors_and_the_embed_page_works(site, browser):
    page = browser.new_page()
    page.goto(f"{site['api']}/embed#key=wrong-key&lang=en")
    page.locator("input").first.wait_for()
    page.locator(".newsbot-widget input").fill("Who negotiated in Belarus?")
    page.locator(".newsbot-widget input").press("Enter")
    alert = page.locator(".newsbot-widget [role=alert]")
    alert.wait_for(timeout=30_000)
    assert "401" in alert.inner_text() and "not valid" in alert.inner_text()

    page.goto(f"{site['api']}/embed#key={READ}&lang=en")
    page.reload()
    assert page.locator(".newsbot-widget button[type=submit]").inner_text() == "Ask"
    page.locator(".newsbot-widget input").fill("Who negotiated in Belarus?")
    page.locator(".newsbot-widget input").press("Enter")
    answered = page.locator(".newsbot-widget [data-state=answered]")
    answered.wait_for(timeout=30_000)
    assert "Sources" in answered.inner_text() and negotiation(answered.inner_text())
    page.close()


def test_widget_shows_the_llm_draft_then_the_verified_answer(browser, tmp_path, e5):
    """With an LLM configured, the widget shows the streamed draft, then the verified answer."""
    from tests.llmserver import LLMServer, Reply

    # (faithful: "humanitäre Korridore bekräftigt" without "schaffen zu wollen" overstates its
    # source, and the claim checker's veto drops it: log-odds -0.1 against 0.7)
    verified = (
        "Russland und die Ukraine haben nach ihrer dritten Verhandlungsrunde in Belarus bekräftigt, "
        "humanitäre Korridore in den umkämpften Gebieten schaffen zu wollen [1]."
    )
    with LLMServer() as llm:
        llm.script(Reply(f"{verified} Olaf Scholz war auch dabei [1].", chunk_delay=0.3))
        settings = Settings(
            data_dir=tmp_path / "data", api_keys=READ, llm_base_url=llm.url, llm_model="m", llm_timeout=30
        )
        sample_index(settings, e5, tmp_path)
        with NewsQA(settings, embedder=e5) as qa:
            with serve_app(create_app(settings, qa=qa)) as api:
                page = browser.new_page()
                page.goto(f"{api}/embed#key={READ}&lang=de")
                page.locator(".newsbot-widget input").fill("Wer hat in Belarus verhandelt?")
                page.locator(".newsbot-widget input").press("Enter")
                draft = page.locator(".newsbot-widget [data-state=draft]")
                draft.wait_for(timeout=30_000)
                assert draft.inner_text().startswith("Russland")
                answered = page.locator(".newsbot-widget [data-state=answered]")
                answered.wait_for(timeout=30_000)
                text = answered.locator(".generated").inner_text()
                assert text == verified and "Scholz" not in answered.inner_text()
                assert page.locator(".newsbot-widget [data-state=draft]").count() == 0
                assert negotiation(answered.locator("blockquote").first.inner_text())
                page.close()
