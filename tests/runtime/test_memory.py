"""The collector's checkpoints inside long work: cycles collected, pauses only over what is new."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest
from pytest import MonkeyPatch

from bot.runtime.memory import checkpoint, keep, long_lived, settle


class Node:
    def __init__(self) -> None:
        self.me = self  # a reference cycle: only the collector frees it


def garbage_cycle() -> weakref.ref[Node]:
    return weakref.ref(Node())


@pytest.fixture(autouse=True)
def unfrozen() -> Iterator[None]:
    yield
    gc.unfreeze()  # what a test froze goes back to the collector


def test_a_checkpoint_collects_the_cycles_made_since_the_last_one() -> None:
    with long_lived(collect=False):
        checkpoint()
        kept = [Node() for _ in range(3)]  # alive: frozen, not collected
        dropped = garbage_cycle()
        frozen_before = gc.get_freeze_count()
        checkpoint()
        assert dropped() is None
        assert gc.get_freeze_count() > frozen_before
        assert all(n.me is n for n in kept)


def test_checkpoints_after_the_first_pass_over_the_youngest_generation_only(monkeypatch: MonkeyPatch) -> None:
    collected: list[int] = []
    collect = gc.collect
    monkeypatch.setattr(
        gc, "collect", lambda generation=2: collected.append(generation) or collect(generation)
    )
    with long_lived(collect=False):
        checkpoint()
        many = [Node() for _ in range(20_000)]
        keep()  # made by code that makes no cycle: frozen uncollected
        assert len(gc.get_objects(generation=0)) < 1_000  # the next checkpoint will not pass over them
        made = garbage_cycle()
        checkpoint()
        assert made() is None
    assert collected == [2, 0]
    assert len(many) == 20_000


def test_a_checkpoint_after_the_collector_ran_collects_every_generation(monkeypatch: MonkeyPatch) -> None:
    # A cycle that survived a collection (so sits in an older generation), then became garbage:
    # once the collector has run, a checkpoint cannot know that nothing was promoted since the
    # last freeze, and must not freeze it uncollected (it would never be freed).
    with long_lived(collect=False):
        checkpoint()
    node: Node | None = Node()
    old = weakref.ref(node)
    gc.collect()  # promoted to the oldest generation while alive
    node = None
    assert old() is not None
    with long_lived(collect=False):
        checkpoint()
    assert old() is None


def test_settling_after_the_start_collects_then_freezes_what_lives() -> None:
    node: Node | None = Node()
    old = weakref.ref(node)
    kept = Node()
    node = None  # garbage before the freeze: collected, not kept forever
    settle()
    assert old() is None
    assert gc.get_freeze_count() > 0
    assert kept not in gc.get_objects()  # frozen: no collection passes over it again
