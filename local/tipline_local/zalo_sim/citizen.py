"""A citizen: sends a signed Zalo webhook to the system, as Zalo would deliver it."""

from __future__ import annotations

import json
import uuid
from typing import Any
from urllib.parse import urlsplit

import httpx

from tipline_local.zalo_sim.platform import Platform
from tipline_local.zalo_sim.rules import (
    INTERACTION_EVENTS,
    INTERACTION_PREFIXES,
)


class CitizenDriver(Platform):
    def citizen(
        self,
        oa_id: str,
        user_id: str,
        text: str,
        webhook_url: str,
        event_name: str = "user_send_text",
        attachments: list[dict[str, Any]] | None = None,
        timeout: float = 10.0,
    ) -> int:
        """A citizen acts: a signed Zalo webhook body is POSTed to ``webhook_url``; its status returned."""
        status, _ = self._citizen(oa_id, user_id, text, webhook_url, event_name, attachments, timeout)
        return status

    def _citizen(
        self,
        oa_id: str,
        user_id: str,
        text: str,
        webhook_url: str,
        event_name: str,
        attachments: list[dict[str, Any]] | None,
        timeout: float,
    ) -> tuple[int, str]:
        from tipline.intake.signature import header_value

        from tipline_local.accounts import AccountSeed
        from tipline_local.samples import zalo_body

        host = urlsplit(webhook_url).hostname
        if urlsplit(webhook_url).scheme not in ("http", "https") or host not in ("127.0.0.1", "localhost"):
            raise ValueError("webhook_url must be an http URL on the loopback interface")
        with self._lock:
            oa = self._oa(oa_id)
            now = self.clock()
            msg_id = uuid.uuid4().hex
            seed = AccountSeed(
                oa_id=oa.oa_id,
                app_id=oa.app_id,
                unit_id="sim",
                oa_secret_key=oa.oa_secret_key,
                app_secret=oa.app_secret,
            )
            body = zalo_body(event_name, seed, user_id=user_id, ts=int(now * 1000), text=text, msg_id=msg_id)
            if attachments is not None and isinstance(body.get("message"), dict):
                body["message"]["attachments"] = attachments
            if event_name == "follow":
                self.follow(oa_id, user_id, True)
            elif event_name == "unfollow":
                self.follow(oa_id, user_id, False)
            elif event_name.startswith(INTERACTION_PREFIXES) or event_name in INTERACTION_EVENTS:
                self.interact(oa_id, user_id, now)
            raw = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
            signature = header_value(oa.app_id, raw, body["timestamp"], oa.oa_secret_key)
        # Never hold the lock across the webhook: it may call back into the simulator.
        response = httpx.post(
            webhook_url,
            content=raw,
            headers={"content-type": "application/json", "x-zevent-signature": signature},
            timeout=timeout,
        )
        return response.status_code, msg_id
