"""Train the reader's span head: where in the answering sentence the answer lies.

    .venv/bin/python bench/reader/build_data.py --out bench/.cache/span   # pairs with the answer's place
    .venv/bin/python bench/reader/train_span.py [--reader DIR] [--write]

The reader itself stays as it is: its last states for every answering training pair are computed
once (cached in ``bench/.cache/span/``), and a small head (``bot.reader.net.SpanHead``) learns a
start and an end score per token of the sentence, so the reader's log-odds, first quotes and
refusals do not change. Seeded; a few minutes on 2 cores after the states are cached.

Development: the news development questions' answering sentences (articles no training question
is about). Printed: exact match and token F1 of the chosen span against the written answer, and
per confidence threshold how many spans would be shown and how many of those are right (F1 >= 0.5:
the span holds most of the answer and little else). ``--write`` adds the head to the reader's
weights file (``span.*`` tensors, the card's checksum renewed) with the lowest threshold at which
``--precision`` of the shown spans are right: a wrong bold mark misleads more than none.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench.train_reader import batches, load_pairs, pad, pair_candidate
from bot.evaluate import answer_words, token_f1
from bot.reader.reader import CARD, READER_DIR, WEIGHTS, E5Reader, best_span

DATA = ROOT / "bench" / ".cache" / "span"
SEED = 20261205


def examples(reader: E5Reader, pairs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The answering pairs with their token ids and the answer's first and last token (pairs whose
    answer the tokenizer cuts off, or whose answer is the whole sentence, are left out)."""
    tok = reader.tokenizer
    positives = [p for p in pairs if p["y"] and "a" in p]
    out = []
    for start in range(0, len(positives), 512):
        chunk = positives[start : start + 512]
        first, second = [p["q"] for p in chunk], [reader.pair_text(pair_candidate(p)) for p in chunk]
        ids, mask, offsets = tok.encode_pairs(first, second, reader.max_length)
        for p, row, m, offs in zip(chunk, ids, mask, offsets, strict=True):
            norm, origin = tok.normalize_map(p["s"])
            a, b = p["a"]
            inside = [i for i, o in enumerate(origin) if a <= o < b]
            if not inside or len(inside) == len(norm):
                continue
            ns, ne = inside[0], inside[-1] + 1
            covering = [i for i, (s, e) in enumerate(offs) if s >= 0 and s < ne and e > ns and e <= len(norm)]
            if not covering or offs[covering[-1]][1] < ne - 1:
                continue  # cut off by the length limit
            out.append({**p, "ids": row[: int(m.sum())], "start": covering[0], "end": covering[-1], "offsets": offs})
    return out


def last_states(reader: E5Reader, rows: list[dict[str, Any]], path: Path) -> tuple[np.ndarray, np.ndarray]:
    """The reader's last hidden states of every row, float16, cached in one file with row offsets."""
    lengths = [len(r["ids"]) for r in rows]
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    hidden = reader.head.score.in_features // 2
    if path.exists():
        return np.load(path, mmap_mode="r"), offsets
    states = np.zeros((int(offsets[-1]), hidden), dtype=np.float16)
    started = time.perf_counter()
    for n, batch in enumerate(batches(lengths, 64, None)):
        ids, mask = pad([rows[i]["ids"] for i in batch], reader.tokenizer.special["pad"])
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=reader.bf16):
            x = reader.encoder(ids, mask).float().numpy()
        for j, i in enumerate(batch):
            states[offsets[i] : offsets[i + 1]] = x[j, : lengths[i]]
        if n % 20 == 0:
            print(f"\rstates: {n * 64}/{len(rows)} ({time.perf_counter() - started:.0f} s)", end="", file=sys.stderr)
    print(file=sys.stderr)
    np.save(path, states)
    return states, offsets


def sentence_mask(rows: list[dict[str, Any]], batch: list[int], width: int) -> torch.Tensor:
    """True for the tokens of the sentence itself (not the question, the title or the markers)."""
    mask = torch.zeros((len(batch), width), dtype=torch.bool)
    for j, i in enumerate(batch):
        limit = len(rows[i]["norm"])
        for t, (s, e) in enumerate(rows[i]["offsets"]):
            mask[j, t] = s >= 0 and e <= limit
    return mask


def batch_states(states: np.ndarray, offsets: np.ndarray, batch: list[int]) -> torch.Tensor:
    width = max(int(offsets[i + 1] - offsets[i]) for i in batch)
    x = torch.zeros((len(batch), width, states.shape[1]))
    for j, i in enumerate(batch):
        x[j, : offsets[i + 1] - offsets[i]] = torch.from_numpy(states[offsets[i] : offsets[i + 1]].astype(np.float32))
    return x


def evaluate(
    head: Any, rows: list[dict[str, Any]], states: np.ndarray, offsets: np.ndarray
) -> list[tuple[float, float, bool]]:
    """Per row: the chosen span's confidence, its F1 against the answer, exact match."""
    head.eval()
    out = []
    lengths = [int(offsets[i + 1] - offsets[i]) for i in range(len(rows))]
    with torch.inference_mode():
        for batch in batches(lengths, 64, None):
            scores = head(batch_states(states, offsets, batch)).numpy()
            for j, i in enumerate(batch):
                r = rows[i]
                span = best_span(scores[j, : lengths[i]], r["offsets"], r["norm"], r["origin"])
                gold = r["s"][r["a"][0] : r["a"][1]]
                chosen = r["s"][span[0] : span[1]] if span else ""
                out.append(
                    (span[2] if span else 0.0, token_f1(chosen, gold), answer_words(chosen) == answer_words(gold))
                )
    return out


def report(results: list[tuple[float, float, bool]], label: str) -> None:
    em = sum(r[2] for r in results) / len(results)
    mean_f1 = sum(r[1] for r in results) / len(results)
    print(f"{label}: {len(results)} spans, exact {em:.3f}, F1 {mean_f1:.3f}")
    for threshold in (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7):
        shown = [r for r in results if r[0] >= threshold]
        right = sum(r[1] >= 0.5 for r in shown) / max(len(shown), 1)
        print(f"  confidence >= {threshold:.1f}: shown {len(shown) / len(results):.3f}, right {right:.3f}")


def choose_threshold(results: list[tuple[float, float, bool]], precision: float) -> float:
    for threshold in np.arange(0.0, 1.0, 0.02):
        shown = [r for r in results if r[0] >= threshold]
        if shown and sum(r[1] >= 0.5 for r in shown) / len(shown) >= precision:
            return round(float(threshold), 2)
    return 1.0


def write(reader_dir: Path, head: Any, threshold: float) -> None:
    from safetensors.torch import load_file, save_file

    path = reader_dir / WEIGHTS
    tensors = {k: v for k, v in load_file(str(path)).items() if not k.startswith("span.")}
    tensors.update({f"span.{k}": v.detach().float().contiguous() for k, v in head.state_dict().items()})
    save_file(tensors, str(path))
    card_path = reader_dir / CARD
    card = json.loads(card_path.read_text(encoding="utf-8"))
    card["span_threshold"] = threshold
    card["sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()
    card_path.write_text(json.dumps(card, indent=1) + "\n", encoding="utf-8")
    print(f"wrote the span head to {path} (threshold {threshold})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DATA, help="pairs with the answer's place (build_data.py --out)")
    parser.add_argument("--reader", type=Path, default=READER_DIR)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--precision", type=float, default=0.9, help="share of shown spans that must be right")
    parser.add_argument("--write", action="store_true", help="add the head to --reader's weights and card")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.manual_seed(SEED)
    torch.set_num_threads(args.threads)
    rng = random.Random(SEED)
    reader = E5Reader(args.reader)
    weights = hashlib.sha256((args.reader / WEIGHTS).read_bytes()).hexdigest()[:10]
    parts = {}
    for part in ("train", "dev"):
        rows = examples(reader, load_pairs(args.data / f"pairs.{part}.jsonl"))
        for r in rows:
            r["norm"], r["origin"] = reader.tokenizer.normalize_map(r["s"])
        digest = hashlib.sha256(json.dumps([r["ids"].tolist() for r in rows]).encode()).hexdigest()[:10]
        states, offsets = last_states(reader, rows, args.data / f"last-{part}-{weights}-{digest}.npy")
        parts[part] = (rows, states, offsets)
        print(f"{part}: {len(rows)} answering pairs", file=sys.stderr)
    from bot.reader.net import SpanHead

    rows, states, offsets = parts["train"]
    head = SpanHead(states.shape[1])
    optimizer = torch.optim.AdamW(head.parameters(), lr=args.lr, weight_decay=0.01)
    lengths = [int(offsets[i + 1] - offsets[i]) for i in range(len(rows))]
    for epoch in range(args.epochs):
        head.train()
        total, started = 0.0, time.perf_counter()
        order = batches(lengths, 32, rng)
        for batch in order:
            x = batch_states(states, offsets, batch)
            allowed = sentence_mask(rows, batch, x.shape[1])
            logits = head(x).masked_fill(~allowed[..., None], -1e4)
            starts = torch.tensor([rows[i]["start"] for i in batch])
            ends = torch.tensor([rows[i]["end"] for i in batch])
            loss = F.cross_entropy(logits[..., 0], starts) + F.cross_entropy(logits[..., 1], ends)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += float(loss.detach())
        print(f"epoch {epoch + 1}: loss {total / len(order):.3f} ({time.perf_counter() - started:.0f} s)")
        report(evaluate(head, *parts["dev"]), "dev")
    results = evaluate(head, *parts["dev"])
    threshold = choose_threshold(results, args.precision)
    print(f"threshold for {args.precision:.0%} right: {threshold}")
    if args.write:
        write(args.reader, head, threshold)


if __name__ == "__main__":
    main()
