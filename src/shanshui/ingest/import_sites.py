"""The sites and parameters an import creates (DESIGN §5), for :mod:`shanshui.ingest.importers`.

- **Sites not yet in the store** are created from the shipped national station list
  (:func:`shanshui.formats.stations`, region from the city) when they are on it; others stay
  unknown (the importer leaves their values out and reports them). A fresh store gets the
  list's regions with its first sites. The list is parsed once, and for an empty store ahead
  of need in a thread (while the first file is read: :meth:`Registrar.load_ahead`).
- **Parameters not yet in the store** are created with the unit the reader gives
  (:data:`shanshui.formats.UNITS`, or a long CSV's ``unit`` column) and, for the six air
  pollutants, their HJ 212-2017 codes (:data:`shanshui.store.seed.AIR_PARAMETERS`).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

import pandas as pd

from shanshui import formats
from shanshui.store.api import Parameter, Region, Store
from shanshui.store.seed import AIR_PARAMETERS, city_index, region_records, station_records

__all__ = ["Registrar"]

#: The shipped station list by code, its regions and their city index.
StationList = tuple[pd.DataFrame, list[Region], dict[str, str]]


class Registrar:
    """Knows the sites and parameters of one store and creates the missing ones.

    Parameters
    ----------
    store : the open store.
    create_sites : create missing sites from the station list (else every missing site is
        unknown).
    """

    def __init__(self, store: Store, *, create_sites: bool = True) -> None:
        self.store = store
        self.create_sites = create_sites
        self.sites: set[str] = {s.code for s in store.sites()}
        self.parameters: set[str] = {p.code for p in store.parameters()}
        self._listed: StationList | None = None
        self._listed_lock = threading.Lock()
        self._regions_checked = False

    def station_list(self) -> StationList:
        """The shipped national station list (by code), its regions and their city index;
        loaded once (thread-safe: :meth:`load_ahead` may be loading it in a thread)."""
        with self._listed_lock:
            if self._listed is None:
                regions = region_records(formats.regions())
                listed = formats.stations().set_index("code", drop=False)
                self._listed = (listed, regions, city_index(regions))
            return self._listed

    def load_ahead(self) -> None:
        """For an empty store that will create sites: load the station list in a thread
        (its sites will all come from it; the first file is read meanwhile)."""
        if self.create_sites and not self.sites:
            threading.Thread(
                target=self._load_quietly, name="shanshui-import-stations", daemon=True
            ).start()

    def _load_quietly(self) -> None:
        try:
            self.station_list()
        except Exception:  # the caller's own load raises it where it matters
            return

    def ensure_sites(
        self, codes: Iterable[str], created: list[str], ahead: Iterable[str] = ()
    ) -> set[str]:
        """Create the sites among ``codes`` missing from the store that are on the station
        list; the codes that are still unknown. ``ahead``: sites of files read ahead, created
        in the same upsert if one is made (on the list and missing only); ``created`` gets
        the codes created."""
        missing = sorted(set(codes) - self.sites)
        if not missing:
            return set()
        listed, regions, cities = self.station_list()
        known = [c for c in missing if c in listed.index] if self.create_sites else []
        if known:
            later = set(ahead) - self.sites - set(known)
            known += sorted(c for c in later if c in listed.index)
            if not self._regions_checked:
                if not self.store.regions():  # a fresh store: the sites' regions come along
                    self.store.upsert_regions(regions)
                self._regions_checked = True
            sites = station_records(listed.loc[known].reset_index(drop=True), cities)
            self.store.upsert_sites(sites)
            self.sites.update(known)
            created.extend(known)
        return set(missing) - set(known)

    def ensure_parameters(
        self, codes: Iterable[str], units: dict[str, str], created: list[str]
    ) -> None:
        """Create the parameters among ``codes`` missing from the store (units: the reader's,
        over :data:`shanshui.formats.UNITS`); ``created`` gets the codes created."""
        missing = sorted(set(codes) - self.parameters)
        if not missing:
            return
        unit_of = {**formats.UNITS, **units}
        by_code = {p.code: p for p in AIR_PARAMETERS}
        new = [by_code.get(code) or Parameter(code, code, unit_of[code]) for code in missing]
        self.store.upsert_parameters(new, replace=False)  # one defined meanwhile stays
        self.parameters.update(missing)
        created.extend(missing)
