"""Turn text into URL slugs."""

from .normalize import to_ascii
from .slugify import slugify
from .unique import UniqueSlugger

__all__ = ["UniqueSlugger", "slugify", "to_ascii"]

__version__ = "2.1.3"
