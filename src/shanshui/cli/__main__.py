"""``python -m shanshui.cli``."""

from shanshui.cli import main

main()
