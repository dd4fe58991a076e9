"""``sluice up``: a whole system of services on one machine, one command.

Each service is a `sluice serve` child of its own (its own embedded PostgreSQL under
``.sluice/<name>/``, its own port), its output prefixed with its name. Before they start,
every link gets its key: a key of the producer's, scoped to the streams the consumer reads,
made in the producer's database (`sluice keys create`, the first time only) and kept in
``.sluice/<consumer>/upstreams/<producer>.key``; each service's admin key is kept in
``.sluice/<name>/admin.key``. Ctrl-C (or SIGTERM) stops every child the way `sluice serve`
stops: requests drained, workers stopped, embedded PostgreSQL last.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO, Any

import httpx

from app.config import ConfigurationError
from app.keys.bootstrap import write_secret
from app.keys.material import new_key
from app.settings import Settings
from app.systems.plan import Link, SystemPlan, bundled_system, read_system
from app.upstream.settings import variable

# Set per service by --kafka; inherited by every child they would name another's streams.
PER_SERVICE_KAFKA = (
    "SLUICE_KAFKA_BOOTSTRAP_SERVERS",
    "SLUICE_KAFKA_PUBLISH",
    "SLUICE_KAFKA_SUBSCRIBE",
)
STOP_SECONDS = 60.0  # per child, after the signal, before it is killed
READY_SECONDS = 180.0


def add_commands(commands: Any) -> None:
    up = commands.add_parser(
        "up", help="run a system of services together (default: the ward and outreach)"
    )
    up.add_argument("system", nargs="?", type=Path, help="a system file (TOML); see README")
    up.add_argument("--data-dir", type=Path, help="default: SLUICE_DATA_DIR or .sluice")
    up.add_argument(
        "--kafka",
        nargs="?",
        const="dev",
        metavar="BOOTSTRAP",
        help="streams travel through Kafka topics instead of HTTP: brokers host:port,...;"
        " no value: an in-memory development cluster (sluice kafka-dev) for the system",
    )
    up.set_defaults(run=run_up)


def run_up(settings: Settings, args: argparse.Namespace) -> int:
    logging.getLogger("httpx").setLevel(logging.WARNING)  # our readiness polls are not news
    system = read_system(args.system or bundled_system())
    root = (args.data_dir or settings.database.data_dir).resolve()
    environments = {name: _environment(system, name, root) for name in system.entries}
    for link in system.links:
        key = _stream_key(link, root, environments[link.producer])
        environments[link.consumer][variable(link.producer, "url")] = system.url(link.producer)
        environments[link.consumer][variable(link.producer, "key")] = key
    cluster = None
    if args.kafka:
        if args.kafka == "dev":
            from app.kafka.devbroker import DevCluster

            cluster = DevCluster()
        bootstrap = cluster.bootstrap if cluster else args.kafka
        for name, extra in kafka_environments(system, bootstrap).items():
            environments[name].update(extra)
    try:
        return Supervisor(system, environments, root).run()
    finally:
        if cluster is not None:
            cluster.close()


def kafka_environments(system: SystemPlan, bootstrap: str) -> dict[str, dict[str, str]]:
    """Every link over Kafka: each producer publishes the streams it is read by to topics
    named ``<producer>.<stream>``, each consumer reads those topics instead of HTTP."""
    publish: dict[str, list[str]] = {name: [] for name in system.entries}
    subscribe: dict[str, list[str]] = {name: [] for name in system.entries}
    for link in system.links:
        for stream in link.streams:
            topic = f"{link.producer}.{stream}"
            if f"{stream}={topic}" not in publish[link.producer]:
                publish[link.producer].append(f"{stream}={topic}")
            subscribe[link.consumer].append(f"{link.producer}/{stream}={topic}")
    found: dict[str, dict[str, str]] = {}
    for name in system.entries:
        env = {"SLUICE_KAFKA_BOOTSTRAP_SERVERS": bootstrap}
        if publish[name]:
            env["SLUICE_KAFKA_PUBLISH"] = ",".join(publish[name])
        if subscribe[name]:
            env["SLUICE_KAFKA_SUBSCRIBE"] = ",".join(subscribe[name])
        found[name] = env
    return found


def _environment(system: SystemPlan, name: str, root: Path) -> dict[str, str]:
    """A child's environment: ours without what would pick another service or database."""
    entry = system.entries[name]
    inherited = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("SLUICE_UPSTREAM_", "SLUICE_SERVICE", "SLUICE_ADMIN_KEY"))
        and key not in ("DATABASE_URL", "SLUICE_DATA_DIR", "SLUICE_PORT", "SLUICE_HOST")
        and key not in PER_SERVICE_KAFKA
    }
    env = {
        **inherited,
        **entry.env,
        "SLUICE_SERVICE": entry.service,
        "SLUICE_DATA_DIR": str(root / name),
        "SLUICE_ADMIN_KEY": _kept_key(root / name / "admin.key", new_key),
    }
    if entry.database_url:
        env["DATABASE_URL"] = entry.database_url
    if sys.stdout.isatty():  # the children write to a pipe: they would choose JSON
        env.setdefault("SLUICE_LOG_FORMAT", "text")
    return env


def _kept_key(path: Path, make: Any) -> str:
    """The key kept at ``path`` (mode 0600; its first line), made by ``make()`` the first
    time (what it returns is the file's content)."""
    if not path.exists():
        write_secret(path, str(make()))
    return path.read_text().split()[0]


def _stream_key(link: Link, root: Path, producer_env: dict[str, str]) -> str:
    """The consumer's key for the producer's streams; made once, in the producer's database
    (a new one when the consumer comes to read more streams)."""
    path = root / link.consumer / "upstreams" / f"{link.producer}.key"
    if path.exists():
        key, _, scopes = path.read_text().partition("\n")
        if scopes.strip() == link.scopes:
            return key.strip()
        path.unlink()

    def make() -> str:
        print(f"sluice up: a key of {link.producer}'s for {link.consumer} ({link.scopes})")
        create = ["keys", "create", "--name", link.consumer, "--scopes", link.scopes]
        made = subprocess.run(
            [sys.executable, "-m", "app", *create],
            env=producer_env,
            capture_output=True,
            text=True,
            timeout=READY_SECONDS,
        )
        if made.returncode != 0:
            raise ConfigurationError(
                f"could not make {link.consumer}'s key in {link.producer}: {made.stderr.strip()}"
            )
        return f"{made.stdout.strip()}\n{link.scopes}"

    return _kept_key(path, make)


class Supervisor:
    """The children: started together, watched, stopped together."""

    def __init__(self, system: SystemPlan, environments: dict[str, dict[str, str]], root: Path):
        self.system = system
        self.environments = environments
        self.root = root
        self.children: dict[str, subprocess.Popen[bytes]] = {}
        self.width = max(len(name) for name in system.entries)
        self.stopping: int | None = None  # the signal that asked us to stop
        self.output = threading.Lock()

    def run(self) -> int:
        previous = {sig: signal.signal(sig, self._asked_to_stop) for sig in _STOP_SIGNALS}
        try:
            for name in self.system.entries:
                self._start(name)
            if self._wait_ready():
                self._say(self._summary())
            return self._watch()
        finally:
            self._stop_all()
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _start(self, name: str) -> None:
        entry = self.system.entries[name]
        serve = ["serve", "--host", entry.host, "--port", str(entry.port)]
        child = subprocess.Popen(
            [sys.executable, "-m", "app", *serve],
            env=self.environments[name],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C reaches us; each child is stopped once, by us
        )
        self.children[name] = child
        assert child.stdout is not None
        threading.Thread(target=self._relay, args=(name, child.stdout), daemon=True).start()

    def _relay(self, name: str, stream: IO[bytes]) -> None:
        prefix = f"{name:<{self.width}} | "
        for line in iter(stream.readline, b""):
            self._say(prefix + line.decode(errors="replace").rstrip("\n"))

    def _say(self, text: str) -> None:
        with self.output:
            print(text, flush=True)

    def _wait_ready(self) -> bool:
        deadline = time.monotonic() + READY_SECONDS
        waiting = set(self.children)
        while waiting and self.stopping is None and time.monotonic() < deadline:
            for name in list(waiting):
                if self.children[name].poll() is not None:
                    return False
                if _ready(self.system.url(name)):
                    waiting.discard(name)
            time.sleep(0.2)
        return not waiting

    def _summary(self) -> str:
        lines = ["", "sluice up: the system is running (Ctrl-C stops it all)"]
        for name in self.system.entries:
            url = self.system.url(name)
            reads = ", ".join(
                f"{link.producer}/{stream}"
                for link in self.system.reads(name)
                for stream in link.streams
            )
            lines.append(f"  {name:<{self.width}}  {url}/console/  reads: {reads or 'nothing'}")
            lines.append(f"  {'':<{self.width}}  admin key in {self.root / name / 'admin.key'}")
        return "\n".join([*lines, ""])

    def _watch(self) -> int:
        while self.stopping is None:
            for name, child in self.children.items():
                code = child.poll()
                if code is not None:
                    self._say(f"sluice up: {name} exited with code {code}: stopping the others")
                    return code or 1
            time.sleep(0.2)
        return 0

    def _asked_to_stop(self, signum: int, frame: Any) -> None:
        self.stopping = signum

    def _stop_all(self) -> None:
        running = {name: c for name, c in self.children.items() if c.poll() is None}
        for child in running.values():
            child.send_signal(signal.SIGINT)  # as Ctrl-C at its own terminal
        deadline = time.monotonic() + STOP_SECONDS
        for name, child in running.items():
            try:
                child.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self._say(f"sluice up: {name} did not stop in {STOP_SECONDS:g}s: killed")
                child.kill()
                child.wait()


_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/readyz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False
