"""ConfigError: what is wrong with a bot.yaml, and where: a line of the file, or the environment variable that set it."""

from __future__ import annotations


class ConfigError(ValueError):
    """What is wrong with a bot.yaml and where; `errors` lists every problem found (just this one, if alone).

    `variable` names the environment variable (a `BOTKIT_<SECTION>__<KEY>` override) that supplied the wrong
    value; such a problem has no line.
    """

    def __init__(
        self,
        reason: str,
        *,
        source: str = "<string>",
        line: int | None = None,
        key: str | None = None,
        variable: str | None = None,
    ) -> None:
        super().__init__(reason)
        self.source = source
        self.line = line
        self.key = key
        self.variable = variable
        self.reason = reason
        self.errors: list[ConfigError] = [self]

    def __str__(self) -> str:
        if self.errors[0] is not self:
            return "\n".join([f"{self.source}: {self.reason}", *(f"  {error}" for error in self.errors)])
        if self.variable is not None:
            place = f"environment variable {self.variable}"
        else:
            place = self.source if self.line is None else f"{self.source}:{self.line}"
        return f"{place}: {self.key}: {self.reason}" if self.key else f"{place}: {self.reason}"


def combined(errors: list[ConfigError]) -> ConfigError:
    """One exception for several problems, in file order (those from the environment last), so the caller needs a
    single `except ConfigError`."""
    errors = sorted(errors, key=lambda error: (error.line is None, error.line or 0))
    if len(errors) == 1:
        return errors[0]
    error = ConfigError(f"{len(errors)} problems", source=errors[0].source)
    error.errors = errors
    return error
