"""Each input format on a realistic sample, and each kind of bad input."""

from __future__ import annotations

import io
import json
import socket
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from index.loaders import Loader, Problem
from index.models import Article
from tests.conftest import gnad_lines

HTML_PAGE = """<!DOCTYPE html><html lang="de"><head>
<title>Wenig Fortschritt bei Verhandlungen | tagesschau.de</title>
<link rel="canonical" href="https://www.tagesschau.de/ausland/europa/ukraine-verhandlungen-101.html">
<meta property="og:site_name" content="tagesschau.de">
<meta property="article:published_time" content="2022-03-07T12:00:00+01:00">
<meta property="article:modified_time" content="2022-03-07T19:45:00+01:00">
<meta name="author" content="Anna Beispiel">
</head><body>
<nav><a href="/">Startseite</a> <a href="/inland">Inland</a> <a href="/ausland">Ausland</a></nav>
<article>
<h1>Russland-Ukraine-Krieg: Wenig Fortschritt bei Verhandlungen</h1>
<p>Stand: 07.03.2022 19:45 Uhr</p>
<p>Russland und die Ukraine haben nach ihrer dritten Verhandlungsrunde in Belarus die Absicht zur
Schaffung humanitärer Korridore bekräftigt. An diesem Dienstag soll es einen neuen Anlauf geben.</p>
<h2>Kämpfe gehen weiter</h2>
<p>Russland meldete weitere Geländegewinne in der Ostukraine. Die russische Seite verweigerte die
Teilnahme an der Anhörung vor dem Internationalen Gerichtshof in Den Haag.</p>
</article>
<footer><a href="/impressum">Impressum</a> <a href="/datenschutz">Datenschutz</a></footer>
</body></html>"""

RSS = """<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel><title>tagesschau.de - Die Nachrichten der ARD</title>
<link>https://www.tagesschau.de</link><description>Nachrichten</description>
<item><title>Lawrow und Kuleba treffen sich in Antalya</title>
<link>https://www.tagesschau.de/ausland/antalya-101.html</link>
<guid>https://www.tagesschau.de/ausland/antalya-101.html</guid>
<pubDate>Tue, 08 Mar 2022 10:15:00 +0100</pubDate><category>Ausland</category>
<description><![CDATA[<p>Die Außenminister Russlands und der Ukraine wollen sich am Donnerstag in der Türkei treffen.</p><p>Das kündigte Cavusoglu an.</p>]]></description></item>
<item><title>Flüchtlinge erreichen Berlin</title>
<link>https://www.tagesschau.de/inland/fluechtlinge-berlin-101.html</link>
<pubDate>Tue, 08 Mar 2022 11:00:00 +0100</pubDate>
<description>Am Berliner Hauptbahnhof kommen täglich Tausende Menschen aus der Ukraine an.</description></item>
</channel></rss>"""

ATOM = """<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>NDR Nachrichten</title><id>urn:ndr</id>
<updated>2022-03-07T20:00:00Z</updated>
<entry><title>Hamburg nimmt Geflüchtete auf</title><id>urn:ndr:hamburg-1</id>
<link href="https://www.ndr.de/nachrichten/hamburg/gefluechtete-100.html"/>
<published>2022-03-07T18:00:00Z</published><updated>2022-03-07T19:30:00Z</updated>
<content type="html">&lt;p&gt;Hamburg hat bislang rund 3.000 Menschen aus der Ukraine aufgenommen.&lt;/p&gt;</content>
</entry></feed>"""


def load(loader: Loader, *paths) -> tuple[list[Article], list[Problem]]:
    results = list(loader.load(paths))
    return [r for r in results if isinstance(r, Article)], [r for r in results if isinstance(r, Problem)]


def test_plain_text_with_title_and_stand_on_separate_lines(tmp_path, loader):
    path = tmp_path / "a.txt"
    path.write_text(
        "Scholz in Kiew\nStand: 08.03.2022 07:05 Uhr\nDer Kanzler ist in Kiew eingetroffen.\n\nEr will Hilfe zusagen.\n"
    )
    (article,), problems = load(loader, path)
    assert not problems
    assert article.title == "Scholz in Kiew"
    assert article.updated == datetime(2022, 3, 8, 6, 5, tzinfo=UTC)
    assert article.text.startswith("Der Kanzler ist in Kiew eingetroffen.")
    assert article.id.startswith("sha256:")  # no id, no URL: a content hash
    assert article.origin == str(path.resolve())


def test_markdown_with_front_matter(tmp_path, loader):
    path = tmp_path / "b.md"
    path.write_text(
        "---\nid: ndr-4711\ntitle: Neue Verhandlungsrunde\nurl: https://www.ndr.de/x.html\n"
        "published: 2022-03-08T09:00:00+01:00\nsource: NDR\nsection: Politik\nregion: Hamburg\n---\n"
        "Die Delegationen treffen sich **erneut** in [Belarus](https://example.org).\n\n"
        "## Was erwartet wird\n\nBeobachter rechnen mit wenig Bewegung.\n"
    )
    (article,), _ = load(loader, path)
    assert (article.id, article.title, article.source, article.section) == (
        "ndr-4711",
        "Neue Verhandlungsrunde",
        "NDR",
        "Politik",
    )
    assert article.metadata == {"region": "Hamburg"}
    assert (
        article.text
        == "Die Delegationen treffen sich erneut in Belarus.\n## Was erwartet wird\nBeobachter rechnen mit wenig Bewegung."
    )
    assert article.published.isoformat() == "2022-03-08T09:00:00+01:00"


def test_html_page_main_text_and_metadata(tmp_path, loader):
    path = tmp_path / "page.html"
    path.write_text(HTML_PAGE)
    (article,), problems = load(loader, path)
    assert not problems
    assert article.id == article.url == "https://www.tagesschau.de/ausland/europa/ukraine-verhandlungen-101.html"
    assert article.title == "Russland-Ukraine-Krieg: Wenig Fortschritt bei Verhandlungen"
    assert article.author == "Anna Beispiel"
    assert article.source == "tagesschau.de"
    assert article.published.isoformat() == "2022-03-07T12:00:00+01:00"
    assert article.updated.isoformat() == "2022-03-07T19:45:00+01:00"
    assert "Gerichtshof in Den Haag" in article.text
    for chrome in ("Startseite", "Impressum", "Datenschutz"):
        assert chrome not in article.text


def test_json_object_array_and_extra_fields(tmp_path, loader):
    path = tmp_path / "c.json"
    path.write_text(
        json.dumps(
            [
                {
                    "id": "a1",
                    "title": "Eins",
                    "text": "Erster Text.",
                    "published": "2022-03-07T10:00:00Z",
                    "tags": ["x"],
                },
                {
                    "url": "https://example.org/zwei",
                    "title": "Zwei",
                    "text": "Zweiter Text.",
                    "updated": "07.03.2022 11:30",
                },
            ]
        )
    )
    (one, two), problems = load(loader, path)
    assert not problems
    assert one.id == "a1" and one.metadata == {"tags": ["x"]}
    assert two.id == "https://example.org/zwei"
    assert two.updated.isoformat() == "2022-03-07T11:30:00+01:00"  # naive: Europe/Berlin


def test_jsonl_malformed_line_is_reported_and_the_rest_loads(tmp_path, loader):
    path = tmp_path / "d.jsonl"
    path.write_text('{"id": "1", "text": "Gut."}\n{"id": "2", "text": \n\n{"id": "3", "text": "Auch gut."}\n')
    articles, problems = load(loader, path)
    assert [a.id for a in articles] == ["1", "3"]
    assert len(problems) == 1 and problems[0].path.endswith("d.jsonl:2")
    assert "malformed JSON line" in problems[0].reason


def test_stdin_is_jsonl():
    loader = Loader(stdin=io.StringIO('{"id": "s1", "title": "T", "text": "Vom Standard-Eingang."}\n'))
    (article,) = list(loader.load(["-"]))
    assert article.id == "s1" and article.origin == "<stdin>:1"


def test_csv_with_header(tmp_path, loader):
    path = tmp_path / "e.csv"
    path.write_text(
        'id,title,text,published,section\n7,Ein Titel,"Text mit, Komma.",2022-03-07,Inland\n8,Ohne Text,,,\n'
    )
    articles, problems = load(loader, path)
    assert [(a.id, a.text, a.section) for a in articles] == [("7", "Text mit, Komma.", "Inland")]
    assert problems[0].reason == "missing or empty 'text'" and problems[0].path.endswith("e.csv:3")


def test_10kgnad_shape(tmp_path, loader):
    """Recognized by its lines, not its first row alone: here the first row's text is not quoted
    (10kGNAD quotes a text only when it must)."""
    path = tmp_path / "gnad.csv"
    lines = gnad_lines(30)
    assert not lines.split(";", 1)[1].startswith("'")  # row 300: unquoted
    path.write_text(lines, encoding="utf-8")
    articles, problems = load(loader, path)
    assert not problems and len(articles) == 30
    assert articles[0].section == "Web"
    assert articles[0].title.startswith("EU-Digitalkommissar will Urheberrechte")
    assert not any(a.text.startswith("'") for a in articles)


def test_a_csv_error_repeats_at_most_a_line_of_the_file(tmp_path, loader):
    path = tmp_path / "artikel.csv"
    article = " ".join(["Die Wiener Linien bauen die U-Bahn aus."] * 40)
    path.write_text(f"{article},x\n1,2\n", encoding="utf-8")  # a header row that is an article
    _, problems = load(loader, path)
    [problem] = problems
    assert "no 'text' column" in problem.reason and len(problem.reason) < 140


def test_rss_and_atom_items(tmp_path, loader):
    (tmp_path / "feed.rss").write_text(RSS)
    (tmp_path / "feed.atom").write_text(ATOM)
    articles, problems = load(loader, tmp_path)
    assert not problems
    by_id = {a.id: a for a in articles}
    antalya = by_id["https://www.tagesschau.de/ausland/antalya-101.html"]
    assert antalya.source == "tagesschau.de - Die Nachrichten der ARD"
    assert antalya.section == "Ausland"
    assert (
        antalya.text
        == "Die Außenminister Russlands und der Ukraine wollen sich am Donnerstag in der Türkei treffen.\nDas kündigte Cavusoglu an."
    )
    assert antalya.published == datetime(2022, 3, 8, 9, 15, tzinfo=UTC)
    hamburg = by_id["urn:ndr:hamburg-1"]
    assert hamburg.url == "https://www.ndr.de/nachrichten/hamburg/gefluechtete-100.html"
    assert hamburg.updated == datetime(2022, 3, 7, 19, 30, tzinfo=UTC)
    assert hamburg.text == "Hamburg hat bislang rund 3.000 Menschen aus der Ukraine aufgenommen."


@pytest.fixture
def http_server():
    """A real HTTP server on 127.0.0.1 serving a feed, a page and an error."""
    routes = {"/feed.xml": ("application/rss+xml", RSS), "/artikel.html": ("text/html; charset=utf-8", HTML_PAGE)}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path not in routes:
                self.send_error(404)
                return
            ctype, body = routes[self.path]
            data = body.encode("utf-8")
            self.send_response(200)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_feed_and_page_urls(http_server):
    loader = Loader(allow_private_urls=True)  # the test server is on loopback
    articles, problems = load(loader, f"{http_server}/feed.xml", f"{http_server}/artikel.html", f"{http_server}/weg")
    assert [a.title for a in articles] == [
        "Lawrow und Kuleba treffen sich in Antalya",
        "Flüchtlinge erreichen Berlin",
        "Russland-Ukraine-Krieg: Wenig Fortschritt bei Verhandlungen",
    ]
    [failed] = [p for p in problems if p.fatal]
    assert "404" in failed.reason
    # the feed's items are teasers whose pages (on tagesschau.de) are out of reach: the teasers are kept
    assert len(problems) == 3 and all("its page gave no article" in p.reason for p in problems if not p.fatal)


# ---- bad input ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, content, reason",
    [
        ("empty.txt", b"", "empty file"),
        ("blank.txt", b"  \n\n ", "empty file"),
        ("photo.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary file"),
        ("nul.json", b'{"text": "a\x00b"}', "binary file"),
        ("garbage.txt", bytes(range(1, 32)) * 20, "undecodable bytes"),
        ("bad-stand.txt", b"Titel\nStand: 32.13.2022 25:00 Uhr\nText.", "unparseable date"),
        (
            "bad-date.json",
            b'{"text": "Text.", "published": "irgendwann bald"}',
            "unparseable date 'irgendwann bald' in 'published'",
        ),
        ("broken.json", b'{"text": "Text.",', "invalid JSON"),
        ("string.json", b'"nur ein Text"', "expected a JSON object, got str"),
        ("broken.rss", b"<?xml version='1.0'?><rss><channel><item><title>x</ti", "feed"),
        ("nothing.csv", b"a,b\n1,2\n", "no 'text' column"),
    ],
)
def test_bad_input_gets_one_clear_reason(tmp_path, loader, name, content, reason):
    path = tmp_path / name
    path.write_bytes(content)
    articles, problems = load(loader, path)
    assert articles == []
    assert len(problems) == 1
    assert problems[0].fatal and reason in problems[0].reason
    assert problems[0].path.startswith(str(path.resolve()))


def test_a_feed_that_declares_its_own_entities_is_refused_and_an_old_rss_doctype_is_read(tmp_path, loader):
    """200 KB of ``&a;`` under expat's own limit expanded to megabytes of text to embed (issue 24,
    finding 5), and feedparser's fallback parser (after a comment expat refuses) has no limit at all.
    ``&nbsp;`` declared in the DOCTYPE, as some feeds do, and RSS 0.91's external DTD (never fetched)
    are read."""
    word = '<!ENTITY a "' + "Wort " * 200 + '">'
    items = "<channel><title>T</title><item><title>Titel</title><description>{}</description></item></channel></rss>"
    bomb, fallback = tmp_path / "bomb.rss", tmp_path / "fallback.rss"
    bomb.write_text(f"<?xml version='1.0'?><!DOCTYPE rss [{word}]><rss>" + items.format("&a;" * 200))
    fallback.write_text(
        f"<?xml version='1.0'?><!-- a -- b -->\n<!DOCTYPE rss [\n{word}\n]><rss>" + items.format("&a;" * 200)
    )
    nbsp = tmp_path / "nbsp.rss"
    nbsp.write_text(
        '<?xml version="1.0"?>\n<!DOCTYPE rss [\n<!ENTITY nbsp "&#160;">\n]>\n<rss>' + items.format("5&nbsp;km")
    )
    old = tmp_path / "old.rss"
    old.write_text(
        "<?xml version='1.0'?><!DOCTYPE rss PUBLIC '-//Netscape Communications//DTD RSS 0.91//EN' "
        "'http://my.netscape.com/publish/formats/rss-0.91.dtd'><rss version='0.91'><channel><title>T</title>"
        "<item><title>Fähre &amp; Brücke</title><description>Die Fähre fährt &lt;b&gt;dreimal&lt;/b&gt; täglich."
        "</description></item></channel></rss>",
        encoding="utf-8",
    )
    articles, problems = load(loader, bomb, fallback, nbsp, old)
    assert [p.path for p in problems] == [str(bomb.resolve()), str(fallback.resolve())]
    assert all(p.fatal and "declares its own XML entity <!ENTITY a" in p.reason for p in problems)
    assert [(a.title, a.text) for a in articles] == [
        ("Titel", "5\xa0km"),
        ("Fähre & Brücke", "Die Fähre fährt dreimal täglich."),
    ]


def test_too_large_file(tmp_path):
    path = tmp_path / "big.txt"
    path.write_text("Titel\n" + "Ein Satz. " * 200)
    (problem,) = list(Loader(max_bytes=1000).load([path]))
    assert "larger than NEWSBOT_MAX_ARTICLE_BYTES" in problem.reason


def test_missing_path(loader):
    (problem,) = list(loader.load(["does/not/exist.txt"]))
    assert problem.reason == "no such file or directory"


def test_cp1252_is_decoded_and_named(tmp_path, loader):
    path = tmp_path / "alt.txt"
    path.write_bytes("Größere Straßen\nDie Stadt baut „neue“ Straßen für 5 €.".encode("cp1252"))
    (warning, article) = list(loader.load([path]))
    assert isinstance(warning, Problem) and not warning.fatal and "decoded as cp1252" in warning.reason
    assert article.title == "Größere Straßen" and "„neue“" in article.text and "€" in article.text


def test_directory_walk_skips_hidden_sidecar_and_unknown_files(tmp_path, loader):
    (tmp_path / "a.txt").write_text("Titel A\nText A.")
    (tmp_path / "a.meta.yaml").write_text("source: Test\n")
    (tmp_path / ".hidden.txt").write_text("Geheim\nText.")
    (tmp_path / "bild.png").write_bytes(b"\x89PNG")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.txt").write_text("Titel B\nText B.")
    articles, problems = load(loader, tmp_path)
    assert not problems
    assert [(a.title, a.source) for a in articles] == [("Titel A", "Test"), ("Titel B", None)]


def test_directory_walk_follows_no_symbolic_links(tmp_path, loader):
    """A link in a watched folder to a file or folder elsewhere (/etc/passwd, an .env with keys)."""
    outside, folder = tmp_path / "outside", tmp_path / "artikel"
    (outside / "ordner").mkdir(parents=True)
    (outside / "passwd.txt").write_text("root:x:0:0\nroot:/root:/bin/bash")
    (outside / "ordner" / "geheim.txt").write_text("Geheim\nNEWSBOT_ADMIN_KEYS=s3cr3t")
    folder.mkdir()
    (folder / "a.txt").write_text("Titel A\nText A.")
    (folder / "passwd.txt").symlink_to(outside / "passwd.txt")
    (folder / "ordner").symlink_to(outside / "ordner", target_is_directory=True)
    (folder / "auch-a.txt").symlink_to(folder / "a.txt")  # inside, but found as a.txt itself
    articles, problems = load(loader, folder)
    assert not problems and [a.title for a in articles] == ["Titel A"]


def test_broken_sidecar_fails_its_article(tmp_path, loader):
    (tmp_path / "a.txt").write_text("Titel A\nText A.")
    (tmp_path / "a.meta.yaml").write_text("source: [unclosed\n")
    articles, problems = load(loader, tmp_path / "a.txt")
    assert articles == [] and "metadata file does not parse" in problems[0].reason


# ---- hostile and oversized input (hardening issue) ------------------------------------------


def test_a_csv_field_over_the_csv_limit_fails_its_row_only(tmp_path):
    """A 200 KB field once raised csv.Error and aborted the whole ingest (exit 70, 0 added)."""
    big = "x" * 200_000
    path = tmp_path / "archive.csv"
    path.write_text(f'id,title,text\n1,Eins,"Erster Text."\n2,Zwei,"{big}"\n3,Drei,"Dritter Text."\n')
    loader = Loader(max_bytes=100_000)
    articles, problems = load(loader, path)
    assert [a.id for a in articles] == ["1", "3"]
    assert len(problems) == 1 and problems[0].path.startswith(str(path))


def test_yaml_aliases_are_refused(tmp_path, loader):
    """A 388-byte alias bomb in front matter once expanded to an 8 MB metadata row."""
    bomb = 'a: &a ["x","x","x","x","x","x","x","x","x"]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n'
    md = tmp_path / "bomb.md"
    md.write_text(f"---\n{bomb}---\n# Titel\n\nText des Artikels.\n")
    txt = tmp_path / "plain.txt"
    txt.write_text("Titel\n\nText des Artikels.\n")
    (tmp_path / "plain.meta.yaml").write_text(bomb)
    articles, problems = load(loader, tmp_path)
    assert not articles
    assert sorted("aliases" in p.reason for p in problems) == [True, True]


def test_deeply_nested_json_is_one_failed_item(tmp_path, loader):
    deep = "[" * 100_000 + "]" * 100_000
    path = tmp_path / "deep.json"
    path.write_text(deep)
    jsonl = tmp_path / "deep.jsonl"
    jsonl.write_text(json.dumps({"id": "ok", "text": "Ein Text."}) + "\n" + deep + "\n")
    articles, problems = load(loader, tmp_path)
    assert [a.id for a in articles] == ["ok"]
    assert len(problems) == 2 and all("nested too deeply" in p.reason for p in problems)
    assert list(loader.load_records(deep, "request"))[0].reason == "invalid JSON: nested too deeply"


def test_a_file_of_many_bad_records_names_the_first_and_counts_the_rest(tmp_path, loader):
    """600,000 bad records were 600,000 problems held through the write and in every report."""
    from index.loaders.loader import MAX_FILE_PROBLEMS

    export = tmp_path / "export.jsonl"
    bad = [{"id": f"bad-{n}", "title": "Ohne Text"} for n in range(MAX_FILE_PROBLEMS + 150)]
    good = {"id": "ok", "title": "Fähre", "text": "Die Fähre fährt dreimal täglich."}
    export.write_text("\n".join(json.dumps(r) for r in [*bad[:50], good, *bad[50:]]), encoding="utf-8")
    articles, problems = load(loader, export)
    assert [a.id for a in articles] == ["ok"]
    assert len(problems) == MAX_FILE_PROBLEMS + 1 and all(p.fatal for p in problems)
    assert problems[0].path == f"{export.resolve()}:1" and "text" in problems[0].reason
    assert (
        problems[-1].reason == f"and 150 more records that could not be read (the first {MAX_FILE_PROBLEMS} are named)"
    )


def test_a_json_array_is_read_a_record_at_a_time(tmp_path, loader):
    """A 50 MB JSON export took 670 MB to load (json.loads of the whole file); read record by record,
    memory holds a record, and a file cut short keeps the records before the cut."""
    import tracemalloc

    records = [
        {"id": f"f{n}", "title": f"Fähre {n}", "text": "Die Fähre fährt nach Helgoland. " * 60} for n in range(2000)
    ]
    export = tmp_path / "export.json"
    export.write_text(json.dumps(records, ensure_ascii=False), encoding="utf-8")
    tracemalloc.start()
    try:
        read = sum(isinstance(r, Article) for r in loader.load_file(export))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert read == 2000
    assert peak < export.stat().st_size / 4  # the whole file as one Python object would be several times its size

    cut = tmp_path / "cut.json"
    cut.write_text(json.dumps(records[:5])[:-300], encoding="utf-8")
    articles, problems = load(loader, cut)
    assert [a.id for a in articles] == ["f0", "f1", "f2", "f3"]
    [problem] = problems
    assert problem.path == f"{cut.resolve()}[4]" and problem.reason.startswith("invalid JSON")

    legacy = tmp_path / "legacy.json"  # JSON is UTF-8; an export saved as cp1252 is told so
    legacy.write_bytes(json.dumps(records[:1], ensure_ascii=False).encode("cp1252"))
    [problem] = load(loader, legacy)[1]
    assert "not UTF-8" in problem.reason


def test_byte_limits_apply_per_record_in_archives(tmp_path):
    """A 13 MB JSONL export was rejected whole by the per-article limit; now each record is
    measured, and the file has its own (larger) limit."""
    loader = Loader(max_bytes=2_000, max_file_bytes=1_000_000)
    records = [{"id": f"a{i}", "text": f"Artikel Nummer {i}. " * 20} for i in range(50)]
    records.append({"id": "huge", "text": "ä" * 1_500})  # 1,500 characters, 3,000 bytes
    path = tmp_path / "export.jsonl"
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in records) + "\n", encoding="utf-8")
    assert path.stat().st_size > 2_000
    articles, problems = load(loader, path)
    assert len(articles) == 50
    assert [p.path for p in problems] == [f"{path}:51"] and "NEWSBOT_MAX_ARTICLE_BYTES" in problems[0].reason
    one = tmp_path / "one.txt"
    one.write_text("Titel\n\n" + "Text. " * 1_000)
    assert "NEWSBOT_MAX_ARTICLE_BYTES" in load(loader, one)[1][0].reason
    # an API upload: one record over the limit fails alone
    upload = "\n".join(json.dumps(r, ensure_ascii=False) for r in records[-3:])
    results = list(loader.load_records(upload, "request"))
    assert [type(r).__name__ for r in results] == ["Article", "Article", "Problem"]


def test_a_long_paragraph_is_split_in_bounded_pieces():
    """pysbd's cost grows faster than linearly: an 80 KB paragraph once took 15 s. It is cut
    into pieces first, at sentence ends, so nothing is lost and no sentence is cut short."""
    from index.split import MAX_SEGMENT_CHARS, split_sentences

    sentences = [f"Der Gemeinderat von Ort {i} beschloss am Dienstag eine neue Regel." for i in range(1_200)]
    paragraph = " ".join(sentences)
    assert len(paragraph) > 20 * MAX_SEGMENT_CHARS
    assert split_sentences(paragraph) == sentences


@pytest.fixture
def hostile_server():
    """A loopback server with a slow page, slow headers, an endless page, a huge page and redirect
    chains (``.requests``: the paths it answered, but for ``/slow-headers`` and ``/away``)."""
    stop = threading.Event()
    requests: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/slow-headers":  # the headers a byte every 0.1 s for 5 s, no body
                self.wfile.write(b"HTTP/1.1 200 OK\r\nX-Slow: ")
                for _ in range(50):
                    if stop.wait(0.1):
                        return
                    self.wfile.write(b"x")
                    self.wfile.flush()
                self.wfile.write(b"\r\nContent-Type: text/html\r\nContent-Length: 0\r\n\r\n")  # no body to time
                return
            if self.path == "/away":  # an absolute redirect to this server's loopback address
                self.send_response(302)
                self.send_header("Location", f"http://127.0.0.1:{self.server.server_address[1]}/metrics")
                self.end_headers()
                return
            requests.append(self.path)
            if self.path.startswith("/redirect/"):
                n = int(self.path.rsplit("/", 1)[1])
                self.send_response(302)
                self.send_header("Location", f"/redirect/{n + 1}" if n < 10 else "/metrics")
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.end_headers()
            if self.path == "/metrics":
                self.wfile.write(b"<html><body><p>secret_counter 42</p></body></html>")
            elif self.path == "/slow":  # a byte every 0.1 s, forever
                while not stop.is_set():
                    try:
                        self.wfile.write(b"x")
                        self.wfile.flush()
                    except OSError:
                        return
                    stop.wait(0.1)
            elif self.path == "/huge":  # no Content-Length, far more than the cap
                try:
                    for _ in range(2_000):
                        self.wfile.write(b"<p>" + b"y" * 65_536 + b"</p>")
                except OSError:
                    return

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield HostileServer(f"http://127.0.0.1:{server.server_address[1]}", requests)
    stop.set()
    server.shutdown()


class HostileServer(str):
    """The server's base URL, and the paths it answered."""

    def __new__(cls, url: str, requests: list[str]) -> HostileServer:
        made = super().__new__(cls, url)
        made.requests = requests
        return made

    requests: list[str]


def test_url_fetches_have_a_total_deadline_a_streamed_cap_and_no_private_targets(hostile_server):
    """A 1-byte/s server once held an ingest 22.6 s with a 20 s timeout, a 60 MB page was
    downloaded whole before the size check, and a redirect to 127.0.0.1/metrics was followed."""
    allowed = Loader(allow_private_urls=True, fetch_timeout=1.0, max_fetch_bytes=1_000_000)
    (slow,) = list(allowed.load([f"{hostile_server}/slow"]))
    assert isinstance(slow, Problem) and "took longer than 1 s" in slow.reason
    (huge,) = list(allowed.load([f"{hostile_server}/huge"]))
    assert isinstance(huge, Problem) and "larger than the limit" in huge.reason
    (chain,) = list(allowed.load([f"{hostile_server}/redirect/0"]))
    assert isinstance(chain, Problem) and "redirects" in chain.reason
    # By default nothing private is fetched: not the URL itself, not where a redirect points.
    (blocked,) = list(Loader().load([f"{hostile_server}/redirect/9"]))
    assert isinstance(blocked, Problem) and "NEWSBOT_FETCH_ALLOW_PRIVATE" in blocked.reason


def test_each_redirect_hop_is_checked(monkeypatch, hostile_server):
    """A public page that redirects into the private network is refused at the hop."""
    import index.fetch as fetch_module

    real_address = fetch_module._address
    seen: list[str] = []

    def address(host: str, port: int, allow_private: bool) -> str:  # public.test: public, at the loopback server
        seen.append(host)
        return "127.0.0.1" if host == "public.test" else real_address(host, port, allow_private)

    monkeypatch.setattr(fetch_module, "_address", address)
    port = hostile_server.rsplit(":", 1)[1]
    (result,) = list(Loader().load([f"http://public.test:{port}/away"]))  # -> http://127.0.0.1:PORT/metrics
    assert isinstance(result, Problem) and "private" in result.reason
    assert seen == ["public.test", "127.0.0.1"] and "/metrics" not in hostile_server.requests


def test_slow_headers_cannot_hold_a_fetch_past_its_deadline(hostile_server):
    """A server sending its header bytes slowly held a fetch 43 s with a 2 s timeout: the
    deadline was checked per body chunk, and each header byte restarted the read timeout."""
    (slow,) = list(Loader(allow_private_urls=True, fetch_timeout=1.0).load([f"{hostile_server}/slow-headers"]))
    assert isinstance(slow, Problem) and "took longer than 1 s" in slow.reason


def test_the_fetcher_connects_to_the_address_it_checked(monkeypatch, hostile_server):
    """DNS rebinding: the name resolved to a public address for the check and to the loopback
    address for the connection. Now it is resolved once and the checked address is used."""
    import index.fetch as fetch_module

    answers = iter([[(2, 1, 6, "", ("192.0.2.1", 0))]])  # a public-looking answer first (TEST-NET-1)
    real = socket.getaddrinfo

    def rebinding(host: str, port: int, *args: object, **kwargs: object) -> list:
        if host != "rebind.test":
            return real(host, port, *args, **kwargs)
        return next(answers, [(2, 1, 6, "", ("127.0.0.1", port))])  # then the loopback address

    monkeypatch.setattr(fetch_module.socket, "getaddrinfo", rebinding)
    monkeypatch.setattr(fetch_module.ipaddress.IPv4Address, "is_global", property(lambda a: not a.is_loopback))
    port = hostile_server.rsplit(":", 1)[1]
    (result,) = list(Loader(fetch_timeout=1.0).load([f"http://rebind.test:{port}/metrics"]))
    assert isinstance(result, Problem)  # 192.0.2.1 does not answer; the loopback server was never asked
    assert "/metrics" not in hostile_server.requests


def test_short_fields_are_bounded_so_one_record_cannot_cost_minutes_of_embedding(tmp_path, loader):
    """A 500,000-character title used to be embedded with every sentence (13 minutes, 696 MB)."""
    records = [
        {"id": "lang", "title": "Titel " * 100_000, "source": "Q" * 10_000, "text": "Der Text. Noch ein Satz."},
        {"id": "url", "url": "https://example.org/" + "a" * 5000, "text": "Ein Text."},
        {"id": "gut", "title": "Kurzer Titel", "text": "Ein Text."},
    ]
    (tmp_path / "a.jsonl").write_text("\n".join(json.dumps(r) for r in records))
    articles, problems = load(loader, tmp_path / "a.jsonl")
    by_id = {a.id: a for a in articles}
    assert set(by_id) == {"lang", "gut"} and by_id["gut"].title == "Kurzer Titel"
    assert len(by_id["lang"].title) <= 500 and by_id["lang"].title.endswith("Titel…")
    assert len(by_id["lang"].source or "") <= 200
    [problem] = problems
    assert problem.path.endswith("a.jsonl:2") and "'url' longer than 2048 characters" in problem.reason
