"""Cleaning page furniture and splitting German text, on the seed and on edge cases."""

from __future__ import annotations

import pytest

from index.clean import clean, split_teaser
from index.split import prepare, split_sentences
from tests.conftest import SEED

PROMO = [
    "AUDIO: Kommentar",
    "Auf NDR Info hören Sie",
    "Auf tagesschau.de gibt es im Netz",
    "Auch tagesschau24 hält Sie auf dem Laufenden",
    "Livestream von tagesschau24",
    "Aktuelle Videos aus dem Programm",
    "Aktuelle Audios aus dem NDR Info Programm",
    "Meldungen zum Thema aus Norddeutschland",
    "Mehr bei tagesschau.de",
    "extern",
    "Dieses Thema im Programm",
    "Weitere Informationen",
    "Hinweis zur Berichterstattung",
    "können in der aktuellen Lage nicht unmittelbar von unabhängiger Stelle überprüft werden",
]


@pytest.fixture(scope="module")
def seed():
    from index.loaders import Loader

    (article,) = list(Loader().load([SEED]))
    return prepare(article)


def test_seed_title_and_stand_are_metadata_not_text(seed):
    article = seed.article
    assert article.title == "Russland-Ukraine-Krieg: Wenig Fortschritt bei Verhandlungen"
    assert article.updated.isoformat() == "2022-03-07T19:45:00+01:00"
    assert article.source == "tagesschau.de"  # from the sidecar .meta.yaml
    assert not any("Stand:" in s.text for s in seed.sentences)
    assert seed.sentences[1].text.startswith("Russland und die Ukraine haben nach ihrer dritten")


def test_seed_promo_lines_never_become_sentences(seed):
    for sentence in seed.sentences:
        for promo in PROMO:
            assert promo not in sentence.text, (promo, sentence.text)


def test_seed_teaser_stays_searchable_without_chrome(seed):
    teaser = [s for s in seed.sentences if s.kind == "teaser"]
    assert [s.text for s in teaser] == [
        "Live-Blog: Bislang mehr als 50.000 Ukraine-Flüchtlinge eingereist",
        "Das teilte das Bundesinnenministerium mit.",
        "Eine Prognose, wie viele noch kommen, sei nicht möglich.",
    ]
    assert {s.teaser_title for s in teaser} == {"Live-Blog: Bislang mehr als 50.000 Ukraine-Flüchtlinge eingereist"}
    assert len({s.passage for s in teaser}) == 1


def test_seed_subheadings_head_the_following_passage(seed):
    by_text = {s.text: s for s in seed.sentences}
    troops = by_text[
        "Die US-Regierung will weitere 500 US-Soldaten zur Verstärkung ihrer Truppen nach Europa schicken."
    ]
    assert troops.heading == "USA wollen weitere 500 Soldaten nach Europa schicken"
    court = next(s for s in seed.sentences if s.text.startswith("Vor dem Internationalen Gerichtshof"))
    assert court.heading == "Kämpfe gehen weiter - unter anderem in Charkiw und Sumy"
    assert "USA wollen weitere 500 Soldaten nach Europa schicken" not in by_text  # a heading, not a sentence
    lead = next(s for s in seed.sentences if s.kind == "text")
    assert lead.heading is None


def test_seed_editorial_note_and_broadcast_are_metadata(seed):
    assert len(seed.notes) == 1
    assert seed.notes[0].startswith("Angaben zu Kriegsverlauf, Beschuss und Opferzahlen")
    assert seed.broadcast == ["NDR Info | Aktuell | 07.03.2022 | 12:00 Uhr"]


def test_seed_sentences_are_verbatim_substrings_of_the_file(seed):
    raw = SEED.read_text(encoding="utf-8")
    for sentence in seed.sentences:
        assert sentence.text in raw


def test_real_sentences_that_resemble_promo_are_kept():
    text = "\n".join(
        [
            "Auf Sylt gibt es seit Jahren Streit um die Ferienwohnungen.",
            "Aktuelle Bilder zeigen zerstörte Häuser in Charkiw.",
            "Mehr als 2000 Menschen demonstrierten in Berlin.",
        ]
    )
    assert [b.text for b in clean(text).blocks] == text.splitlines()


def test_teaser_headline_is_split_from_its_first_sentence():
    assert split_teaser("Scholz reist nach Kiew Der Kanzler will Hilfe zusagen.") == (
        "Scholz reist nach Kiew",
        "Der Kanzler will Hilfe zusagen.",
    )
    assert split_teaser("keine Überschrift erkennbar") == (None, "keine Überschrift erkennbar")


@pytest.mark.parametrize(
    "text, expected",
    [
        (
            "Am 07.03.2022 sagte Dr. Müller z.B. dies. Dann ging er.",
            ["Am 07.03.2022 sagte Dr. Müller z.B. dies.", "Dann ging er."],
        ),
        ("Das ist Nr. 5 der Liste. Am 3. März kam er.", ["Das ist Nr. 5 der Liste.", "Am 3. März kam er."]),
        ("Er sagte: „Das geht so nicht.“ Dann ging er.", ["Er sagte: „Das geht so nicht.“", "Dann ging er."]),
        (
            "Die 2. Bundesliga startet. Das kostet ca. 5 Mio. Euro.",
            ["Die 2. Bundesliga startet.", "Das kostet ca. 5 Mio. Euro."],
        ),
        ("Prof. Dr. h.c. Schmidt sprach um 19.45 Uhr.", ["Prof. Dr. h.c. Schmidt sprach um 19.45 Uhr."]),
        # pysbd ends a sentence after a number of three digits; a lowercase word goes on with it
        ("Er wurde 144. sieger im Lauf. Dann ging er.", ["Er wurde 144. sieger im Lauf.", "Dann ging er."]),
        ("Melzer, ATP sıralamasında 144. sıraya çıktı.", ["Melzer, ATP sıralamasında 144. sıraya çıktı."]),
        ("Es waren 144. Dann kam er.", ["Es waren 144.", "Dann kam er."]),
        ("Das Spiel endete 2023. iPhone-Verkäufe stiegen.", ["Das Spiel endete 2023.", "iPhone-Verkäufe stiegen."]),
    ],
)
def test_german_sentence_splitting(text, expected):
    assert split_sentences(text) == expected


def test_long_paragraphs_become_several_passages():
    from index.models import Article

    body = " ".join(f"Satz Nummer {i} enthält ein paar Wörter über die Lage." for i in range(40))
    prepared = prepare(Article(id="x", title="Titel", text=body), passage_max_chars=300)
    passages = {}
    for s in prepared.sentences:
        passages.setdefault(s.passage, []).append(s.text)
    assert len(passages) > 5
    assert all(len(" ".join(texts)) <= 300 for p, texts in passages.items() if p > 0)
    assert [s.idx for s in prepared.sentences] == list(range(len(prepared.sentences)))
