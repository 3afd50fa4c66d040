"""A worker's batch work without its servers: CPU per transaction of each pure step, repeatable.

A whole-pipeline pair cannot resolve a change of 1-2% of a worker on these machines (the same
run drifts by more from one hour to the next), and py-spy's lines around compiled calls are not
reliable at that grain. This runs the steps of `agents/pipeline.py` that need no server, in this
process, on generated traffic and state the run builds itself:

  triage        decode and validate the batch's inputs (agents/authorizer.py triage)
  read          the accounts' stored values made into states, as the store's read does
  authorize     Authorizer.apply: dedupe, features and model, rules, debits, outputs encoded
  commit        the commit script's arguments and the outbox entry (agents/store.py)
  settle        the credits the batch emitted, decoded, applied and their commit arguments

Every repeat starts from the same stored states (those the warm-up's transactions left) and
runs the measured transactions batch after batch, each batch reading what the one before it
stored; the figure is the best repeat's process time per transaction. The garbage collector is
tuned as a worker tunes it (streams/gctuning.py). The fan-in counts come from an in-memory set
(agents/fraud/fanin.py FanInMemory, not counted), label risk is empty.

    python -m loadtest.compute_bench --models-dir /tmp/models-45
    python -m loadtest.compute_bench --against /tmp/wt-base    # a pair, alternated
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from redis.asyncio import Redis

from agents.authorizer import Authorizer, Codecs, needed_accounts, triage
from agents.batch import BatchResult, InputEvent, StateView
from agents.fraud.fanin import FanInMemory, Payment
from agents.fraud.model import FixedModels, ModelRegistry
from agents.rules import load_rules
from agents.settler import Settler
from agents.store import RedisStateStore, _fill_accounts, encode_outputs
from streams.accounts import pack_account
from streams.codec import codec_for
from streams.gctuning import tune_for_batches
from streams.generator import GeneratorConfig, TrafficGenerator
from streams.partitioning import partition_for
from streams.records import DEPOSIT

PARTITIONS = 12
START_MS = 1_767_225_600_000
#: The run's wall clock: after every generated event time, so none is in the future.
NOW_MS = START_MS + 400 * 86_400_000
MAX_SKEW_MS = 300_000
WINDOW_MS = 86_400_000
STEPS = ("triage", "read", "authorize", "commit", "settle")


class Run:
    """The batches and the stores one repeat starts from."""

    def __init__(self, args: argparse.Namespace) -> None:
        codecs = Codecs(*(codec_for(name, f"bench.{name}s", None)
                          for name in ("transaction", "decision", "posting", "credit")))
        models = (ModelRegistry(Path(args.models_dir), check_every_s=3600)
                  if args.models_dir else FixedModels(None))
        self.authorizer = Authorizer(load_rules(None), codecs, "bench.transactions", WINDOW_MS,
                                     lambda: NOW_MS, models=models, partitions=PARTITIONS)
        self.settler = Settler(codecs.credit, codecs.posting, lambda: NOW_MS)
        # A client that never connects: only the commit's arguments are made.
        self.store = RedisStateStore(Redis(), "bench-", tx_ttl_s=3600, window_ms=WINDOW_MS)
        generator = TrafficGenerator(GeneratorConfig(seed=args.seed, accounts=args.accounts,
                                                     start_ms=START_MS))
        codec = codecs.transaction
        events = []
        for offset, (tx, _) in enumerate(generator.generate(args.warm + args.transactions)):
            key = tx.partition_key.encode()
            events.append(InputEvent(partition_for(tx.partition_key, PARTITIONS), offset, key,
                                     codec.encode(tx.to_record()), 0))
        batches = [events[i:i + args.batch] for i in range(0, len(events), args.batch)]
        warm = args.warm // args.batch
        self.measured = batches[warm:]
        self.transactions = sum(len(b) for b in self.measured)
        self.accounts: dict[str, bytes] = {}
        self.fan_in = FanInMemory()
        self.event_time: dict[int, int] = {}
        for batch in batches[:warm]:
            self.batch(batch, self.accounts, self.fan_in, self.event_time, {})

    def repeat(self, clock: dict[str, float]) -> None:
        accounts = dict(self.accounts)
        fan_in = FanInMemory()
        fan_in.sets().update({k: dict(v) for k, v in self.fan_in.sets().items()})
        event_time = dict(self.event_time)
        for batch in self.measured:
            self.batch(batch, accounts, fan_in, event_time, clock)

    def batch(self, events: list[InputEvent], accounts: dict[str, bytes], fan_in: FanInMemory,
              event_time: dict[int, int], clock: dict[str, float]) -> None:
        lap = _Lap(clock)
        valid, dead = triage(events, self.authorizer.transaction_codec, NOW_MS, MAX_SKEW_MS,
                             PARTITIONS)
        lap("triage")
        paying = [item.tx for item in valid if item.tx.type is not DEPOSIT]
        seen = fan_in.lookup([Payment.of(tx) for tx in paying])
        lap(None)
        view = read(accounts, needed_accounts(valid), event_time)
        view.fan_in = {tx.tx_id: known for tx, known in zip(paying, seen, strict=True)}
        lap("read")
        result = self.authorizer.apply(valid, dead, view)
        lap("authorize")
        self.commit(view, result, "transactions")
        lap("commit")
        fan_in.apply(result.fan_in)
        store(accounts, view, result, event_time)
        lap(None)
        credits = [InputEvent(p, i, m.key, m.value, 0)
                   for p, messages in result.outputs.items()
                   for i, m in enumerate(messages) if m.role == "credits"]
        if credits:
            decoded = self.settler.decode(credits)
            view = read(accounts, decoded.accounts(), {})
            settled = self.settler.apply(decoded, view)
            self.commit(view, settled, "credits")
            lap("settle")
            store(accounts, view, settled, {})
            lap(None)

    def commit(self, view: StateView, result: BatchResult, role: str) -> None:
        outbox = {p: encode_outputs(messages) for p, messages in result.outputs.items()}
        self.store._commit_args(self.store._flat, view, result, result.fan_in, role, "b-1",
                                outbox, ())


class _Lap:
    """Adds the process time since the last lap to `clock[step]` (None: not counted)."""

    def __init__(self, clock: dict[str, float]) -> None:
        self._clock, self._last = clock, time.process_time()

    def __call__(self, step: str | None) -> None:
        now = time.process_time()
        if step is not None:
            self._clock[step] = self._clock.get(step, 0.0) + now - self._last
        self._last = now


def read(stored: dict[str, bytes], names: set[str], event_time: dict[int, int]) -> StateView:
    """What RedisStateStore.read makes of the accounts' values: its own `_fill_accounts`."""
    view = StateView({}, {}, {}, dict(event_time), strict=True)
    ordered = sorted(names)
    _fill_accounts(view, ordered, [stored.get(name) for name in ordered])
    return view


def store(stored: dict[str, bytes], view: StateView, result: BatchResult,
          event_time: dict[int, int]) -> None:
    """What the commit leaves: each changed account's value, the partitions' event-time marks."""
    for name in result.dirty:
        version = view.versions.get(name, 0)
        stored[name] = pack_account(version + 1, view.accounts[name].encode())
    event_time.update(result.partition_event_time)


def measure(args: argparse.Namespace) -> dict[str, Any]:
    run = Run(args)
    # As a worker after start-up (paystream/cli.py): what the run built (the traffic, and the
    # states a worker would hold in Redis rather than in its heap) is frozen out of the
    # collector's passes, and a batch's objects are freed before a young pass looks at them.
    tune_for_batches()
    best: dict[str, float] | None = None
    for _ in range(args.repeats):
        clock: dict[str, float] = {}
        run.repeat(clock)
        if best is None or sum(clock.values()) < sum(best.values()):
            best = clock
    assert best is not None
    per_tx = {step: round(best.get(step, 0.0) * 1e6 / run.transactions, 2) for step in STEPS}
    return {"transactions": run.transactions, "batch": args.batch, "repeats": args.repeats,
            "us_per_tx": per_tx, "total_us_per_tx": round(sum(per_tx.values()), 2)}


def pair(args: argparse.Namespace) -> list[dict[str, Any]]:
    """This checkout and `--against` (another commit's worktree), alternated, each in a process
    of its own run from its tree."""
    own: list[str] = []
    words = iter(sys.argv[1:])
    for word in words:  # every argument but "--against DIR" / "--against=DIR"
        if word == "--against":
            next(words, None)
        elif not word.startswith("--against="):
            own.append(word)
    results = []
    for _ in range(args.runs):
        for repo in (Path(__file__).resolve().parent.parent, Path(args.against)):
            out = subprocess.run([sys.executable, "-m", "loadtest.compute_bench", *own],
                                 cwd=repo, env={**os.environ, "PYTHONPATH": str(repo)},
                                 check=True, capture_output=True, text=True).stdout
            results.append({"repo": str(repo), **json.loads(out)})
            print(json.dumps(results[-1]), file=sys.stderr, flush=True)
    return results


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m loadtest.compute_bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--transactions", type=int, default=40_000, help="measured (default 40000)")
    parser.add_argument("--warm", type=int, default=40_000,
                        help="transactions run once first, to build the states (default 40000)")
    parser.add_argument("--accounts", type=int, default=20_000, help="default 20000")
    parser.add_argument("--batch", type=int, default=4_000,
                        help="transactions per batch: the worker's default batch size")
    parser.add_argument("--repeats", type=int, default=5, help="the best of this many")
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--models-dir", help="a model to score with (default: rules only)")
    parser.add_argument("--against", help="a pair: this checkout and this worktree, alternated")
    parser.add_argument("--runs", type=int, default=3, help="runs of each side in a pair")
    args = parser.parse_args(argv)
    for name in ("transactions", "accounts", "batch", "repeats", "runs"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1")
    if args.warm < 0 or args.warm % args.batch:
        parser.error("--warm must be a multiple of --batch (0 or more)")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.against:
        print(json.dumps(pair(args), indent=1))
    else:
        print(json.dumps(measure(args)))
    return 0


if __name__ == "__main__":
    sys.exit(main())

