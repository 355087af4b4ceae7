"""The cache of answers made from the SQL mirror: an answer is returned only at the checkpoint it
was made at, and the cache stays within its size."""

from __future__ import annotations

from ledger_service.app.api.mirror_cache import MirrorCache


def test_an_answer_is_kept_while_the_checkpoint_reads_the_same() -> None:
    cache = MirrorCache()
    made: list[int] = []

    def make() -> str:
        made.append(1)
        return f"answer {len(made)}"

    at_10 = (10, "0xaa", 8)
    assert cache.get("k", at_10, make) == "answer 1"
    assert cache.get("k", at_10, make) == "answer 1"
    assert len(made) == 1 and cache.hits == 1


def test_a_moved_or_reorganized_checkpoint_is_never_answered_from_before() -> None:
    cache = MirrorCache()
    answers = iter(["at 10", "reorg at 10", "confirmed deeper"])
    assert cache.get("k", (10, "0xaa", 8), lambda: next(answers)) == "at 10"
    assert cache.get("k", (10, "0xbb", 8), lambda: next(answers)) == "reorg at 10"  # same height, other block
    assert cache.get("k", (10, "0xbb", 9), lambda: next(answers)) == "confirmed deeper"
    assert cache.misses == 3


def test_the_cache_keeps_only_its_most_recently_used_answers() -> None:
    cache = MirrorCache(size=2)
    version = (1, "0x01", 0)
    for key in ("a", "b"):
        cache.get(key, version, lambda key=key: key)
    cache.get("a", version, lambda: "again")  # a is used, so b is the oldest
    cache.get("c", version, lambda: "c")
    assert cache.get("a", version, lambda: "made again") == "a"
    assert cache.get("b", version, lambda: "made again") == "made again"
