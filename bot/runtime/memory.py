"""Keeping Python's cyclic garbage collector off the big, long-lived object graphs of a digest run.

At 100,000 subscriptions the match index is millions of objects, and a day's run makes about a
million more (entries, reasons, cards) that live until the digests are posted. None of them form
reference cycles, yet the collector re-scans every object it tracks in each full collection: that
was 0.8 s of every run, in pauses of up to 0.4 s on whatever thread triggered them, the event loop
included (a slash command waiting behind it).

So such objects are made with the collector paused, then collected once (cheap: what was frozen
before is skipped), and what lives on is moved to the permanent generation (`gc.freeze`), which the
collector never scans again. Reference counting still frees frozen objects when they are dropped;
cyclic garbage frozen with them never would be, hence the collection just before.

A digest run at 100,000 subscriptions makes 600,000 such objects in a second or two, and a
collection over them alone took 0.4 s. Where the code that made them is known to leave no cyclic
garbage (`long_lived(collect=False)`), they are frozen without one: only garbage cycles that another
thread made in those seconds would be kept, a few objects a day, against 0.4 s of every run.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator

from bot.runtime.nested import WhileInside

# Whether every object not frozen was made since the last checkpoint, with the collector paused
# since: then they are all in the youngest generation (a paused collector promotes nothing), and
# a checkpoint need pass over that generation alone.
_young_only = False


def _pause() -> bool:
    was_enabled = gc.isenabled()
    gc.disable()
    return was_enabled


def _resume(was_enabled: bool) -> None:
    global _young_only
    _young_only = False  # the collector may promote again: the next checkpoint is a full one
    if was_enabled:
        gc.enable()


# No cyclic collection while making many objects that form no cycle (nestable, thread-safe).
gc_paused = WhileInside(_pause, _resume)


@contextlib.contextmanager
def long_lived(*, collect: bool = True) -> Iterator[None]:
    """Make objects that will live a while: no collection meanwhile, then one, then freeze them.

    Long work calls `checkpoint()` now and then, so that no single collection takes long: the
    collector holds the GIL throughout, and the event loop waits for it. Without `collect`, they
    are frozen uncollected: only for code that makes no cyclic garbage (see above).
    """
    with gc_paused():
        yield
        if collect:
            checkpoint()
        else:
            keep()


def checkpoint() -> None:
    """Inside `long_lived`: collect what was made since the last checkpoint, and freeze the rest.

    After a first checkpoint with the collector paused, the next ones pass over the youngest
    generation alone, which holds everything made since: the pause is as long as what was made
    since, not as long as everything alive that is not frozen (a full collection at each of a
    digest run's checkpoints held the GIL for 60 to 150 ms, and every slash command waited). The
    first is a full one: what lived before is in the older generations, and freezing it
    uncollected would keep its garbage forever.
    """
    global _young_only
    # Some of what was made is cyclic garbage (pylatexenc's parser leaves cycles that reach,
    # through frames, whatever was on the stack): collect it, or freezing would keep it forever.
    gc.collect(0 if _young_only and not gc.isenabled() else 2)
    gc.freeze()
    _young_only = not gc.isenabled()


def keep() -> None:
    """Inside `long_lived`: freeze what was made since the last checkpoint, uncollected.

    For objects made by code that makes no cyclic garbage (the subscriptions read for the index,
    matching's entries), so that the next checkpoint need not pass over them. Cycles that other
    threads made meanwhile are kept with them: a few objects a run, against a pause of tens of
    milliseconds for every slash command.
    """
    gc.freeze()


def settle() -> None:
    """Once started: collect, then freeze what lives (modules, the app), never to be scanned again.

    Left to the collector, the first full collection of a digest run passed over all of it (scikit-
    learn's and numpy's modules among it): a pause of a tenth of a second that every slash command
    waited out, at every run after a start.
    """
    checkpoint()
