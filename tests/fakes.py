"""Stand-ins for the gateway's collaborators, for session tests without sockets or a store.

:class:`Directory` answers device lookups (:class:`shanshui.ingest.session.DeviceDirectory`)
for a fixed set of active devices with one password; :class:`Committer` records the journal
commits. Shared by ``test_clock_set.py`` and ``test_device_events.py``.
"""

from __future__ import annotations

from collections.abc import Iterable

from shanshui.ingest.session import DeviceEntry

#: The password every fake device has (HJ 212-2017 examples use 123456).
PASSWORD = "123456"


class Directory:
    """Active devices ``mns`` (any MN when None) at site ``site``, those in ``no_site``
    without one, all with :data:`PASSWORD`; sightings, unknown MNs and refusals ignored."""

    def __init__(
        self,
        mns: Iterable[str] | None = None,
        *,
        site: str = "1001A",
        no_site: Iterable[str] = (),
        password: str = PASSWORD,
    ) -> None:
        self.site = site
        self.no_site = frozenset(no_site)
        self.password = password
        self.devices = None if mns is None else {mn: self._entry(mn) for mn in mns}
        self.recalls: dict[str, list[object]] = {}

    def _entry(self, mn: str) -> DeviceEntry:
        return DeviceEntry(mn, "active", "h", None if mn in self.no_site else self.site)

    def lookup(self, mn: str) -> DeviceEntry | None:
        if self.devices is None:
            return self._entry(mn)
        return self.devices.get(mn)

    def password_known(self, device: DeviceEntry, password: str) -> bool | None:
        return password == self.password

    async def verify(self, device: DeviceEntry, password: str) -> bool:
        return password == self.password

    def note_unknown(self, mn: str, peer: str, protocol: str | None) -> None:
        pass

    def note_refused(self, mn: str, peer: str) -> None:
        pass

    def note_seen(self, mn: str, peer: str) -> None:
        pass


class Committer:
    """A journal stand-in that keeps what it was given."""

    def __init__(self) -> None:
        self.payloads: list[bytes] = []

    async def commit(self, payloads: list[bytes]) -> None:
        self.payloads += payloads


class AnsweringDirectory(Directory):
    """A :class:`Directory` that also takes the devices' 9011/9012 (``recall_answer``, as
    :class:`shanshui.ingest.gateway.DeviceRegistry`), records them and matches none."""

    def __init__(self, mns: Iterable[str] | None = None, **kwargs: object) -> None:
        super().__init__(mns, **kwargs)  # type: ignore[arg-type]
        self.answers: list[tuple[str, str, str, int | None]] = []

    def recall_answer(self, mn: str, qn: str, cn: str, code: int | None) -> bool:
        self.answers.append((mn, qn, cn, code))
        return False
