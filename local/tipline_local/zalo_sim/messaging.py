"""Zalo's messaging rules: consultation and promotion messages, follower list, quota."""

from __future__ import annotations

import json
import uuid
from typing import Any

from werkzeug.wrappers import Request

from tipline_local.zalo_sim.platform import Platform
from tipline_local.zalo_sim.rules import (
    BLOCKED_OA,
    FREE_MESSAGES,
    FREE_WINDOW,
    GETLIST_MAX_COUNT,
    GETLIST_MAX_OFFSET,
    INVALID_PARAM,
    NIGHT_BAN,
    NOT_FOLLOWER,
    OUT_OF_QUOTA,
    OUTSIDE_WINDOW,
    PROMOTION_END_HOUR,
    PROMOTION_FIRST_HOUR,
    RECEIVE_QUOTA,
    TEXT_LIMIT,
    TOKEN_EXPIRED,
    TOKEN_INVALID,
    WINDOW,
    OaState,
    Refused,
    iso,
    next_vietnam_midnight,
    vietnam_day,
    vietnam_hour,
)

INTERACTION_PERIODS = ("TODAY", "YESTERDAY", "L7D", "L30D")


def _interacted_in(last_interaction: float | None, period: str, today: int) -> bool:
    """Whether a citizen's last interaction falls in getlist's ``last_interaction_period``, counted
    in Vietnam calendar days: today, yesterday, the last 7 or the last 30 days (today included)."""
    if last_interaction is None:
        return False
    days_ago = today - vietnam_day(last_interaction)
    if period == "TODAY":
        return days_ago == 0
    if period == "YESTERDAY":
        return days_ago == 1
    return 0 <= days_ago < (7 if period == "L7D" else 30)


class Messaging(Platform):
    def _authenticate(self, request: Request) -> OaState:
        value = request.headers.get("access_token", "")
        token = self._tokens.get(value) if value else None
        if token is None or token.kind != "access" or token.revoked:
            raise Refused(TOKEN_INVALID)
        if self.clock() >= token.expires_at:
            raise Refused(TOKEN_EXPIRED)
        return self._oas[token.oa_id]

    def _count_rate(self, oa: OaState) -> tuple[dict[str, str], bool]:
        key = (oa.app_id, int(self.clock() // 60))
        used = self._rates.get(key, 0) + 1
        self._rates = {k: v for k, v in self._rates.items() if k[1] >= key[1] - 1}
        self._rates[key] = used
        headers = {
            "X-RateLimit-Limit": str(self.rate_limit),
            "X-RateLimit-Remain": str(max(self.rate_limit - used, 0)),
        }
        return headers, used > self.rate_limit

    @staticmethod
    def _json_body(request: Request) -> dict[str, Any]:
        try:
            body = json.loads(request.get_data() or b"null")
        except ValueError as exc:
            raise Refused(INVALID_PARAM, "body is not JSON", "invalid_request") from exc
        if not isinstance(body, dict):
            raise Refused(INVALID_PARAM, "body must be a JSON object", "invalid_request")
        return body

    @staticmethod
    def _recipient(body: dict[str, Any]) -> str:
        recipient = body.get("recipient")
        user_id = recipient.get("user_id") if isinstance(recipient, dict) else None
        if not isinstance(user_id, str) or not user_id:
            raise Refused(INVALID_PARAM, "recipient.user_id is required", "invalid_request")
        return user_id

    def _send_cs(self, request: Request, oa: OaState) -> dict[str, Any]:
        body = self._json_body(request)
        user_id = self._recipient(body)
        message = body.get("message")
        if not isinstance(message, dict):
            raise Refused(INVALID_PARAM, "message is required", "invalid_request")
        text = message.get("text")
        if text is None and not isinstance(message.get("attachment"), dict):
            raise Refused(INVALID_PARAM, "message.text or message.attachment is required", "invalid_request")
        if text is not None and (not isinstance(text, str) or not text.strip()):
            raise Refused(INVALID_PARAM, "message.text must be a non-empty string", "invalid_request")
        if isinstance(text, str) and len(text) > TEXT_LIMIT:
            detail = f"message.text longer than {TEXT_LIMIT} characters"
            raise Refused(INVALID_PARAM, detail, "text_too_long")
        now = self.clock()
        contact = self._contacts.get((oa.oa_id, user_id))
        if contact is not None and contact.blocked_oa:
            raise Refused(BLOCKED_OA)  # not a rule the OA broke: it cannot know
        last = contact.last_interaction if contact else None
        if contact is None or last is None or now - last > WINDOW:
            raise Refused(OUTSIDE_WINDOW, rule="interaction_window")
        free = now - last <= FREE_WINDOW and contact.free_used < FREE_MESSAGES
        if free:
            contact.free_used += 1
        message_id = uuid.uuid4().hex
        self._sent.append(
            {
                "path": request.path,
                "oa_id": oa.oa_id,
                "user_id": user_id,
                "text": text if isinstance(text, str) else "",
                "message_id": message_id,
                "kind": "cs",
                "at": now,
                "free": free,
            }
        )
        remain = FREE_MESSAGES - contact.free_used if now - last <= FREE_WINDOW else 0
        quota = {
            "quota_type": "reply_free" if free else "reply_billed",
            "remain": remain,
            "total": FREE_MESSAGES,
            "expired_date": iso(last + FREE_WINDOW),
        }
        return {"message_id": message_id, "user_id": user_id, "quota": quota}

    def _send_promotion(self, request: Request, oa: OaState) -> dict[str, Any]:
        body = self._json_body(request)
        user_id = self._recipient(body)
        message = body.get("message")
        attachment = message.get("attachment") if isinstance(message, dict) else None
        payload = attachment.get("payload") if isinstance(attachment, dict) else None
        if not isinstance(payload, dict) or payload.get("template_type") != "promotion":
            raise Refused(
                INVALID_PARAM, "message.attachment.payload.template_type must be promotion", "invalid_request"
            )
        elements = payload.get("elements")
        if not isinstance(elements, list) or not elements:
            raise Refused(INVALID_PARAM, "payload.elements must be a non-empty list", "invalid_request")
        now = self.clock()
        contact = self._contacts.get((oa.oa_id, user_id))
        if contact is not None and contact.blocked_oa:
            raise Refused(BLOCKED_OA)  # not a rule the OA broke: it cannot know
        if contact is None or not contact.following:
            raise Refused(NOT_FOLLOWER, rule="promotion_follower_only")
        if not PROMOTION_FIRST_HOUR <= vietnam_hour(now) < PROMOTION_END_HOUR:
            raise Refused(NIGHT_BAN, rule="promotion_hours")
        day = vietnam_day(now)
        if contact.promotion_day == day:
            raise Refused(RECEIVE_QUOTA, "one promotion per follower per day", "promotion_once_per_day")
        if oa.promotions.get(day, 0) >= self.promotion_quota(oa.oa_id):
            raise Refused(OUT_OF_QUOTA, "daily promotion quota used up", "promotion_daily_quota")
        contact.promotion_day = day
        oa.promotions = {day: oa.promotions.get(day, 0) + 1}
        message_id = uuid.uuid4().hex
        parts = [
            str(element.get("content", ""))
            for element in elements
            if isinstance(element, dict) and element.get("type") in ("header", "text")
        ]
        self._sent.append(
            {
                "path": request.path,
                "oa_id": oa.oa_id,
                "user_id": user_id,
                "text": "\n".join(parts),
                "message_id": message_id,
                "kind": "promotion",
                "at": now,
                "free": False,
            }
        )
        return {"message_id": message_id, "user_id": user_id}

    def _getlist(self, request: Request, oa: OaState) -> dict[str, Any]:
        try:
            query = json.loads(request.args.get("data", ""))
        except ValueError as exc:
            raise Refused(INVALID_PARAM, "data must be a JSON object", "invalid_request") from exc
        if not isinstance(query, dict):
            raise Refused(INVALID_PARAM, "data must be a JSON object", "invalid_request")
        offset, count = query.get("offset", 0), query.get("count", GETLIST_MAX_COUNT)
        if type(offset) is not int or type(count) is not int:
            raise Refused(INVALID_PARAM, "offset and count must be integers", "invalid_request")
        if not 1 <= count <= GETLIST_MAX_COUNT:
            raise Refused(INVALID_PARAM, f"count must be 1..{GETLIST_MAX_COUNT}", "getlist_paging")
        if not 0 <= offset <= GETLIST_MAX_OFFSET:
            raise Refused(INVALID_PARAM, f"offset must be 0..{GETLIST_MAX_OFFSET}", "getlist_paging")
        follower = query.get("is_follower")
        if isinstance(follower, str):
            follower = {"true": True, "false": False}.get(follower.lower(), follower)
        if follower is not None and not isinstance(follower, bool):
            raise Refused(INVALID_PARAM, "is_follower must be true or false", "invalid_request")
        period = query.get("last_interaction_period")
        if period is not None and period not in INTERACTION_PERIODS:
            raise Refused(INVALID_PARAM, f"last_interaction_period must be one of {INTERACTION_PERIODS}")
        today = vietnam_day(self.clock())
        users = sorted(
            (contact.order, user_id)
            for (oa_id, user_id), contact in self._contacts.items()
            if oa_id == oa.oa_id
            and (follower is None or contact.following == follower)
            and (period is None or _interacted_in(contact.last_interaction, period, today))
        )
        page = [{"user_id": user_id} for _, user_id in users[offset : offset + count]]
        return {"total": len(users), "count": len(page), "offset": offset, "users": page}

    def _quota(self, request: Request, oa: OaState) -> dict[str, Any]:
        body = self._json_body(request) if request.get_data() else {}
        now = self.clock()
        daily = self.promotion_quota(oa.oa_id)
        used = oa.promotions.get(vietnam_day(now), 0)
        data: dict[str, Any] = {
            "promotion": {
                "daily_quota": daily,
                "used": used,
                "remain": max(daily - used, 0),
                "reset_at": iso(next_vietnam_midnight(now)),
            }
        }
        user_id = body.get("user_id")
        if isinstance(user_id, str) and user_id:
            contact = self._contacts.get((oa.oa_id, user_id))
            last = contact.last_interaction if contact else None
            in_free = contact is not None and last is not None and now - last <= FREE_WINDOW
            data["cs"] = {
                "window_open": last is not None and now - last <= WINDOW,
                "window_expires_at": iso(last + WINDOW) if last is not None else None,
                "free_remain": FREE_MESSAGES - contact.free_used if in_free and contact else 0,
            }
        return data
