"""SQL text of the store, read from the ``.sql`` files beside this module.

Queries are written once with named parameters ``:name`` and converted for each driver:
``%(name)s`` for psycopg, ``$name`` for DuckDB. A file under ``queries/<dialect>/`` overrides
the common one in ``queries/`` where the dialects must differ. Migrations live in
``migrations/<dialect>/NNNN_name.sql`` and are applied in order of their number.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any, Literal

Dialect = Literal["duckdb", "postgres"]

# ``:name`` but not the ``::type`` cast and not inside a word (``12:30`` has no name).
_PARAM = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")


@dataclass(frozen=True)
class Query:
    """One SQL statement (or script) for one dialect, and the parameter names it takes."""

    name: str
    text: str
    params: frozenset[str]

    def bind(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """The subset of ``values`` this query takes; a missing one is a programming error."""
        missing = self.params - values.keys()
        if missing:
            raise KeyError(f"query {self.name} needs parameters {sorted(missing)}")
        return {k: values[k] for k in self.params}


def _convert(text: str, dialect: Dialect) -> tuple[str, frozenset[str]]:
    names = frozenset(_PARAM.findall(text))
    if dialect == "postgres":
        text = _PARAM.sub(r"%(\1)s", text.replace("%", "%%"))
    else:
        text = _PARAM.sub(r"$\1", text)
    return text, names


@cache
def query(name: str, dialect: Dialect) -> Query:
    """The query ``queries/[<dialect>/]<name>.sql`` converted for ``dialect``."""
    base = resources.files(__package__) / "queries"
    path = base / dialect / f"{name}.sql"
    if not path.is_file():
        path = base / f"{name}.sql"
    text, names = _convert(path.read_text(encoding="utf-8"), dialect)
    return Query(name, text, names)


@dataclass(frozen=True)
class Migration:
    """One numbered schema migration."""

    version: int
    name: str
    text: str


@cache
def migrations(dialect: Dialect) -> tuple[Migration, ...]:
    """All migrations of ``dialect``, in order; numbers must be unique."""
    folder = resources.files(__package__) / "migrations" / dialect
    found: dict[int, Migration] = {}
    for entry in folder.iterdir():
        m = re.fullmatch(r"(\d{4})_(\w+)\.sql", entry.name)
        if m is None:
            continue
        version = int(m.group(1))
        if version in found:
            raise RuntimeError(f"two migrations numbered {version} for {dialect}")
        found[version] = Migration(version, m.group(2), entry.read_text(encoding="utf-8"))
    return tuple(found[v] for v in sorted(found))
