"""The OA registry: which OA belongs to which unit, cached per container for the webhook."""

from __future__ import annotations

import time

from tipline import keys
from tipline.adapters.store.gateway import DynamoGateway
from tipline.domain import OaAccount


class OaRegistry(DynamoGateway):
    """OA#<oa_id>, listed on gsi1 (OA)."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self._oa_cache: dict[str, tuple[float, OaAccount]] = {}

    def get_oa(self, oa_id: str, cache_seconds: float = 0.0) -> OaAccount | None:
        """A registered OA (cached for ``cache_seconds``) or None. Only OAs that exist are cached:
        the webhook looks up the OA an unverified body names, and a cache of misses would grow by
        one entry per forged id."""
        cached = self._oa_cache.get(oa_id)
        if cached and time.monotonic() - cached[0] < cache_seconds:
            return cached[1]
        values = self.get(keys.oa_pk(oa_id), consistent=False)
        if not values:
            self._oa_cache.pop(oa_id, None)
            return None
        account = OaAccount.model_validate(values)
        self._oa_cache[oa_id] = (time.monotonic(), account)
        return account

    def put_oa(self, account: OaAccount) -> None:
        values = account.model_dump()
        self.put(
            keys.oa_pk(account.oa_id), keys.META, {**values, "gsi1pk": keys.OA_LIST, "gsi1sk": account.oa_id}
        )
        self._oa_cache.pop(account.oa_id, None)

    def list_oas(self) -> list[OaAccount]:
        items = self.query_index(keys.GSI1, keys.OA_LIST)
        return [OaAccount.model_validate(values) for values in items]
