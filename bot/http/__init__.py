"""The intranet HTTP API and chat widget (``newsbot serve``): ``create_app``."""

from bot.http.app import check_settings, create_app

__all__ = ["check_settings", "create_app"]
