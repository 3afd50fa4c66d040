"""The deployment files validate offline (`make validate-deploy`), and the validator catches
what it is for: a mistyped key, a port on every address, a container with privileges."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "deploy"))

from validate import compose_problems  # noqa: E402


def test_make_validate_deploy_passes() -> None:
    result = subprocess.run([sys.executable, str(ROOT / "deploy" / "validate.py")],
                            capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip().endswith("validate-deploy: ok")


def test_the_compose_check_names_what_is_wrong(tmp_path: Path) -> None:
    source = ROOT / "deploy" / "compose"
    document = yaml.safe_load((source / "compose.yaml").read_text())
    document["services"]["api"]["helthcheck"] = {"test": ["CMD", "true"]}   # a typo
    document["services"]["grafana"]["ports"] = ["3000:3000"]               # every address
    document["services"]["sinks"]["read_only"] = False
    broken = source / "compose.broken-test.yaml"  # beside the real one: relative files resolve
    try:
        broken.write_text(yaml.safe_dump(document))
        problems = "\n".join(compose_problems(broken))
    finally:
        broken.unlink()
    assert "services/api" in problems and "helthcheck" in problems
    assert "services/grafana: port '3000:3000' is published on every address" in problems
    assert "services/sinks: a paystream container must be read_only" in problems


def test_the_kubernetes_check_names_what_is_wrong(tmp_path: Path) -> None:
    import shutil

    import pytest
    from k8s_check import k8s_problems, kustomize

    try:
        kustomize()
    except SystemExit:
        pytest.skip("kustomize not installed (make validate-deploy installs it; make test does)")
    copy = tmp_path / "k8s"
    shutil.copytree(ROOT / "deploy" / "k8s", copy)
    kafka = copy / "base" / "kafka.yaml"
    kafka.write_text(kafka.read_text().replace("    listeners:", "    listenrs:"))          # CRD typo
    api = copy / "base" / "api.yaml"
    api.write_text(api.read_text().replace("  replicas: 2", "  replica: 2", 1)              # core typo
                   .replace("readOnlyRootFilesystem: true", "readOnlyRootFilesystem: false", 1))
    problems = "\n".join(k8s_problems(copy, ROOT / "deploy" / "schemas"))
    assert "Kafka/paystream" in problems and "listenrs" in problems
    assert "Deployment/api" in problems and "replica" in problems
    assert "container api: readOnlyRootFilesystem must be true" in problems


def test_the_kafka_topics_of_the_manifests_are_paystreams_topics() -> None:
    from streams.topics import topics

    declared = {d["spec"]["topicName"]: d["spec"] for d in yaml.safe_load_all(
        (ROOT / "deploy" / "k8s" / "base" / "topics.yaml").read_text())}
    for spec in topics("").all():
        assert spec.name in declared, spec.name
        assert declared[spec.name]["partitions"] == spec.partitions
        for key, value in spec.config.items():
            assert str(declared[spec.name]["config"][key]) == value, (spec.name, key)
    assert len(declared) == len(topics("").all())


def _k8s_documents() -> list[dict]:
    return [d for path in sorted((ROOT / "deploy" / "k8s" / "base").glob("*.yaml"))
            for d in yaml.safe_load_all(path.read_text()) if d]


def test_kubernetes_runs_every_long_running_process_compose_runs() -> None:
    """What compose starts as a paystream service (worker, sinks, notify, payout-watch, api)
    has a Deployment running the same command, so no part of the system exists in one
    deployment and not the other."""
    compose = yaml.safe_load((ROOT / "deploy" / "compose" / "compose.yaml").read_text())
    # (the one-shot set-up is a shell line, not a command word: the migrate Job does it here)
    long_running = {service["command"][0] for service in compose["services"].values()
                    if service.get("image", "").startswith("paystream")
                    and " " not in service["command"][0]}
    deployed = {c["args"][0] for d in _k8s_documents() if d["kind"] == "Deployment"
                for c in d["spec"]["template"]["spec"]["containers"] if c.get("args")}
    assert {"worker", "sink", "notify", "payout-watch", "api"} <= long_running
    assert long_running <= deployed, long_running - deployed


def test_the_workers_get_the_quotes_file_their_settings_name() -> None:
    docs = _k8s_documents()
    config = next(d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"] == "paystream")
    path = Path(config["data"]["PAYSTREAM_QUOTES_PATH"])
    worker = next(d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] == "worker")
    pod = worker["spec"]["template"]["spec"]
    mount = next(m for m in pod["containers"][0]["volumeMounts"] if m["mountPath"] == str(path.parent))
    volume = next(v for v in pod["volumes"] if v["name"] == mount["name"])
    quotes = next(d for d in docs if d["kind"] == "ConfigMap"
                  and d["metadata"]["name"] == volume["configMap"]["name"])
    assert path.name in quotes["data"]
