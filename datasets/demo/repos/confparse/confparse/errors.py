"""Exceptions raised by confparse."""


class ConfigError(Exception):
    """Base class for every confparse error."""


class ParseError(ConfigError):
    def __init__(self, lineno: int, message: str, line: str = "") -> None:
        self.lineno = lineno
        self.line = line
        super().__init__(f"line {lineno}: {message}" + (f": {line!r}" if line else ""))


class MissingSectionError(ConfigError, KeyError):
    def __init__(self, section: str) -> None:
        self.section = section
        super().__init__(f"no section {section!r}")

    def __str__(self) -> str:
        return self.args[0]


class MissingOptionError(ConfigError, KeyError):
    def __init__(self, section: str, option: str) -> None:
        self.section = section
        self.option = option
        super().__init__(f"no option {option!r} in section {section!r}")

    def __str__(self) -> str:
        return self.args[0]


class InterpolationError(ConfigError):
    def __init__(self, section: str, option: str, message: str) -> None:
        self.section = section
        self.option = option
        super().__init__(f"[{section}] {option}: {message}")
