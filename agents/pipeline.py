"""One batch, end to end: read state, compute, commit atomically, send outputs, clear outbox.

The guarantee (DESIGN.md): a batch's state changes and its outputs are written to Redis in one
atomic step (the outbox), before any output is sent; the outputs are then sent and confirmed,
and only then does the agent return, after which Faust may commit the input offsets.

A worker's batches compute one at a time and commit one at a time, in the same order (its agents
share the accounts), but a batch holds up no one while Redis writes it or Kafka acknowledges its
outputs: another agent's batch computes meanwhile, on a read it issued before it could start,
with the accounts of the commits that read may not show laid over it (`BatchPipeline._lay_over`:
each commit checks the versions of the accounts it writes, so a batch that computed on a commit
that then failed only conflicts and is computed again). Sends wait for the earlier batches',
so outputs reach Kafka in commit order. If a send fails, every batch committed behind it fails unsent too,
and the retries' reads find their outputs left and re-send them in commit order. A crash:
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
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass

from agents.authorizer import Authorizer, needed_accounts, triage
from agents.batch import BatchResult, InputEvent, OutboxEntry, StateView
from agents.fraud.fanin import Payment
from agents.payouts import SUCCESS, PayoutSettler, accounts_to_post
from agents.ports import Sender, StateConflictError, StateStore
from agents.postings import system_shard
from agents.reviewer import Reviewer
from agents.settler import Settler
from streams.accounts import AccountState, payout_details
from streams.errors import KafkaError
from streams.records import TransactionType

log = logging.getLogger(__name__)

#: Bound on recomputing a batch whose accounts changed under it (another agent or worker).
CONFLICT_RETRIES_MAX = 5
OUTBOX_ROLES = ("transactions", "credits", "reviews", "expiry", "payout_outcomes")
#: The roles whose batches read ahead (`BatchPipeline._read_ahead`): authorize and settle, the
#: agents that run all the time. Of what one commits, the other reads only the accounts.
READ_AHEAD_ROLES = frozenset({"transactions", "credits"})
#: Commits kept for laying over reads issued before them; a read older than these is made again.
POSTED_KEPT = 8


@dataclass(frozen=True)
class _Posted:
    """A commit's accounts as it writes them: what a read issued before it did not see."""

    seq: int
    role: str
    accounts: dict[str, tuple[int, AccountState]]  # name -> (version written, state)


#: A read issued ahead of the lock: the last commit whose outcome was known then, the count of
#: failed commits then, and the read.
_Ahead = tuple[int, int, "asyncio.Task[StateView]"]


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
        # authorize and settle touch the same accounts: one batch at a time per worker computes,
        # and one at a time commits (`_commit_lock`), in the order they computed; a batch
        # computes while the one before it commits.
        self._lock = asyncio.Lock()
        self._commit_lock = asyncio.Lock()
        #: The latest commits' accounts (laid over reads issued before them), how many commits
        #: started, the last whose outcome is known, and how many failed.
        self._posted: deque[_Posted] = deque(maxlen=POSTED_KEPT)
        self._seq = self._done_seq = self._failed_commits = 0
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

    async def authorize(self, events: list[InputEvent]) -> BatchResult:
        valid, dead = triage(events, self._authorizer.transaction_codec, self._now_ms(),
                             self._max_skew_ms, self._partitions)
        accounts = needed_accounts(valid)
        tx_ids = {item.tx.tx_id for item in valid}
        partitions = {e.partition for e in events}
        payments = {item.tx.tx_id: Payment.of(item.tx) for item in valid
                    if item.tx.type is not TransactionType.DEPOSIT}

        def compute(view: StateView) -> BatchResult:
            return self._authorizer.apply(valid, dead, view)

        return await self._run("transactions", partitions, accounts, tx_ids, compute, payments,
                               events=len(events))

    async def settle(self, events: list[InputEvent]) -> BatchResult:
        credits = self._settler.decode(events)
        accounts = {record["destination_account"] for _, _, record in credits}
        # A credit that names its origin is deduplicated by the origin mark in the destination's
        # own state (agents.settler); only older credits without one need the tx record.
        tx_ids = {record["tx_id"] for _, _, record in credits if record.get("origin") is None}
        partitions = {e.partition for e in events}

        def compute(view: StateView) -> BatchResult:
            return self._settler.apply(credits, view)

        return await self._run("credits", partitions, accounts, tx_ids, compute, events=len(events))

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

    async def review(self, events: list[InputEvent]) -> BatchResult:
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

        return await self._run("reviews", partitions, accounts, set(), compute, events=len(events))

    async def settle_payouts(self, events: list[InputEvent]) -> BatchResult:
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
                               events=len(events))

    async def expire_holds(self, partition: int, limit: int = 1000) -> BatchResult:
        """Release this partition's holds that are past their expiry."""
        expired = await self._store.expired_holds(partition, self._now_ms(), limit)
        if not expired:
            # Nothing to expire, but a crashed run may have left outputs for a partition that
            # gets no new traffic: send them now rather than when traffic comes.
            async with self._lock:
                await self._quiet()
                await self.resend_leftovers([partition])
            return BatchResult()
        accounts = {account for account, _ in expired}

        def compute(view: StateView) -> BatchResult:
            return self._reviewer.expire(partition, expired, view)

        # the records too: an expired payout's ending carries its details (agents.payouts)
        return await self._run("expiry", {partition}, accounts, {t for _, t in expired}, compute)

    async def _run(self, role: str, partitions: set[int], accounts: set[str], tx_ids: set[str],
                   compute: Callable[[StateView], BatchResult],
                   payments: dict[str, Payment] | None = None, events: int = 0) -> BatchResult:
        clock = _StageClock(self.counters, role)
        # Sortable by time, so leftovers are re-sent in the order they were committed.
        batch_id = f"{time.time_ns():020d}-{uuid.uuid4().hex[:8]}"
        # Sends failed before the read: a later one may leave outputs our read did not see.
        failures = self._send_failures
        ahead = self._read_ahead(role, accounts, tx_ids, partitions, payments)
        conflicts = 0
        try:
            for attempt in range(1, CONFLICT_RETRIES_MAX + 1):
                async with self._lock:
                    if attempt == 1:
                        clock.lap("wait")
                    view, failed = await self._view(role, ahead, accounts, tx_ids, partitions,
                                                    payments)
                    ahead = None
                    clock.lap("read")
                    result = compute(view)
                    clock.lap("compute")
                    # Commits go one at a time, in the order the batches computed.
                    await self._commit_lock.acquire()
                    if failed != self._failed_commits:
                        # A commit laid over our view failed: what we computed on never was.
                        self._commit_lock.release()
                        conflicts += 1
                        continue
                    seq = self._post(role, view, result)
                    mine = {OutboxEntry(role, p, batch_id) for p in result.outputs}
                    self._sending |= mine  # a read from here on must not take them as left
                # The lock is released: the next batch reads and computes while this commits.
                try:
                    sent = [entry for entry in self._sent if entry.partition in partitions]
                    await self._store.commit(view, result, role, batch_id, sent)
                except StateConflictError as exc:
                    self._sending -= mine
                    self._failed_commits += 1
                    conflicts += 1
                    log.warning("%s batch recomputed (attempt %d): %s", role, attempt, exc)
                    continue
                except BaseException:
                    self._sending -= mine  # written or not: the retry's read finds out
                    self._failed_commits += 1
                    raise
                finally:
                    self._done_seq = seq
                    self._commit_lock.release()
                self._sent.difference_update(sent)
                clock.lap("commit")
                # Sends keep the order of the commits, which were made in this order.
                previous, turn = self._send_turn, asyncio.get_running_loop().create_future()
                self._send_turn = turn
                break
            else:
                raise StateConflictError(f"{role} batch kept conflicting; is another worker "
                                         f"writing these partitions: {sorted(partitions)}?")
        finally:
            if ahead is not None:
                ahead[2].cancel()
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

    def _read_ahead(self, role: str, accounts: set[str], tx_ids: set[str], partitions: set[int],
                    payments: dict[str, Payment] | None) -> _Ahead | None:
        """Start the batch's read now, before it has the lock, so Redis reads while another
        batch computes: the read is laid over with every commit its result may not show
        (`_lay_over`). Authorize and settle only (READ_AHEAD_ROLES)."""
        if role not in READ_AHEAD_ROLES:
            return None
        read = self._store.read(accounts, tx_ids, partitions, payments, OUTBOX_ROLES, self._own())
        return self._done_seq, self._failed_commits, asyncio.ensure_future(read)

    async def _view(self, role: str, ahead: _Ahead | None, accounts: set[str], tx_ids: set[str],
                    partitions: set[int], payments: dict[str, Payment] | None
                    ) -> tuple[StateView, int]:
        """The batch's state and the count of failed commits it assumes: its read ahead with the
        commits since laid over it, or a read made now, no commit in flight. With the lock."""
        if ahead is not None:
            done, failed, read = ahead
            view = await read
            # Something left in the outbox is judged by a read that no commit overtook.
            if not view.outbox_left and self._lay_over(view, role, done, failed):
                return view, failed
        await self._quiet()
        failed = self._failed_commits
        view = await self._store.read(accounts, tx_ids, partitions, payments, OUTBOX_ROLES,
                                      self._own())
        # After the read: every batch whose effects this one builds on (a crashed run's, or one a
        # worker losing the partition committed a moment ago) has its outputs sent before ours,
        # so a destination gets each origin's credits in offset order (agents.settler relies on
        # it). The read says whether anything is left, atomically with the state it read: a
        # batch committed after it on these accounts makes our commit conflict, and the retry's
        # read sees its outputs.
        if view.outbox_left:
            await self.resend_leftovers(sorted(partitions))
        return view, failed

    def _lay_over(self, view: StateView, role: str, done: int, failed: int) -> bool:
        """Put in `view` the accounts of every commit after the `done`-th, as they write them:
        a read issued while they were pending may or may not show them. False (read again) if
        one failed or is no longer kept, or if one is of a role whose other writes a `role`
        batch reads: another role's than authorize and settle, or `role`'s own (an agent's
        batches come one after the other; its records, fan-in and event-time marks are not
        laid over).

        Safe because a commit checks the version of every account it writes: ours expects the
        versions these commits write, and they succeeded (a failed one counts in
        `_failed_commits`, and the batch is computed again before it commits)."""
        later = [posted for posted in self._posted if posted.seq > done]
        if (failed != self._failed_commits or len(later) != self._seq - done
                or any(posted.role not in READ_AHEAD_ROLES or posted.role == role
                       for posted in later)):
            return False
        for posted in later:
            for name, (version, state) in posted.accounts.items():
                if name in view.versions:
                    view.versions[name] = version
                    # a copy: the batch committing it still encodes its own
                    view.accounts[name] = AccountState.decode(state.encode())
        return True

    def _post(self, role: str, view: StateView, result: BatchResult) -> int:
        """Record the commit about to be made (what `_lay_over` lays over); its number."""
        self._seq += 1
        self._posted.append(_Posted(self._seq, role, {
            name: (view.versions.get(name, 0) + 1, view.accounts[name]) for name in result.dirty}))
        return self._seq

    async def _quiet(self) -> None:
        """Wait until no commit is in flight. With the lock held, none starts until it is let go."""
        async with self._commit_lock:
            pass

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
