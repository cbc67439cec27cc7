"""Emission permits (排污许可证): enterprises, outlets, limits and permitted totals (issue 6,
item 1)."""
