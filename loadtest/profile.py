"""Where a worker's CPU goes: a py-spy sample of the process, folded into named parts.

py-spy's raw output is one line per distinct stack ("frame;frame;... count"). Each part below is
the set of samples whose stack passes through one of its frames (first match wins, in this
order, so a sample counts once). Idle samples (the event loop waiting in select, a thread
waiting on a lock) are dropped, so the shares are of the busy time, and share x the process's
CPU per transaction gives µs per transaction for each part.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

#: (part, frame substrings): the first part whose substring occurs in a stack takes the sample.
PARTS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("authorize: decode + validate (triage)", ("triage (agents/authorizer.py",)),
    ("authorize: fraud features + model", ("_assess (agents/authorizer.py",)),
    ("authorize: decisions, debits, output encoding", ("_one (agents/authorizer.py",
                                                        "seal_credits (agents/authorizer.py")),
    ("authorize: accept (dedupe, replay)", ("_accept (agents/authorizer.py",)),
    ("settle: decode + credit + encode", ("BatchPipeline.settle", "Settler.apply")),
    ("Redis: state read", ("RedisStateStore.read",)),
    ("Redis: state commit + outbox", ("RedisStateStore.commit", "outbox_done",
                                      "pending_outbox")),
    # The output producer's own task (aiokafka's sender) runs outside OutputSender's frames.
    ("Kafka: send outputs (aiokafka producer)", ("OutputSender", "aiokafka/producer/")),
    ("Kafka fetch (aiokafka, in Faust's consumer thread)", ("aiokafka/",)),
    ("batch delivery to the agents (streams/faustbatch.py)", ("streams/faustbatch.py",)),
    # Our code's own lines between the parts above (the agent's batch loop, the authorizer's
    # and pipeline's glue): every stack passes through Faust's agent, so without this part they
    # were counted as Faust's.
    ("the pipeline's own lines between those parts (agents/, streams/)", ("agents/", "streams/")),
    ("Faust + asyncio: the rest (fetcher, commits, timers, services)", ("faust/", "mode/")),
)
IDLE = ("EpollSelector.select", "_worker (concurrent/futures/thread.py", "Condition.wait",
        "Event.wait", "Thread._wait_for_tstate_lock")


def fold(raw: str) -> dict[str, float]:
    """Share of the busy samples per part (and `other`), from py-spy's raw format."""
    counts: Counter[str] = Counter()
    for line in raw.splitlines():
        stack, _, number = line.rstrip().rpartition(" ")
        if not stack or not number.isdigit():
            continue
        leaf = stack.rsplit(";", 1)[-1]
        if any(idle in leaf for idle in IDLE):
            continue
        part = next((name for name, frames in PARTS if any(f in stack for f in frames)), "other")
        counts[part] += int(number)
    busy = sum(counts.values())
    return {part: counts[part] / busy for part, _ in (*PARTS, ("other", ()))} if busy else {}


def per_tx_us(path: Path, process_us_per_tx: float) -> dict[str, float]:
    """µs per transaction of each part of a process that spent `process_us_per_tx` in all."""
    return {part: round(share * process_us_per_tx, 1)
            for part, share in fold(path.read_text()).items()}
