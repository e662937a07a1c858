"""Fixtures that start real Redis servers and Celery worker processes."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import IN_CI, require_postgresql
from tests.real_parts import (
    ROOT,
    RedisServer,
    Worker,
    celery_broker,
    database_url_of_test_db,
    free_port,
    wait_until,
)


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    require_postgresql()
    if not shutil.which("redis-server"):
        if IN_CI:
            pytest.fail("CI must run the worker tests: redis-server is missing.")
        pytest.skip("needs redis-server")
    server = RedisServer(port=free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def start_worker(redis_server: RedisServer) -> Iterator[Callable[[str], Worker]]:
    """Start a real ``celery worker`` process on the test database and the test Redis."""
    workers: list[Worker] = []
    log_dir = Path(tempfile.mkdtemp(prefix="celery-"))

    def start(name: str) -> Worker:
        log_path = log_dir / f"{name}.log"
        env = os.environ | {
            "DJANGO_SETTINGS_MODULE": "config.settings.test",
            "DATABASE_URL": database_url_of_test_db(),
            "REDIS_URL": redis_server.url,
            "CELERY_TASK_ALWAYS_EAGER": "false",
            "WEBHOOK_CLAIM_SECONDS": "2",
        }
        process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool", "solo",
             "--without-gossip", "--without-mingle", "--without-heartbeat",
             "--hostname", f"{name}@%h", "--loglevel", "INFO"],
            cwd=ROOT, env=env, stdout=log_path.open("wb"), stderr=subprocess.STDOUT,
        )  # fmt: skip
        worker = Worker(process=process, log_path=log_path)
        workers.append(worker)
        wait_until(lambda: "ready." in worker.log() or process.poll() is not None, 60, "worker")
        assert process.poll() is None, worker.log()
        return worker

    yield start
    for worker in workers:
        if worker.process.poll() is None:
            worker.process.terminate()
            try:
                worker.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                worker.kill()


@pytest.fixture
def enqueue_to(settings: Any) -> Callable[[str], Any]:
    """Make this process enqueue for real to the given broker (not eagerly)."""
    settings.CELERY_TASK_ALWAYS_EAGER = False
    return celery_broker
