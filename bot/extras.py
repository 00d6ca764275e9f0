"""Optional front ends are pip extras: ``newsbot[telegram]``, ``newsbot[http]``, ``newsbot[llm]``
(``newsbot[all]`` for every one; ``scripts/setup.sh`` installs all). A command that needs one
that is missing says which to install instead of failing on an import."""

from __future__ import annotations

from importlib.util import find_spec

from bot.errors import ConfigError

EXTRAS = {
    "telegram": ("telegram", "the Telegram bot"),
    "http": ("fastapi", "the HTTP API and the widget"),
    "llm": ("llama_index.llms.openai_like", "generative answers (NEWSBOT_LLM_*)"),
}


def require(extra: str) -> None:
    """Raise a ``ConfigError`` naming the pip extra when its packages are not installed."""
    module, what = EXTRAS[extra]
    try:
        found = find_spec(module) is not None
    except ModuleNotFoundError:  # a parent package is missing
        found = False
    if not found:
        raise ConfigError(f"{what.capitalize()} needs the '{extra}' extra: pip install 'newsbot[{extra}]'")
