"""``python -m tipline_local.zalo_sim --port 8901 [--accounts accounts.json]``."""

from tipline_local.zalo_sim.cli import main

main()
