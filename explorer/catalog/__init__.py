"""The catalogue wing: items, ratings and histories (`model`), the files they come from (`files`,
`movielens`), and a person's history from a file, pasted lines or a demo persona (`histories`)."""

from explorer.catalog.model import (DISLIKE_THRESHOLD, LIKE_THRESHOLD, MAX_DESCRIPTION_CHARS, Catalog, History, Item,
                                    Rating,
                                    normalise_title)
from explorer.catalog.files import catalog_from_rows
from explorer.catalog.loaders import guess_format, load_catalog
from explorer.catalog.histories import (Ambiguous, ParsedHistory, Persona, history_from_lines, load_history_file,
                                        load_personas, require_usable)

__all__ = ["Ambiguous", "DISLIKE_THRESHOLD", "LIKE_THRESHOLD", "MAX_DESCRIPTION_CHARS", "Catalog", "History", "Item", "ParsedHistory", "Persona", "Rating",
           "catalog_from_rows", "guess_format", "history_from_lines", "load_catalog", "load_history_file",
           "load_personas", "normalise_title", "require_usable"]
