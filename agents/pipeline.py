"""One batch, end to end: read state, compute, commit atomically, send outputs, clear outbox.

The guarantee (DESIGN.md): a batch's state changes and its outputs are written to Redis in one
atomic step (the outbox), before any output is sent; the outputs are then sent and confirmed,
and only then does the agent return, after which Faust may commit the input offsets.

A worker's batches read, compute and commit one at a time (its agents share the accounts), but
a batch waiting for Kafka to acknowledge its outputs holds no one up: the same agent's next batch
or another agent's reads, computes and commits meanwhile, and its send waits for the earlier
one's, so outputs reach Kafka in commit order. If a send fails, every batch committed behind it
fails unsent too, and the retries' reads find their outputs left and re-send them in commit
order. A crash:
- before the commit: nothing was written; the batch is consumed again and recomputed;
- after the commit, before the outbox was cleared: the next owner of the partition re-sends the
  outbox before sending anything of its own; consumers deduplicate (postings by id, credits by
  their origin offset: agents.settler). A worker clears a batch's entries with its next commit
  on the partition (or when its agents run out of input), so after a kill the next owner may
  re-send batches that were sent; the same deduplication drops them;
- after the outbox was cleared, before the offsets were committed: the replayed events are at or
  below their accounts' applied offsets and are skipped.
So no transaction is lost and none is applied twice, whether or not a recomputation would decide
the same way.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import Counter
from collections.abc import Callable

from agents.authorizer import Authorizer, needed_accounts, triage
from agents.batch import BatchResult, InputEvent, OutboxEntry, StateView
from agents.fraud.fanin import Payment
from agents.payouts import SUCCESS, PayoutSettler, accounts_to_post
from agents.ports import Sender, StateConflictError, StateStore
from agents.postings import system_shard
from agents.reviewer import Reviewer
from agents.settler import Settler
from streams.accounts import payout_details
from streams.errors import KafkaError
from streams.records import DEPOSIT, TransactionType

log = logging.getLogger(__name__)

#: Bound on recomputing a batch whose accounts changed under it (another agent or worker).
CONFLICT_RETRIES_MAX = 5
OUTBOX_ROLES = ("transactions", "credits", "reviews", "expiry", "payout_outcomes")


class _StageClock:
    """Wall time of a batch's stages, added to the counters (`ms:<role>:<stage>`) that the
    worker logs every few seconds: where a slow batch waits (the lock, Redis, Kafka)."""

    def __init__(self, counters: Counter[str], role: str) -> None:
        self._counters = counters
        self._prefix = f"ms:{role}:"  # milliseconds, summed over the batches
        self._last = time.perf_counter()
        #: This batch's stages in seconds (a retried stage adds up), for the metrics.
        self.laps: dict[str, float] = {}

    def lap(self, stage: str) -> None:
        now = time.perf_counter()
        took = now - self._last
        # Fractional ms in an int Counter: the log rounds; whole ms would lose sub-ms stages.
        self._counters[self._prefix + stage] += took * 1000  # type: ignore[assignment]
        self.laps[stage] = self.laps.get(stage, 0.0) + took
        self._last = now


#: Told of each batch done: role, input events, stage laps (s), the batch's counters, its
#: decisions (type, outcome, event ms, produce ms), and when Kafka confirmed its outputs (ms).
BatchObserver = Callable[[str, int, dict[str, float], Counter[str], list[tuple[str, str, int, int]], int], None]


class BatchPipeline:
    def __init__(self, store: StateStore, sender: Sender, authorizer: Authorizer,
                 settler: Settler, reviewer: Reviewer, now_ms: Callable[[], int],
                 max_clock_skew_ms: int, partitions: int,
                 observer: BatchObserver | None = None,
                 payouts: PayoutSettler | None = None) -> None:
        self._observer = observer
        self._payouts = payouts
        self._reviewer = reviewer
        self._partitions = partitions
        self._store = store
        self._sender = sender
        self._authorizer = authorizer
        self._settler = settler
        self._now_ms = now_ms
        self._max_skew_ms = max_clock_skew_ms
        # authorize and settle touch the same accounts; one batch at a time per worker.
        self._lock = asyncio.Lock()
        self.counters: Counter[str] = Counter()
        #: This worker's outbox entries: committed and being sent, and sent (Kafka acknowledged
        #: them) but not yet dropped. A read does not count them as left by an earlier run. The
        #: sent ones are dropped by the next commit on their partition, in the same write, so a
        #: batch costs the state store no command of its own to clear its outbox; an agent that had
        #: nothing to take for a moment drops them (`drop_sent`), so none stays behind.
        self._sending: set[OutboxEntry] = set()
        self._sent: set[OutboxEntry] = set()
        #: Done when the last committed batch's send is over (whatever its outcome): the next
        #: one's send waits for it, so outputs reach Kafka in commit order.
        self._send_turn: asyncio.Future[None] | None = None
        #: Sends failed so far: a batch sends only if none failed since its read.
        self._send_failures = 0

    async def authorize(self, events: list[InputEvent],
                        committed: asyncio.Event | None = None) -> BatchResult:
        valid, dead = triage(events, self._authorizer.transaction_codec, self._now_ms(),
                             self._max_skew_ms, self._partitions)
        accounts = needed_accounts(valid)
        tx_ids = {item.tx.tx_id for item in valid}
        partitions = {e.partition for e in events}
        payments = {item.tx.tx_id: Payment.of(item.tx) for item in valid
                    if item.tx.type is not DEPOSIT}

        def compute(view: StateView) -> BatchResult:
            return self._authorizer.apply(valid, dead, view)

        return await self._run("transactions", partitions, accounts, tx_ids, compute, payments,
                               events=len(events), committed=committed)

    async def settle(self, events: list[InputEvent],
                     committed: asyncio.Event | None = None) -> BatchResult:
        credits = self._settler.decode(events)
        accounts = credits.accounts()
        tx_ids = credits.legacy_tx_ids()
        partitions = {e.partition for e in events}

        def compute(view: StateView) -> BatchResult:
            return self._settler.apply(credits, view)

        return await self._run("credits", partitions, accounts, tx_ids, compute, events=len(events),
                               committed=committed)

    @property
    def rules_source(self) -> str:
        return self._authorizer.rules.source

    def model_versions(self) -> tuple[str | None, str | None]:
        """The active and the shadow model's versions (None: no such model)."""
        models = self._authorizer.assessor.models
        active, shadow = models.active(), models.shadow()
        return (active.version if active else None, shadow.version if shadow else None)

    def models_in_use(self) -> str:
        active, shadow = self.model_versions()
        text = active or "none (rules only; run `paystream train`)"
        return text + (f", shadow {shadow}" if shadow else "")

    async def review(self, events: list[InputEvent],
                     committed: asyncio.Event | None = None) -> BatchResult:
        reviews, bad = self._reviewer.decode(events)
        if bad:
            log.warning("dropped %d review messages that do not decode", bad)
            self.counters["review_undecodable"] += bad
        accounts = {review["source_account"] for _, review in reviews}
        partitions = {e.partition for e in events}
        # Approving a held WITHDRAWAL credits the partition's settlement shard: find which
        # shards the held transactions need before the batch reads its state.
        holders = await self._store.read(accounts, set(), partitions)
        for event, review in reviews:
            holder = holders.accounts.get(review["source_account"])
            hold = holder.holds.get(review["tx_id"]) if holder else None
            if hold is not None and hold.tx_type == TransactionType.WITHDRAWAL.value:
                accounts.add(system_shard(hold.destination, event.partition))

        def compute(view: StateView) -> BatchResult:
            return self._reviewer.apply(reviews, view)

        return await self._run("reviews", partitions, accounts, set(), compute, events=len(events),
                               committed=committed)

    async def settle_payouts(self, events: list[InputEvent],
                             committed: asyncio.Event | None = None) -> BatchResult:
        """Apply receive partners' outcomes to their held payouts (agents.payouts)."""
        if self._payouts is None:
            raise RuntimeError("this pipeline was built without payouts")
        payouts = self._payouts
        outcomes, bad = payouts.decode(events)
        if bad:
            log.warning("dropped %d payout outcome messages that do not decode", bad)
            self.counters["payout_outcome_undecodable"] += bad
        accounts = {outcome["source_account"] for _, outcome in outcomes}
        tx_ids = {outcome["tx_id"] for _, outcome in outcomes}
        partitions = {e.partition for e in events}
        # A SUCCESS posts to this partition's system shards (FX, the partner's settlement
        # account): which ones, the held payouts say; find them before the batch reads.
        first = await self._store.read(accounts, tx_ids, partitions)
        for event, outcome in outcomes:
            holder = first.accounts.get(outcome["source_account"])
            hold = holder.holds.get(outcome["tx_id"]) if holder else None
            details = payout_details(first.tx_records.get(outcome["tx_id"], {}))
            if outcome["status"] == SUCCESS and hold is not None and details is not None:
                accounts.update(accounts_to_post(hold.currency, details, event.partition))

        def compute(view: StateView) -> BatchResult:
            return payouts.apply(outcomes, view)

        return await self._run("payout_outcomes", partitions, accounts, tx_ids, compute,
                               events=len(events), committed=committed)

    async def expire_holds(self, partition: int, limit: int = 1000) -> BatchResult:
        """Release this partition's holds that are past their expiry."""
        expired = await self._store.expired_holds(partition, self._now_ms(), limit)
        if not expired:
            # Nothing to expire, but a crashed run may have left outputs for a partition that
            # gets no new traffic: send them now rather than when traffic comes.
            async with self._lock:
                await self.resend_leftovers([partition])
            return BatchResult()
        accounts = {account for account, _ in expired}

        def compute(view: StateView) -> BatchResult:
            return self._reviewer.expire(partition, expired, view)

        # the records too: an expired payout's ending carries its details (agents.payouts)
        return await self._run("expiry", {partition}, accounts, {t for _, t in expired}, compute)

    async def _run(self, role: str, partitions: set[int], accounts: set[str], tx_ids: set[str],
                   compute: Callable[[StateView], BatchResult],
                   payments: dict[str, Payment] | None = None, events: int = 0,
                   committed: asyncio.Event | None = None) -> BatchResult:
        """Read, compute and commit under the lock; then send. `committed` is set once the
        batch's state and outbox are stored: its agent may start the next batch then, which
        reads this one's state and sends after it."""
        clock = _StageClock(self.counters, role)
        async with self._lock:
            clock.lap("wait")
            failures = self._send_failures
            # Sortable by time, so leftovers are re-sent in the order they were committed.
            batch_id = f"{time.time_ns():020d}-{uuid.uuid4().hex[:8]}"
            conflicts = 0
            for attempt in range(1, CONFLICT_RETRIES_MAX + 1):
                view = await self._store.read(accounts, tx_ids, partitions, payments,
                                              OUTBOX_ROLES, self._own())
                # After the read: every batch whose effects this one builds on (a crashed run's,
                # or one a worker losing the partition committed a moment ago) has its outputs
                # sent before ours, so a destination gets each origin's credits in offset
                # order (agents.settler relies on it). The read says whether anything is left,
                # atomically with the state it read: a batch committed after it on these
                # accounts makes our commit conflict, and the retry's read sees its outputs.
                if view.outbox_left:
                    await self.resend_leftovers(sorted(partitions))
                clock.lap("read")
                result = compute(view)
                clock.lap("compute")
                sent = [entry for entry in self._sent if entry.partition in partitions]
                try:
                    outbox = await self._store.commit(view, result, role, batch_id, sent)
                    self._sent.difference_update(sent)
                    clock.lap("commit")
                    break
                except StateConflictError as exc:
                    conflicts += 1
                    log.warning("%s batch recomputed (attempt %d): %s", role, attempt, exc)
            else:
                raise StateConflictError(f"{role} batch kept conflicting; is another worker "
                                         f"writing these partitions: {sorted(partitions)}?")
            mine = {OutboxEntry(role, p, batch_id) for p in outbox}
            self._sending |= mine
            # The lock is released here: another agent's batch reads, computes and commits
            # while this one waits for Kafka. Sends keep the order of the commits.
            previous, turn = self._send_turn, asyncio.get_running_loop().create_future()
            self._send_turn = turn
            if committed is not None:
                committed.set()
        messages = [m for p in sorted(result.outputs) for m in result.outputs[p]]
        try:
            if previous is not None and not previous.done():
                await asyncio.shield(previous)  # a cancelled wait must not cancel its turn
            if self._send_failures != failures:
                # A batch in flight when ours read failed to send: its outputs are left in
                # the outbox and must go before ours, which our read did not know. The retry's
                # read finds both and re-sends them in commit order.
                raise KafkaError(f"{role} batch not sent: an earlier batch's send failed",
                                 retriable=True)
            await self._sender.send(messages)
        except BaseException:
            self._send_failures += 1
            raise
        finally:
            # Unsent, they are left for the batch's retry to find and re-send.
            self._sending -= mine
            turn.set_result(None)
        self._sent |= mine
        clock.lap("send")
        if conflicts:
            result.counters["state_conflict"] += conflicts
        self.counters.update(result.counters)
        self.counters[f"batches:{role}"] += 1
        if self._observer is not None:
            self._observer(role, events, clock.laps, result.counters, result.decided,
                           time.time_ns() // 1_000_000)
        return result

    async def resend_leftovers(self, partitions: list[int]) -> int:
        """Send what a crashed run committed but may not have sent; return how many batches.

        Every role's entries, in commit order (batch ids sort by time), so an account's postings
        reach Kafka in sequence order. Called with the lock held.
        """
        own = self._own()
        pending = [(batch_id, partition, role, messages) for batch_id, partition, role, messages
                   in await self._store.pending_outbox(OUTBOX_ROLES, partitions)
                   if OutboxEntry(role, partition, batch_id) not in own]
        for batch_id, partition, role, messages in sorted(pending, key=lambda entry: entry[:3]):
            log.info("re-sending %d outputs of %s batch %s (partition %d) left by an earlier run",
                     len(messages), role, batch_id, partition)
            await self._sender.send(messages)
            await self._store.outbox_done([OutboxEntry(role, partition, batch_id)])
            self.counters["outbox_resent"] += 1
        return len(pending)

    def _own(self) -> set[OutboxEntry]:
        """This worker's outbox entries, being sent or sent: not left by anyone."""
        return self._sending | self._sent

    async def close(self) -> None:
        """At the worker's shutdown: the output producer lets go of its connections."""
        await self._sender.close()

    async def drop_sent(self, why: str = "idle") -> None:
        """Drop the outbox entries of every batch Kafka acknowledged: what an agent with no
        input for a moment, a finished sweep and a rebalance call (`why`, counted), so no entry
        outlives its batch for long (`paystream reconcile` waits for an empty outbox)."""
        sent = list(self._sent)
        if sent:
            await self._store.outbox_done(sent)
            self._sent.difference_update(sent)
            self.counters[f"outbox_drops:{why}"] += 1
