"""``python -m tipline_local.zalo_sim``: the simulator on a loopback port."""

from __future__ import annotations

import argparse
import threading

from tipline_local.zalo_sim.http import ZaloSimulator, serve
from tipline_local.zalo_sim.rules import DEFAULT_RATE_LIMIT, DEFAULT_TIMEOUT_SECONDS


def main(argv: list[str] | None = None) -> None:
    from tipline_local.accounts import AccountsError, load_accounts

    parser = argparse.ArgumentParser(description="Zalo OA API simulator (dev tooling)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8901)
    parser.add_argument(
        "--accounts", help="a JSON list of accounts, or a file holding one (else TIPLINE_ACCOUNTS, the demo)"
    )
    parser.add_argument("--rate-limit", type=int, default=DEFAULT_RATE_LIMIT, help="calls per app a minute")
    parser.add_argument("--timeout-seconds", type=float, default=DEFAULT_TIMEOUT_SECONDS)
    args = parser.parse_args(argv)
    if args.host not in ("127.0.0.1", "localhost"):
        parser.error("the simulator only listens on the loopback interface")
    try:
        accounts = load_accounts(args.accounts, "--accounts") if args.accounts else load_accounts()
    except AccountsError as exc:
        parser.error(str(exc))
    sim = ZaloSimulator(rate_limit=args.rate_limit, timeout_seconds=args.timeout_seconds)
    sim.add_accounts(accounts)
    running = serve(sim, args.host, args.port)
    print(f"zalo simulator listening on {running.url}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        running.stop()
