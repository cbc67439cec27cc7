"""The open read API (issue 5, item 1): FastAPI under ``/api/v1``, OpenAPI at ``/docs``.

:func:`create_app` builds the app over an open :class:`~shanshui.store.Store`; see
:mod:`shanshui.api.app` for the conventions (time labels, errors, pagination, keys).
"""

from shanshui.api.app import create_app
from shanshui.api.auth import ApiKeys, hash_key, new_key

__all__ = ["ApiKeys", "create_app", "hash_key", "new_key"]
