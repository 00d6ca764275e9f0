"""Where and how the ``openai:MODEL`` embedder reaches its server (``index/remote_embed.py``),
built by the layer above from the ``NEWSBOT_EMBED_*`` settings. A plain value, light to import."""

from __future__ import annotations

from dataclasses import dataclass, field

from pydantic import SecretStr


@dataclass(frozen=True)
class EmbedEndpoint:
    """An OpenAI-compatible ``/v1/embeddings`` endpoint for ``embedder="openai:MODEL"``."""

    url: str | None = None  # the API root, e.g. http://gpu-box:8000/v1
    api_key: SecretStr | None = field(default=None, repr=False)
    concurrency: int = 4  # requests in flight at once
    input_type: str = "field"  # how query vs passage is told: field, model:Q,P, text, none
    same_as: str | None = None  # a local embedder spec the endpoint's model is declared identical to
    timeout: float = 60.0  # seconds one request may take, retries included
