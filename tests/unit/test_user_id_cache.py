"""The reply sender's memory of opened Zalo user ids: kept for its lifetime, the least recently
used dropped past its size (it saves a KMS call per reply of a citizen's burst)."""

from __future__ import annotations

from tipline.replies.delivery import USER_ID_CACHE_SECONDS, USER_ID_CACHE_SIZE, _UserIds

A, B, C = ("oa", "p1", b"s1"), ("oa", "p2", b"s2"), ("oa", "p3", b"s3")


def test_an_opened_id_is_remembered_for_its_lifetime_and_not_after() -> None:
    cache = _UserIds(seconds=60, size=10)
    assert cache.get(A) is None
    cache.put(A, "user-a")
    assert cache.get(A) == "user-a"
    assert cache.get(("oa", "p1", b"other sealed value")) is None  # re-sealed: opened again
    expired = _UserIds(seconds=-1, size=10)
    expired.put(A, "user-a")
    assert expired.get(A) is None
    cache.clear()
    assert cache.get(A) is None


def test_past_its_size_the_least_recently_used_id_is_dropped() -> None:
    cache = _UserIds(seconds=60, size=2)
    cache.put(A, "user-a")
    cache.put(B, "user-b")
    assert cache.get(A) == "user-a"  # A is now the most recently used
    cache.put(C, "user-c")
    assert (cache.get(A), cache.get(B), cache.get(C)) == ("user-a", None, "user-c")
    cache.put(A, "user-a")  # putting again refreshes too
    cache.put(B, "user-b")
    assert (cache.get(A), cache.get(B), cache.get(C)) == ("user-a", "user-b", None)


def test_the_defaults_are_five_minutes_and_4096_ids() -> None:
    cache = _UserIds()
    assert (cache.seconds, cache.size) == (USER_ID_CACHE_SECONDS, USER_ID_CACHE_SIZE) == (300.0, 4096)
