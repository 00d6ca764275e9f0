"""Average two trained readers' weights (a "model soup" / WiSE-FT interpolation).

    .venv/bin/python bench/reader/soup.py A B --alpha 0.5 --out DIR

Both readers must come from the same start (B trained on from A with ``train_reader.py --init``):
then their weights lie in one basin, and the average keeps what each learned. A layer one of them
left frozen is e5's own in that one. The card takes B's frozen layers, A's threshold (calibrate
it again: ``bench/reader/calibrate.py --write``) and A's way of reading (input length, the
sentence before), so A may be a reader trained on from B with another input.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import torch
from safetensors.torch import load_file

from bot.reader.e5 import build_encoder, read_e5
from bot.reader.net import ReaderHead
from bot.reader.reader import CARD, WEIGHTS, load_trained, save_reader


def load(directory: Path, e5: object, layers: int) -> tuple[torch.nn.Module, torch.nn.Module]:
    encoder = build_encoder(e5, layers)
    head = ReaderHead(e5.config["hidden_size"])  # type: ignore[attr-defined]
    load_trained(encoder, head, load_file(str(directory / WEIGHTS)))
    return encoder, head


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("a", type=Path)
    parser.add_argument("b", type=Path)
    parser.add_argument("--alpha", type=float, required=True, help="weight of A (1 - alpha: B)")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    card_a = json.loads((args.a / CARD).read_text(encoding="utf-8"))
    card_b = json.loads((args.b / CARD).read_text(encoding="utf-8"))
    if card_a["layers"] != card_b["layers"]:
        raise SystemExit("the readers differ in layers")
    for setting in ("max_length", "context"):  # how it reads: A's (B may be the reader A was trained from)
        if card_a.get(setting) != card_b.get(setting):
            print(f"{setting}: A's {card_a.get(setting)!r} (B: {card_b.get(setting)!r})", file=sys.stderr)
    e5 = read_e5()
    frozen = min(card_a["frozen"], card_b["frozen"])
    (enc_a, head_a), (enc_b, head_b) = load(args.a, e5, card_a["layers"]), load(args.b, e5, card_b["layers"])
    with torch.no_grad():
        for ours, theirs in ((enc_a, enc_b), (head_a, head_b)):
            other = theirs.state_dict()
            ours.load_state_dict(
                {k: args.alpha * v + (1 - args.alpha) * other[k] for k, v in ours.state_dict().items()}
            )
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / CARD).write_text(json.dumps({"threshold": card_a["threshold"]}) + "\n", encoding="utf-8")
    save_reader(enc_a, head_a, e5, card_a["layers"], frozen, card_a["max_length"], args.out, card_a.get("context"))
    print(f"wrote {args.out} (alpha {args.alpha}: {args.a} / {args.b})", file=sys.stderr)


if __name__ == "__main__":
    main()
