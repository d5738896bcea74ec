"""``python -m tipline_local.rehearse`` (or ``make rehearse``)."""

from tipline_local.rehearse.engine import main

main()
