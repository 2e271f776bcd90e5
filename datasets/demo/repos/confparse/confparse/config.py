"""The Config object: typed, interpolated access to parsed sections."""

from typing import Dict, Iterator, List, Optional

from .errors import ConfigError, MissingOptionError, MissingSectionError
from .interpolate import interpolate
from .parser import DEFAULT_SECTION, normalize_key, parse

_UNSET = object()

BOOLEAN_STATES = {
    "1": True, "yes": True, "true": True, "on": True,
    "0": False, "no": False, "false": False, "off": False,
}


class Config:
    """Parsed configuration; ``DEFAULT`` options are visible from every section."""

    def __init__(self) -> None:
        self._sections: Dict[str, Dict[str, str]] = {}
        self._defaults: Dict[str, str] = {}

    @classmethod
    def from_string(cls, text: str) -> "Config":
        config = cls()
        config.read_string(text)
        return config

    @classmethod
    def from_file(cls, path: str, encoding: str = "utf-8") -> "Config":
        with open(path, encoding=encoding) as handle:
            return cls.from_string(handle.read())

    def read_string(self, text: str) -> None:
        for name, options in parse(text).items():
            target = self._defaults if name == DEFAULT_SECTION else self._sections.setdefault(name, {})
            target.update(options)

    # -- structure -------------------------------------------------------

    def sections(self) -> List[str]:
        return list(self._sections)

    def has_section(self, section: str) -> bool:
        return section in self._sections

    def add_section(self, section: str) -> None:
        if section == DEFAULT_SECTION or section in self._sections:
            raise ConfigError(f"section {section!r} already exists")
        self._sections[section] = {}

    def options(self, section: str) -> List[str]:
        values = self._section(section)
        return list(dict.fromkeys([*values, *self._defaults]))

    def has_option(self, section: str, option: str) -> bool:
        option = normalize_key(option)
        if section not in self._sections:
            return False
        return option in self._sections[section] or option in self._defaults

    def _section(self, section: str) -> Dict[str, str]:
        try:
            return self._sections[section]
        except KeyError:
            raise MissingSectionError(section) from None

    # -- values ----------------------------------------------------------

    def _lookup(self, section: str, option: str) -> Optional[str]:
        values = self._sections.get(section, {})
        if option in values:
            return values[option]
        return self._defaults.get(option)

    def get(self, section: str, option: str, fallback=_UNSET, raw: bool = False):
        """The value of ``option`` in ``section``, with references expanded unless ``raw``."""
        values = self._section(section)
        if option in values:
            value = values[option]
        elif option in self._defaults:
            value = self._defaults[option]
        elif fallback is not _UNSET:
            return fallback
        else:
            raise MissingOptionError(section, option)
        if raw:
            return value
        return interpolate(section, option, value, self._lookup)

    def getint(self, section: str, option: str, fallback=_UNSET) -> int:
        value = self.get(section, option, fallback)
        return value if value is fallback else int(value)

    def getfloat(self, section: str, option: str, fallback=_UNSET) -> float:
        value = self.get(section, option, fallback)
        return value if value is fallback else float(value)

    def getboolean(self, section: str, option: str, fallback=_UNSET) -> bool:
        value = self.get(section, option, fallback)
        if value is fallback:
            return value
        try:
            return BOOLEAN_STATES[value.strip().lower()]
        except KeyError:
            raise ConfigError(f"[{section}] {option}: not a boolean: {value!r}") from None

    def getlist(self, section: str, option: str, fallback=_UNSET, separator: str = ",") -> List[str]:
        """Split on newlines (continuation lines) and on ``separator``; blanks are dropped."""
        value = self.get(section, option, fallback)
        if value is fallback:
            return value
        items = []
        for line in value.splitlines():
            items.extend(item.strip() for item in line.split(separator))
        return [item for item in items if item]

    def set(self, section: str, option: str, value: str) -> None:
        if not isinstance(value, str):
            raise TypeError("option values must be strings")
        target = self._defaults if section == DEFAULT_SECTION else self._section(section)
        target[normalize_key(option)] = value

    def __getitem__(self, section: str) -> "Section":
        self._section(section)
        return Section(self, section)

    def __contains__(self, section: object) -> bool:
        return section in self._sections

    def __iter__(self) -> Iterator[str]:
        return iter(self._sections)


class Section:
    """A view of one section: ``config["server"]["port"]``."""

    def __init__(self, config: Config, name: str) -> None:
        self._config = config
        self.name = name

    def __getitem__(self, option: str) -> str:
        return self._config.get(self.name, option)

    def __contains__(self, option: object) -> bool:
        return isinstance(option, str) and self._config.has_option(self.name, option)

    def get(self, option: str, fallback=None) -> Optional[str]:
        return self._config.get(self.name, option, fallback)

    def keys(self) -> List[str]:
        return self._config.options(self.name)

    def __repr__(self) -> str:
        return f"<Section {self.name}>"
