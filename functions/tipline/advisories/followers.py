"""Follower sync: make the OA's contacts match Zalo's follower list (``user/getlist``).

``follow``/``unfollow`` webhook events keep ``Contact.follower`` current; this sync repairs what
events missed (the webhook was down, the OA existed before the tipline) and creates contacts for
followers who never wrote (their Zalo id sealed like the webhook seals it).

Zalo pages the list by 50 and serves at most offset 9951, i.e. 10,000 users per filter. The
partitioning: first the plain follower list (``is_follower=true``); when Zalo says it holds more
than we can page through, the same list again per interaction period (TODAY, YESTERDAY, L7D,
L30D), whose union reaches every follower who interacted in the last 30 days even on an OA far
beyond 10,000 (an OA rarely has more than 10,000 followers active in one month; a period that is
itself cut off is reported). Followers past the cut who have been silent for 30 days are the ones
the sync cannot list: for them the follow/unfollow events are the only source.
Only a complete walk (everything Zalo counted was listed) marks missing contacts as unfollowed.
What the sync learns goes through ``subscription``: a missed unfollow ends advisories as the event
would have; a missed follow restores only the follower fact (a "HỦY" still holds).

User ids live in memory only while a sync runs; they are stored sealed and never logged.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from tipline.adapters import envelope, zalo
from tipline.adapters.table import Table
from tipline.config import Settings
from tipline.domain import Contact, OaAccount
from tipline.intake import subscription
from tipline.intake.pseudonym import pseudonym
from tipline.observability import logger
from tipline.tokens.store import TokenStore

from .delivery import contacts_of

MAX_OFFSET = 9951
PERIODS = ("TODAY", "YESTERDAY", "L7D", "L30D")


@dataclass
class SyncResult:
    oa_id: str
    total: int = 0  # followers Zalo counts
    listed: int = 0  # distinct followers we could list
    created: int = 0
    now_following: int = 0
    now_unfollowed: int = 0
    complete: bool = False
    cut_filters: list[str] = field(default_factory=list)  # filters with more than we could page


def sync_followers(
    table: Table,
    settings: Settings,
    tokens: TokenStore,
    pepper: bytes,
    oa: OaAccount,
    now_ms: int,
    max_offset: int = MAX_OFFSET,
) -> SyncResult:
    result = SyncResult(oa_id=oa.oa_id)
    user_ids: set[str] = set()
    page = _pager(tokens, oa.oa_id)
    result.total = _walk(page, None, max_offset, user_ids, result)
    if len(user_ids) < result.total:
        for period in PERIODS:
            _walk(page, period, max_offset, user_ids, result)
    result.listed = len(user_ids)
    result.complete = len(user_ids) >= result.total
    listed = {pseudonym(pepper, oa.oa_id, user_id): user_id for user_id in user_ids}
    known = {c.pseudonym: c for c in contacts_of(table, {oa.oa_id})}
    for handle, user_id in listed.items():
        contact = known.get(handle)
        if contact is None:
            result.created += _create(table, settings, oa, handle, user_id, now_ms)
        elif not contact.follower:
            subscription.found_following(table, handle, now_ms)
            result.now_following += 1
    if result.complete:
        for handle, contact in known.items():
            if contact.follower and handle not in listed:
                subscription.unfollowed(table, handle, now_ms)
                result.now_unfollowed += 1
    logger.info(
        "followers synchronised",
        oa_id=oa.oa_id,
        total=result.total,
        listed=result.listed,
        contacts_created=result.created,
        now_following=result.now_following,
        now_unfollowed=result.now_unfollowed,
        complete=result.complete,
    )
    return result


Page = Callable[[int, str | None], zalo.FollowerPage]


def _pager(tokens: TokenStore, oa_id: str) -> Page:
    """One getlist page with the OA's token, refreshed once when Zalo rejects it."""

    def page(offset: int, period: str | None) -> zalo.FollowerPage:
        token = tokens.access_token(oa_id)
        try:
            return zalo.followers(token.access_token, offset, last_interaction_period=period)
        except zalo.TokenRejected:
            fresh = tokens.refresh(oa_id, seen_version=token.version)
            return zalo.followers(fresh.access_token, offset, last_interaction_period=period)

    return page


def _walk(page: Page, period: str | None, max_offset: int, into: set[str], result: SyncResult) -> int:
    """Every page of one filter we may reach; returns the total Zalo counts for it."""
    offset, total = 0, 0
    while offset <= max_offset:
        found = page(offset, period)
        total = found.total
        into.update(found.user_ids)
        offset += zalo.GETLIST_MAX_COUNT
        if not found.user_ids or offset >= total:
            return total
    result.cut_filters.append(period or "all")
    return total


def _create(table: Table, settings: Settings, oa: OaAccount, handle: str, user_id: str, now_ms: int) -> int:
    sealed = envelope.seal(settings.kms_key_id, user_id.encode(), {"oa_id": oa.oa_id, "contact": handle})
    contact = Contact(
        pseudonym=handle, oa_id=oa.oa_id, unit_id=oa.unit_id, user_id_sealed=sealed, follower=True
    )
    if table.create_contact(contact):
        return 1
    subscription.found_following(table, handle, now_ms)  # the webhook created it meanwhile
    return 0
