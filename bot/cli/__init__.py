"""The ``newsbot`` command line: a thin adapter over ``NewsQA`` (asking) and ``NewsAdmin`` (the index).

``base`` holds the group and the error handling; importing the command modules registers them.
"""

import bot.cli.watching  # noqa: F401  (registers sources, watch)
from bot.cli import admin, asking, feedback, servers  # noqa: F401  (registers the commands)
from bot.cli.base import main

__all__ = ["main"]
