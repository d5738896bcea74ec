"""A Zalo OA API simulator: the project's stand-in for openapi.zalo.me and oauth.zaloapp.com.

A WSGI application holding all state in memory behind one lock. It enforces the platform rules
of shared/zalo/ZALO-OA.md, so a test (or the local stack) that talks to it proves the client
obeys them:

- consultation messages (``message/cs``) only within 7 days of the citizen's last interaction
  (-230); the first 8 within 48 h of that interaction are free, later ones billed (``free``);
- promotion messages only to followers (-213), once per follower per Vietnam day (-218), only
  06:00-21:59 Vietnam time (-234), at most the OA's daily quota (500, or 5 % of followers above
  10,000; -211), the day starting at 00:00 Asia/Ho_Chi_Minh (UTC+7, no DST);
- access tokens last 25 h (-220 expired, -216 unknown or revoked); refresh tokens are single use,
  and spending one twice revokes every token of the OA (locked out until re-authorised);
- a per-app, per-minute rate limit (-32, headers ``X-RateLimit-Limit``/``X-RateLimit-Remain``);
- ``user/getlist`` with ``count`` <= 50 and ``offset`` <= 9951 (-201 otherwise), honouring
  ``is_follower`` and ``last_interaction_period`` (TODAY, YESTERDAY, L7D, L30D in Vietnam days);
- a citizen who blocked the OA (``block``, ``POST /_sim/blocks``) gets nothing: -217 until they unblock;
- injected faults (latency, timeouts, HTTP 5xx, any error code) for the next N calls.

Every time rule reads the injectable ``clock``, so tests move time instead of sleeping.

Run standalone: ``python -m tipline_local.zalo_sim --port 8901 [--accounts accounts.json]``.

The package, by role: ``rules`` (the platform's figures, error codes and in-memory records),
``platform`` (state and the control API), ``messaging`` (message/cs, promotion, getlist, quota),
``oauth`` (token pairs, refresh, code exchange), ``citizen`` (a citizen who sends signed webhooks),
``http`` (the WSGI application, its routes and the server) and ``cli``.
"""

from tipline_local.zalo_sim.http import RunningSimulator, ZaloSimulator, serve
from tipline_local.zalo_sim.rules import VIETNAM

__all__ = ["VIETNAM", "RunningSimulator", "ZaloSimulator", "serve"]
