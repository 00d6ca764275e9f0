"""The optional language model: any OpenAI-compatible chat endpoint, through llama-index.

Built only when ``NEWSBOT_LLM_BASE_URL`` is set; nothing in the default path imports it.
Every call has a hard wall-clock limit (``NEWSBOT_LLM_TIMEOUT``) and no retries: a slow or
failing model costs at most that long, then the caller answers with quotes.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import TYPE_CHECKING

from bot.errors import ConfigError
from bot.extras import require
from bot.settings import Settings

if TYPE_CHECKING:
    from llama_index.core.llms import LLM as ChatModel

logger = logging.getLogger(__name__)
_CALLS = ThreadPoolExecutor(max_workers=4, thread_name_prefix="newsbot-llm")


class LLMError(Exception):
    """The model failed, timed out or said nothing usable."""


class LLM:
    """A chat model with a deadline; ``model`` is a llama-index LLM (``chat``/``stream_chat``)."""

    def __init__(self, model: ChatModel, timeout: float) -> None:
        self.model = model
        self.timeout = timeout

    @classmethod
    def from_settings(cls, settings: Settings) -> LLM | None:
        if not settings.llm_base_url:
            return None
        if not settings.llm_model:
            raise ConfigError("NEWSBOT_LLM_BASE_URL is set but NEWSBOT_LLM_MODEL is not: name the model to use.")
        require("llm")
        from llama_index.llms.openai_like import OpenAILike

        model = OpenAILike(
            model=settings.llm_model,
            api_base=settings.llm_base_url.rstrip("/"),
            api_key=settings.llm_api_key.get_secret_value() if settings.llm_api_key else "not-needed",
            is_chat_model=True,
            context_window=8192,
            temperature=0.0,
            max_tokens=400,
            timeout=settings.llm_timeout,
            max_retries=0,
        )
        return cls(model, settings.llm_timeout)

    def chat(self, messages: list[dict[str, str]], on_delta: Callable[[str], None] | None = None) -> str:
        """The model's reply; with ``on_delta`` it streams, calling it with the text so far."""
        from llama_index.core.llms import ChatMessage

        chat = [ChatMessage(role=m["role"], content=m["content"]) for m in messages]
        started = time.monotonic()
        try:
            if on_delta is None:
                future = _CALLS.submit(self.model.chat, chat)
                return str(future.result(timeout=self.timeout).message.content or "")
            text = ""
            for chunk in self.model.stream_chat(chat):
                text += chunk.delta or ""
                if time.monotonic() - started > self.timeout:
                    raise LLMError(f"no complete answer within {self.timeout:g} s")
                on_delta(text)
            return text
        except FutureTimeout:
            raise LLMError(f"no answer within {self.timeout:g} s") from None
        except LLMError:
            raise
        except Exception as exc:  # openai/httpx errors of every kind: the caller falls back to quotes
            raise LLMError(f"{type(exc).__name__}: {exc}") from exc
