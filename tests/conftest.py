"""Where the tests find Kafka, PostgreSQL and Redis.

If a Docker daemon answers, testcontainers starts throwaway servers. Otherwise the tests use the
servers named by KAFKA_BOOTSTRAP_SERVERS / DATABASE_URL / REDIS_URL, which default to the local
stack (`make up`). We probe the daemon, not the docker binary: the binary is often installed
without an engine. A missing server fails the test with what to do; it never skips.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from paystream.launch import free_port
from streams.settings import Settings, load_settings


def docker_daemon_answers() -> bool:
    try:
        import docker

        docker.from_env(timeout=3).ping()
        return True
    except Exception:  # noqa: BLE001 (no socket, refused, no permission: all mean "no engine")
        return False


USE_CONTAINERS = os.environ.get("PAYSTREAM_TESTCONTAINERS", "auto") != "off" and docker_daemon_answers()


def _require_listening(name: str, host: str, port: int) -> None:
    try:
        socket.create_connection((host, port), timeout=3).close()
    except OSError as exc:
        pytest.fail(f"{name} does not answer at {host}:{port} ({exc}); start the local stack "
                    f"with `make up`, or point the environment variable at a running server")


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    if USE_CONTAINERS:
        from testcontainers.community.kafka import KafkaContainer

        with KafkaContainer("confluentinc/cp-kafka:7.7.1").with_kraft() as kafka:
            yield kafka.get_bootstrap_server()
        return
    servers = load_settings().kafka_bootstrap_servers
    host, _, port = servers.split(",")[0].rpartition(":")
    _require_listening("Kafka", host, int(port))
    yield servers


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    if USE_CONTAINERS:
        from testcontainers.community.postgres import PostgresContainer

        with PostgresContainer("postgres:16", driver=None) as postgres:
            yield postgres.get_connection_url()
        return
    yield load_settings().database_url


def _redis(local_url: str) -> Iterator[str]:
    """A throwaway Redis container when a Docker daemon answers, else the local stack's."""
    if USE_CONTAINERS:
        from testcontainers.community.redis import RedisContainer

        with RedisContainer("redis:7") as redis:
            yield f"redis://{redis.get_container_host_ip()}:{redis.get_exposed_port(6379)}/0"
        return
    yield local_url


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """Account state's Redis."""
    yield from _redis(load_settings().redis_url)


def _redis_cluster(directory: Path) -> Iterator[str]:
    """A Redis Cluster of three masters in `directory` (deploy/local/redis_cluster.py,
    redis-server in cluster mode), stopped at the end: REDIS_URL of a node of it."""
    import subprocess
    import sys

    script = Path(__file__).resolve().parents[1] / "deploy" / "local" / "redis_cluster.py"
    ports = [free_port(also_free_at=10000) for _ in range(3)]  # a node and its bus
    started = subprocess.run([sys.executable, str(script), "up", "--dir", str(directory),
                              "--ports", ",".join(map(str, ports))],
                             capture_output=True, text=True, timeout=120, check=False)
    try:
        if started.returncode:
            pytest.fail(f"the test's Redis Cluster did not start:\n{started.stdout}{started.stderr}")
        yield f"redis://127.0.0.1:{ports[0]}/0"
    finally:
        subprocess.run([sys.executable, str(script), "down", "--dir", str(directory)],
                       capture_output=True, timeout=120, check=False)


@pytest.fixture(scope="session")
def redis_cluster_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Redis Cluster of this session's own, shared by the tests that use it."""
    yield from _redis_cluster(tmp_path_factory.mktemp("redis-cluster"))


@pytest.fixture
def fresh_redis_cluster_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Redis Cluster of this test's own: for a test that changes the cluster's layout."""
    yield from _redis_cluster(tmp_path_factory.mktemp("redis-cluster-own"))


@pytest.fixture
def stack_settings(kafka_bootstrap: str, request: pytest.FixtureRequest,
                   tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """Settings with a topic prefix of this test's own, its topics created, deleted afterwards.

    Its models folder is empty (rules only), whatever models/ holds on this machine: a test
    that wants a model puts one there.
    """
    from confluent_kafka.admin import AdminClient

    from streams.topics import create_topics, delete_topics, topics

    prefix = f"t{os.getpid()}-{request.node.name[:40]}-{os.urandom(3).hex()}."
    prefix = "".join(c if c.isalnum() or c in "._-" else "_" for c in prefix)
    settings = load_settings().model_copy(update={
        "kafka_bootstrap_servers": kafka_bootstrap,
        "topic_prefix": prefix,
        "models_dir": str(tmp_path_factory.mktemp("models")),
    })
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    specs = topics(prefix, settings.partitions).all()
    create_topics(admin, specs)
    yield settings
    delete_topics(admin, [s.name for s in specs])


def clean_redis_namespace(redis_url: str, prefix: str) -> None:
    """Delete every key paystream wrote under topic prefix `prefix`."""
    import asyncio

    from redis.asyncio import Redis

    from agents.store import delete_namespace

    async def clean() -> None:
        redis = Redis.from_url(redis_url)
        try:
            await delete_namespace(redis, prefix)
        finally:
            await redis.aclose()

    asyncio.run(clean())


@pytest.fixture(scope="session")
def notify_redis_url() -> Iterator[str]:
    """The notifications' Redis: a server of its own, as in production."""
    yield from _redis(load_settings().notify_redis_url)


@pytest.fixture
def db_settings(stack_settings: Settings, database_url: str) -> Iterator[Settings]:
    """stack_settings plus a PostgreSQL schema of this test's own, migrated, dropped afterwards."""
    import psycopg

    from sinks.db import migrate

    schema = f"t_{os.getpid()}_{os.urandom(4).hex()}"
    settings = stack_settings.model_copy(update={"database_url": database_url, "db_schema": schema})
    migrate(database_url, schema)
    yield settings
    with psycopg.connect(database_url, autocommit=True) as connection:
        connection.execute(f'DROP SCHEMA "{schema}" CASCADE')
