"""The cyclic garbage collector, tuned for processes that run batches for hours.

CPython runs a young-generation pass each time 700 more container objects are alive than at
the last pass. A batch of a thousand transactions keeps tens of thousands alive at once
(records, dicts, account states, output messages), so with the defaults a worker ran ~100
passes a second, each promoting the live batch's objects, until full passes over the whole heap
followed every few seconds (2026-12-01, `gc.callbacks` timing the passes while one worker
drained 100k transactions: up to 19% of its wall time, an upper bound on a busy 2-vCPU machine;
the measured pair, loadtest/results/worker-bench/gc-2026-12-01/: worker CPU 6% less). Nearly all
of it finds nothing: what a batch makes is freed by reference counting when the batch ends.

So, once a process has started: `freeze()` moves what start-up built (modules, the fraud model,
Faust's and the clients' objects) out of every later pass, and the young threshold is raised so
a batch's objects are gone before a pass looks at them. Reference cycles are still collected,
only later; memory stays bounded by the threshold.
"""

from __future__ import annotations

import gc
import logging

log = logging.getLogger(__name__)

#: A young pass per 500,000 net new container objects (CPython's default: 700), a middle pass
#: per 20 young ones, a full pass per 100 middle ones (and, as CPython adds, only when a quarter
#: of the long-lived heap is new). 50,000 was set for batches of 1,000; a batch of 16,000 keeps
#: hundreds of thousands alive until it ends, so every batch ran several young passes over live
#: objects and pushed them into the older generations for the middle passes to walk again. One
#: worker draining 300k after 300k, the collector timed by `gc.callbacks` over its whole life:
#: 1.53 and 1.58 s at 50,000, 0.57 and 0.38 s at 500,000 (~1.8 µs a transaction less;
#: docs/benchmarks.md, 2026-12-07 late morning). What a pass finds (reference cycles) waits
#: longer: ~500,000 objects more at most, tens of MB.
THRESHOLDS = (500_000, 20, 100)


def tune_for_batches(thresholds: tuple[int, int, int] = THRESHOLDS) -> None:
    """Call once start-up is done: collect, freeze what exists, raise the thresholds."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*thresholds)
    log.info("garbage collector: %d start-up objects frozen, thresholds %s",
             gc.get_freeze_count(), thresholds)
