"""``newsbot repl``: ask questions interactively, with line editing, history and follow-ups."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from bot.answer import Answer
from bot.conversation import Conversation
from bot.errors import NewsbotError
from bot.feedback import QuestionLog
from bot.qa import NewsQA
from bot.render import answer_text, debug_text, source_line
from bot.texts import REPL_HELP

logger = logging.getLogger(__name__)


class Repl:
    """The read-eval-print loop; reads lines from ``input`` and never dies on an error."""

    def __init__(
        self,
        qa: NewsQA,
        *,
        write: Callable[[str], None] = print,
        history_file: Path | None = None,
        prompt: str = "newsbot> ",
        questions: QuestionLog | None = None,
    ) -> None:
        self.qa = qa
        self.write = write
        self.prompt = prompt
        self.history_file = history_file
        self.conversation = Conversation()
        self.last_answer: Answer | None = None  # with its debug data, for :debug
        self.debug = False
        self.questions = questions  # the question log (``newsbot report``); None = not logged

    def run(self, stdin: TextIO | None = None) -> None:
        """Loop until ``:quit`` or end of input."""
        interactive = stdin is None
        if interactive:
            self._setup_readline()
        self.write('newsbot: ask about the articles (":help" for commands, ":quit" to leave).')
        while True:
            try:
                line = input(self.prompt) if stdin is None else stdin.readline()
            except EOFError:
                break
            except KeyboardInterrupt:
                self.write("")
                continue
            if not interactive and line == "":
                break
            if not self.handle(line.strip()):
                break
        if interactive:
            self._save_history()

    def handle(self, line: str) -> bool:
        """Process one line; ``False`` ends the loop."""
        if not line:
            return True
        try:
            if line.startswith(":"):
                return self._command(line)
            answer = self.last_answer = self.qa.ask(line, conversation=self.conversation)
            if self.questions is not None:
                self.questions.record(answer, front_end="repl")  # never raises: a failure is a warning
            self.write(answer_text(answer, debug=self.debug))
        except NewsbotError as exc:
            self.write(f"Error: {exc}")
        except Exception as exc:  # the loop survives anything; details go to the log
            logger.exception("REPL command failed")
            self.write(f"Unexpected error ({type(exc).__name__}: {exc}); the session goes on.")
        return True

    def _command(self, line: str) -> bool:
        name, _, arg = line.partition(" ")
        arg = arg.strip()
        if name in (":quit", ":exit", ":q"):
            return False
        if name == ":help":
            self.write(REPL_HELP)
        elif name == ":sources":
            last = self.conversation.last
            if last is None or not last.citations:
                self.write("No sources yet: the last answer cited nothing.")
            else:
                self.write("\n".join(source_line(c) for c in last.citations))
        elif name == ":debug":
            self.debug = not self.debug
            self.write(f"debug {'on' if self.debug else 'off'}")
            if self.debug and self.last_answer is not None:
                self.write(debug_text(self.last_answer))
        elif name in (":since", ":until"):
            self._set_date(name[1:], arg or None)
        elif name == ":reset":
            self.conversation.reset()
            self.write("Conversation and date filters reset.")
        else:
            self.write(f"Unknown command {name}. Type :help for the list.")
        return True

    def _set_date(self, which: str, value: str | None) -> None:
        if value is not None:
            try:
                self.qa.check_date(value)
            except NewsbotError as exc:
                self.write(f"Error: {exc}")
                return
        setattr(self.conversation, which, value)
        self.write(f"{which}: {value or 'cleared'}")

    def _setup_readline(self) -> None:
        try:
            import readline
        except ImportError:  # not on every platform; the loop works without it
            return
        if self.history_file and self.history_file.exists():
            with contextlib.suppress(OSError):
                readline.read_history_file(self.history_file)
        readline.set_history_length(1000)

    def _save_history(self) -> None:
        try:
            import readline

            if self.history_file:
                self.history_file.parent.mkdir(parents=True, exist_ok=True)
                readline.write_history_file(self.history_file)
        except (ImportError, OSError):
            pass
