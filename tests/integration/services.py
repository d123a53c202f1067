"""Real services for integration tests: a private redis-server per test, a Celery worker
subprocess that can be killed and restarted, what `celery beat` sends, and polling helpers."""

from __future__ import annotations

import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import redis
from flask import Flask

from directory.extensions import db
from directory.referrals import dispatch
from tests.conftest import ROOT, skip_missing_service


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(condition: Callable[[], bool], seconds: float, what: str, interval: float = 0.2) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {seconds:g} s waiting for {what}")


class RedisServer:
    """A redis-server on a free loopback port, keeping nothing on disk; can be stopped and restarted."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.workdir = workdir
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
            ],  # fmt: skip
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for(self._answers, 15, f"redis-server on port {self.port}")

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=15)

    def pause(self) -> None:
        """Hang the server (SIGSTOP): the kernel still takes connections, nothing answers them."""
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)

    def queue_length(self, queue: str = "celery") -> int:
        """How many messages wait in a Celery queue (not counting those a worker holds)."""
        client = redis.Redis.from_url(self.url)
        try:
            return client.llen(queue)
        finally:
            client.close()


class SilentServer:
    """A TCP server on a free loopback port that accepts connections and never answers: a hung
    Redis (stuck, or behind a network that drops its replies). Use it as a context manager."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.2)
        self.held: list[socket.socket] = []
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._accept, daemon=True)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.listener.getsockname()[1]}/0"

    def _accept(self) -> None:
        while not self.stopping.is_set():
            try:
                self.held.append(self.listener.accept()[0])
            except OSError:
                continue

    def __enter__(self) -> SilentServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        self.thread.join()
        for connection in self.held:
            connection.close()
        self.listener.close()


def start_redis(workdir: Path) -> RedisServer:
    """Start a private redis-server (skips the test, saying why, if Redis is not installed; fails it under CI)."""
    if shutil.which("redis-server") is None:
        skip_missing_service("redis-server is not installed (scripts/test.sh installs it with apt-get where it can)")
    server = RedisServer(workdir)
    server.start()
    start_redis.current = server  # type: ignore[attr-defined]
    return server


class Worker:
    """`celery -A tasks worker` as a subprocess (two worker processes), in a session of its own.

    Supervised as the deployment's `restart: unless-stopped` does: a worker that exits on its own
    (it does when it loses the broker, see directory/celery_app.py) is started again. `kill` and
    `stop` are the test's own doing and are not undone.
    """

    def __init__(self, app: Flask, log: Path, **env: str) -> None:
        self.env = {
            **os.environ,
            "DATABASE_URL": app.config["DATABASE_URL"],
            "REDIS_URL": app.config["REDIS_URL"],
            "MAIL_OUTBOX": app.config["MAIL_OUTBOX"],
            "SECRET_KEY": "test",
            # The worker offers as the test's app does (tests/conftest.py: one at a time unless asked).
            "OFFERS_AT_ONCE": str(app.config["OFFERS_AT_ONCE"]),
            **env,
        }
        self.log = log
        self.process: subprocess.Popen | None = None
        self.restarts = 0  # by the supervisor, after the worker exited on its own
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._supervisor: threading.Thread | None = None

    def _spawn(self) -> int:
        """Start the process; returns where its output starts in the log."""
        self.log.touch()
        offset = self.log.stat().st_size
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "tasks",
                "worker",
                "--concurrency",
                "2",
                "--loglevel",
                "INFO",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
            ],  # fmt: skip
            cwd=ROOT,
            env=self.env,
            stdout=self.log.open("a"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        return offset

    def start(self) -> None:
        """Start the worker and wait until it says it is ready (this start, not an earlier one)."""
        with self._lock:
            offset = self._spawn()
        if self._supervisor is None:
            self._supervisor = threading.Thread(target=self._supervise, name="worker-supervisor", daemon=True)
            self._supervisor.start()
        wait_for(lambda: "ready." in self.log.read_text()[offset:], 60, "the celery worker to start")

    def _supervise(self) -> None:
        while not self._stopped.wait(0.2):
            with self._lock:
                if self.process is not None and self.process.poll() is not None:
                    self.restarts += 1
                    self._spawn()

    def children(self) -> list[int]:
        """The pool processes' ids."""
        assert self.process is not None
        pid = self.process.pid
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]

    def kill(self) -> None:
        """SIGKILL the whole worker (main process and pool): what it holds stays unacknowledged.
        Start it again with `start`."""
        with self._lock:
            assert self.process is not None
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)
            self.process = None

    def kill_child(self) -> int:
        """SIGKILL one pool process (as the OOM killer would); the main process replaces it."""
        child = self.children()[0]
        os.kill(child, signal.SIGKILL)
        return child

    def stop(self) -> None:
        self._stopped.set()
        if self._supervisor is not None:
            self._supervisor.join(timeout=10)
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)


class Beat:
    """What `celery beat` runs every 30 s (tasks.routing.dispatch_outbox), every `interval` seconds in
    a thread: send the outbox rows never sent, and re-send those sent over ROUTING_REDISPATCH_SECONDS
    ago and not done (a referral still unrouted, a notice still unmailed). A round that fails (broker
    or database down) is counted and the next round tries again, as beat would."""

    def __init__(self, app: Flask, interval: float = 1.0) -> None:
        self.app = app
        self.interval = interval
        self.sent = 0
        self.failed_rounds = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="beat", daemon=True)

    def __enter__(self) -> Beat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=60)

    def _run(self) -> None:
        while not self._stop.is_set():
            with self.app.app_context():
                try:  # what `tasks.routing.dispatch_outbox` does
                    self.sent += dispatch.send_pending()
                except Exception as error:  # e.g. the database is locked: the next round tries again
                    self.failed_rounds += 1
                    logging.getLogger(__name__).warning("beat round failed: %s", type(error).__name__)
                    db.session.rollback()
            self._stop.wait(self.interval)
