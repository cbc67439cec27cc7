"""shanshui (山水) — open platform for real-time eco-environmental monitoring and governance.

Layers (each knows only those below it; see ``../shared/DESIGN.md``):

1. :mod:`shanshui.hj212` — sans-IO codec for HJ 212 (2005, 2017, 2025 editions).
2. :mod:`shanshui.standards` — pure functions implementing national standards.
3. :mod:`shanshui.store` — DuckDB (embedded) and PostgreSQL (server) behind one interface.
4. :mod:`shanshui.ingest` — gateway, importers, simulator.
5. analysis and rules.
6. faces: :mod:`shanshui.cli`, API, web portal.
"""

__version__ = "0.1.0"
