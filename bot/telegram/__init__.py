"""The Telegram front end: ``app`` (the bot: updates, guards, commands, questions), ``render``
(answers as Telegram HTML within message limits) and ``delivery`` (sending, retries, drafts)."""

from bot.telegram.app import NewsBot, check_settings, run

__all__ = ["NewsBot", "check_settings", "run"]
