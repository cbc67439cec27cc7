"""Integer keys of sites and parameters (migration 0004) and their caches.

Readings are stored by ``site_id`` and ``parameter_id`` (table ``obs``); the codes live in
``site_key`` and ``parameter_key``. A code gets its id when it is registered and keeps it for
ever (sites and parameters are never deleted or renamed), so the maps cached here never go
stale: a code not cached yet is fetched, in the caller's session. :class:`CodeIds` is a mixin
of :class:`~shanshui.store.sqlstore.SQLStore`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from shanshui.store.api import StoreInputError
from shanshui.store.mixin import SQLParts

__all__ = ["CodeIds", "encode"]

#: The Arrow type of the ids (``integer`` columns in both dialects).
ID = pa.int32()


class CodeIds(SQLParts):
    """``site_ids`` / ``parameter_ids`` over SQL, cached per store object."""

    def _init_codes(self) -> None:
        self._site_id: dict[str, int] = {}
        self._site_code: dict[int, str] = {}
        self._parameter_id: dict[str, int] = {}
        self._parameter_code: dict[int, str] = {}

    # -- in a session -------------------------------------------------------------------------
    def _fetch_sites(self, codes: Sequence[str]) -> None:
        """Cache id and time zone of the registered sites among ``codes`` (in a session)."""
        missing = [c for c in codes if c not in self._site_id]
        if missing:
            found = self._fetch("site_ids", {"codes": missing})
            if len(found) < len(set(missing)):  # registered without a key yet, or unknown
                self._exec("site_key_fill", {"codes": missing})
                found = self._fetch("site_ids", {"codes": missing})
            for code, i, tz in found:
                self._site_id[code] = int(i)
                self._site_code[int(i)] = code
                self._site_tz[code] = tz

    def _fetch_parameters(self, codes: Sequence[str]) -> None:
        missing = [c for c in codes if c not in self._parameter_id]
        if missing:
            found = self._fetch("parameter_ids", {"codes": missing})
            if len(found) < len(set(missing)):  # registered without a key yet, or unknown
                self._exec("parameter_key_fill", {"codes": missing})
                found = self._fetch("parameter_ids", {"codes": missing})
            for code, i in found:
                self._parameter_id[code] = int(i)
                self._parameter_code[int(i)] = code

    def _sites_in_session(self, codes: Sequence[str]) -> dict[str, int]:
        """``{code: id}`` for ``codes``; unknown codes raise StoreInputError."""
        self._fetch_sites(codes)
        unknown = sorted({c for c in codes if c not in self._site_id})
        if unknown:
            raise StoreInputError(
                f"unknown sites {unknown[:10]} ({len(unknown)}); register them first"
            )
        return {c: self._site_id[c] for c in codes}

    def _parameters_in_session(self, codes: Sequence[str]) -> dict[str, int]:
        self._fetch_parameters(codes)
        unknown = sorted({c for c in codes if c not in self._parameter_id})
        if unknown:
            raise StoreInputError(
                f"unknown parameters {unknown[:10]}; register them (with units) first"
            )
        return {c: self._parameter_id[c] for c in codes}

    # -- public -------------------------------------------------------------------------------
    def site_ids(self, codes: Sequence[str]) -> dict[str, int]:
        codes = _codes(codes)
        if all(c in self._site_id for c in codes):
            return {c: self._site_id[c] for c in codes}
        with self._session(write=False):
            return self._sites_in_session(codes)

    def parameter_ids(self, codes: Sequence[str]) -> dict[str, int]:
        codes = _codes(codes)
        if all(c in self._parameter_id for c in codes):
            return {c: self._parameter_id[c] for c in codes}
        with self._session(write=False):
            return self._parameters_in_session(codes)

    def _known_ids(self, codes: Sequence[str] | None, *, site: bool) -> list[int] | None:
        """Ids of the registered codes among ``codes`` (unknown ones left out; None stays
        None), for readers: a filter on an unknown code selects nothing (in a session)."""
        if codes is None:
            return None
        if site:
            self._fetch_sites(codes)
            return [self._site_id[c] for c in codes if c in self._site_id]
        self._fetch_parameters(codes)
        return [self._parameter_id[c] for c in codes if c in self._parameter_id]

    def _decoder(self, *, site: bool) -> Callable[[pa.Array | pa.ChunkedArray], pa.Array]:
        """A function mapping an array of cached ids back to their codes (vectorised)."""
        table = self._site_code if site else self._parameter_code
        ids = pa.array(list(table), ID)
        codes = pa.array(list(table.values()), pa.string())

        def decode(values: pa.Array | pa.ChunkedArray) -> pa.Array:
            return pc.take(codes, pc.index_in(values, value_set=ids))

        return decode


def _codes(codes: Sequence[str]) -> list[str]:
    if isinstance(codes, str):
        raise StoreInputError("give a sequence of codes, not one string")
    return [str(c) for c in codes]


def encode(
    column: pa.Array | pa.ChunkedArray, ids_of: Callable[[list[str]], dict[str, int]]
) -> pa.Array:
    """``column`` of codes (strings, or a dictionary of strings) as an array of their ids:
    one hash pass over the rows (Arrow's dictionary encoding; none for a dictionary column),
    ``ids_of`` over the distinct codes only, then a gather. Unknown codes: whatever
    ``ids_of`` raises (a dictionary's unused entries are not looked up)."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()  # dictionaries of the chunks are unified
    encoded = column if pa.types.is_dictionary(column.type) else pc.dictionary_encode(column)
    indices = encoded.indices
    used = pc.unique(indices)
    if len(used) == len(encoded.dictionary):
        distinct = encoded.dictionary.to_pylist()
        found = ids_of(distinct)
        lookup = pa.array([found[c] for c in distinct], ID)
    else:  # a dictionary with entries no row uses (rows filtered after encoding)
        distinct = pc.take(encoded.dictionary, used).to_pylist()
        found = ids_of(distinct)
        table = np.zeros(len(encoded.dictionary), dtype=np.int32)
        table[used.to_numpy(zero_copy_only=False)] = [found[c] for c in distinct]
        lookup = pa.array(table, ID)
    return pc.take(lookup, indices)
