"""What the store's mixins (:class:`~shanshui.store.alarms.AlarmStore`,
:class:`~shanshui.store.keys.KeyStore`, :class:`~shanshui.store.codes.CodeIds`,
:class:`~shanshui.store.writing.ObservationWriter`) use of
:class:`~shanshui.store.sqlstore.SQLStore`, declared once for the type checker.

At run time the class is empty: :class:`SQLStore` inherits the mixins and provides these
attributes and methods itself.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from contextlib import AbstractContextManager
from datetime import datetime
from typing import TYPE_CHECKING, Any

import pyarrow as pa


class SQLParts:
    """The SQL primitives of :class:`~shanshui.store.sqlstore.SQLStore` (see module doc)."""

    if TYPE_CHECKING:  # provided by SQLStore
        _lock: threading.RLock
        _site_tz: dict[str, str]

        def _session(self, *, write: bool = True) -> AbstractContextManager[None]: ...

        def _exec(self, name: str, params: Mapping[str, Any] | None = None) -> int: ...

        def _fetch(
            self, name: str, params: Mapping[str, Any] | None = None
        ) -> list[tuple[Any, ...]]: ...

        def _stage(self, name: str, table: pa.Table) -> None: ...

        def _load(self, name: str, rows: Any) -> None: ...

        def _insert_audit(
            self, *, changed: datetime, actor: str, action: str, entity: str,
            site: str | None, key: str, old: Any, new: Any, reason: str | None,
        ) -> None: ...  # fmt: skip
