"""The one error type users see.

Every problem with user input (a topology file, a TOML configuration, a compressed-layer file,
a command-line value) is raised as :class:`InputError`, whose text is a single line naming the
file, the line (when there is one), the field and the allowed values.  The CLI prints it and
exits with status 2; it never shows a traceback for it.
"""

from __future__ import annotations


class EwssimError(Exception):
    """Base class of ewssim's own errors."""


class InputError(EwssimError, ValueError):
    """Bad user input: the message is one line naming where and what."""

    def __init__(
        self,
        problem: str,
        *,
        source: str | None = None,
        line: int | None = None,
        field: str | None = None,
        allowed: str | None = None,
    ) -> None:
        self.problem = problem
        self.source = source
        self.line = line
        self.field = field
        self.allowed = allowed
        super().__init__(self._format())

    def _format(self) -> str:
        where = ""
        if self.source is not None:
            where = str(self.source)
            if self.line is not None:
                where += f":{self.line}"
            where += ": "
        elif self.line is not None:
            where = f"line {self.line}: "
        what = f"field '{self.field}': " if self.field else ""
        tail = f" (allowed: {self.allowed})" if self.allowed else ""
        text = f"{where}{what}{self.problem}{tail}"
        return " ".join(text.split())  # always one line
