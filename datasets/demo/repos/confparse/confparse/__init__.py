"""INI-style configuration files with interpolation."""

from .config import Config, Section
from .errors import ConfigError, InterpolationError, MissingOptionError, MissingSectionError, ParseError
from .parser import parse

__all__ = [
    "Config",
    "ConfigError",
    "InterpolationError",
    "MissingOptionError",
    "MissingSectionError",
    "ParseError",
    "Section",
    "parse",
]

__version__ = "1.2.0"
