"""What fraud scoring costs per transaction: by stage in-process, and inside a real worker.

stages   In this process, on held-out generated traffic (seed 99) in batches of 1000, profiles
         warmed on the first half, timed (CPU, process_time) on the second: features (fan-in
         and profiles), model score (predict_proba), drivers (the named features of flagged
         rows), the shadow model, and the whole Assessor.assess with and without a model.
worker   A real `paystream worker` (authorize + settle, one process) draining a backlog of N
         transactions from Kafka with the model on, then with no model (rules only), twice
         each, alternating; worker CPU from /proc between its first and last decision. The
         difference is the model's cost inside the worker, batching and all.

Needs a trained model (`paystream train`) and, for `worker`, the local stack (`make up`).

    python -m loadtest.fraud_bench stages
    python -m loadtest.fraud_bench worker --transactions 100000
"""

from __future__ import annotations

import argparse
import copy
import json
import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np

from agents.fraud.assess import Assessor
from agents.fraud.fanin import FanInMemory, Payment, fan_in
from agents.fraud.features import extract
from agents.fraud.model import LATEST, FixedModels, ModelRegistry
from agents.rules import load_rules
from loadtest.procstat import proc_cpu_s
from paystream.launch import command, environment
from streams.generator import GeneratorConfig, TrafficGenerator
from streams.records import TransactionType
from streams.settings import Settings

REPO = Path(__file__).resolve().parent.parent
BATCH = 1000


def stages(models_dir: Path, count: int) -> dict[str, Any]:
    model = ModelRegistry(models_dir, LATEST).active()
    if model is None:
        raise SystemExit(f"no model in {models_dir}: run `paystream train` first")
    paying = [t for t, _ in TrafficGenerator(GeneratorConfig(seed=99, fraud_share=0.02)).generate(count)
              if t.type is not TransactionType.DEPOSIT]
    batches = [paying[i:i + BATCH] for i in range(0, len(paying), BATCH)]
    warm, timed = batches[:len(batches) // 2], batches[len(batches) // 2:]
    profiles: dict[str, bytes] = {}
    fans = FanInMemory()
    for batch in warm:
        payments = [Payment.of(t) for t in batch]
        _, new = extract(batch, profiles, fan_in(payments, fans.lookup(payments)))
        profiles.update(new)
        fans.apply(payments)
    warm_profiles, warm_fans = dict(profiles), copy.deepcopy(fans)
    n = sum(len(b) for b in timed)
    cpu: dict[str, float] = {"fan_in": 0.0, "features": 0.0, "score": 0.0, "drivers": 0.0}
    flagged_rows = 0
    for batch in timed:
        payments = [Payment.of(t) for t in batch]
        start = time.process_time()
        fan = fan_in(payments, fans.lookup(payments))
        cpu["fan_in"] += time.process_time() - start
        start = time.process_time()
        rows, new = extract(batch, profiles, fan)
        cpu["features"] += time.process_time() - start
        start = time.process_time()
        scores = model.score(rows)
        cpu["score"] += time.process_time() - start
        picked = np.flatnonzero(scores >= model.thresholds.review)
        flagged_rows += len(picked)
        start = time.process_time()
        model.drivers(rows[picked], scores[picked])
        cpu["drivers"] += time.process_time() - start
        profiles.update(new)
        fans.apply(payments)
    whole = {}
    for name, models in (("assess_rules_only", FixedModels(None)), ("assess_with_model", FixedModels(model)),
                         ("assess_with_model_and_shadow", FixedModels(model, model))):
        assessor = Assessor(load_rules(None), models)
        snapshot, memory = dict(warm_profiles), copy.deepcopy(warm_fans)
        start = time.process_time()
        for batch in timed:
            payments = [Payment.of(t) for t in batch]
            out = assessor.assess(batch, snapshot, memory.lookup(payments))
            snapshot.update(out.profiles)
            memory.apply(out.payments)
        whole[name] = round((time.process_time() - start) * 1e6 / n, 2)
    return {"model": model.version, "estimator": type(model.estimator).__name__, "batch": BATCH,
            "payments_timed": n, "flagged_share": round(flagged_rows / n, 4),
            "us_per_tx": {k: round(v * 1e6 / n, 2) for k, v in cpu.items()}, **whole,
            "note": "fan_in here reads an in-memory set; in the worker it is part of the Redis read"}


def worker_run(count: int, with_model: bool, models_dir: Path) -> dict[str, Any]:
    prefix = f"bench-fraud-{uuid.uuid4().hex[:8]}."
    env = environment(Settings(topic_prefix=prefix, models_dir=str(models_dir) if with_model
                               else tempfile.mkdtemp()))
    subprocess.run(command("topics", "create"), env=env, check=True, capture_output=True)
    subprocess.run(command("produce", "--count", str(count), "--seed", "99", "--fraud-share",
                           "0.02", "--json"), env=env, check=True, capture_output=True)
    log = tempfile.NamedTemporaryFile("w", prefix="fraud-bench-", suffix=".log", delete=False)
    worker = subprocess.Popen(command("worker", "--stats-every-s", "60"), env=env,
                              stdout=log, stderr=subprocess.STDOUT)
    try:
        first_cpu = _wait_decisions(env, prefix, 1, worker.pid, timeout_s=120)
        started = time.monotonic()
        last_cpu = _wait_decisions(env, prefix, count, worker.pid, timeout_s=900)
        elapsed = time.monotonic() - started
    finally:
        worker.terminate()
        worker.wait(timeout=60)
        log.close()
    return {"model": with_model, "worker_cpu_us_per_tx": round((last_cpu - first_cpu) * 1e6 / count, 1),
            "tx_per_s": round(count / elapsed), "log": log.name}


def _wait_decisions(env: dict[str, str], prefix: str, target: int, pid: int, timeout_s: float) -> float:
    """Poll the decisions topic's end offsets until `target`; the worker's CPU seconds then."""
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": env.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:19092"),
                         "group.id": f"{prefix}bench-watch"})
    topic = f"{prefix}decisions"
    deadline = time.monotonic() + timeout_s
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        while time.monotonic() < deadline:
            total = sum(consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
                        for p in partitions)
            if total >= target:
                cpu = proc_cpu_s(pid)
                if cpu is None:
                    raise SystemExit("the worker exited")
                return cpu
            time.sleep(0.05)
    finally:
        consumer.close()
    raise SystemExit(f"{topic}: fewer than {target} decisions after {timeout_s} s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("what", choices=["stages", "worker"])
    parser.add_argument("--transactions", type=int, default=100_000)
    parser.add_argument("--models-dir", type=Path, default=REPO / "models")
    parser.add_argument("--repeat", type=int, default=2, help="worker: runs per mode, alternating")
    args = parser.parse_args(argv)
    if args.what == "stages":
        print(json.dumps(stages(args.models_dir, args.transactions), indent=2))
        return 0
    runs = [worker_run(args.transactions, with_model, args.models_dir.resolve())
            for _ in range(args.repeat) for with_model in (True, False)]
    on = [r["worker_cpu_us_per_tx"] for r in runs if r["model"]]
    off = [r["worker_cpu_us_per_tx"] for r in runs if not r["model"]]
    print(json.dumps({"runs": runs, "model_cost_us_per_tx": round(float(np.median(on) - np.median(off)), 1),
                      "median_with_model": float(np.median(on)), "median_rules_only": float(np.median(off))},
                     indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
