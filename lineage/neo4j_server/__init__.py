"""Run a real Neo4j Community server without a Neo4j install: Maven jars and a tiny launcher.

``fetch`` copies the runtime jars of ``org.neo4j:neo4j`` (5.26 LTS, Java 17) with Maven into a
cache directory; ``Neo4jServer`` starts ``Launcher.java`` (single-file source launch) on a Bolt
port with a capped heap and page cache, waits until the driver connects, and stops it with
SIGTERM (the launcher's shutdown hook closes the store) or kills it (for crash tests).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
POM = HERE / "pom.xml"
LAUNCHER = HERE / "Launcher.java"
DEFAULT_CACHE = Path(os.environ.get("GOVERNANCE_NEO4J_CACHE", Path.cwd() / ".cache" / "neo4j"))
JVM_FLAGS = [
    "-XX:+UseG1GC",
    "-XX:-OmitStackTraceInFastThrow",
    "-XX:+DisableExplicitGC",
    "-Djdk.nio.maxCachedBufferSize=1024",
    "-Dio.netty.tryReflectionSetAccessible=true",
    "-Dlog4j2.disable.jmx=true",
    "--add-opens=java.base/java.nio=ALL-UNNAMED",
    "--add-opens=java.base/java.io=ALL-UNNAMED",
    "--add-opens=java.base/sun.nio.ch=ALL-UNNAMED",
    "--add-opens=java.base/java.lang=ALL-UNNAMED",
    "--enable-native-access=ALL-UNNAMED",
]


class Neo4jUnavailable(RuntimeError):
    """Java, Maven or the jars are missing, or the server did not come up."""


def deps_dir(cache: Path = DEFAULT_CACHE) -> Path:
    return cache / "deps"


def fetch(cache: Path = DEFAULT_CACHE, *, quiet: bool = True) -> Path:
    """Copy the Neo4j runtime jars into ``cache/deps`` (once; a marker records the pom)."""
    target = deps_dir(cache)
    marker = target / ".pom"
    pom = POM.read_text()
    if marker.exists() and marker.read_text() == pom:
        return target
    mvn = shutil.which("mvn")
    if mvn is None:
        raise Neo4jUnavailable("Maven (mvn) is needed to fetch the Neo4j jars")
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    cmd = [
        mvn,
        "-B",
        "-f",
        str(POM),
        "dependency:copy-dependencies",
        "-DincludeScope=runtime",
        f"-DoutputDirectory={target}",
    ]
    if quiet:
        cmd.insert(2, "-q")
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)  # noqa: S603
    if result.returncode != 0:
        raise Neo4jUnavailable(
            f"mvn could not fetch Neo4j: {result.stdout[-2000:]}{result.stderr[-2000:]}"
        )
    marker.write_text(pom)
    return target


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Neo4jServer:
    """One Neo4j process on 127.0.0.1:port with its store in ``home``."""

    def __init__(
        self,
        home: Path,
        port: int | None = None,
        *,
        cache: Path = DEFAULT_CACHE,
        heap: str = "1g",
        page_cache_mb: int = 256,
        log: Path | None = None,
    ) -> None:
        self.home = home
        self.port = port or free_port()
        self.cache = cache
        self.heap = heap
        self.page_cache_mb = page_cache_mb
        self.log = log or home / "launcher.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def uri(self) -> str:
        return f"bolt://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        java = shutil.which("java")
        if java is None:
            raise Neo4jUnavailable("Java 17 is needed to run Neo4j")
        deps = fetch(self.cache)
        return [
            java,
            f"-Xmx{self.heap}",
            *JVM_FLAGS,
            "-cp",
            f"{deps}/*",
            str(LAUNCHER),
            str(self.home),
            str(self.port),
            str(self.page_cache_mb),
        ]

    def start(self, timeout: float = 180.0) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        cmd = self.command()
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(  # noqa: S603
                cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        self.wait_ready(timeout)

    def wait_ready(self, timeout: float) -> None:
        import neo4j

        deadline = time.monotonic() + timeout
        last: Exception | None = None
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise Neo4jUnavailable(
                    f"Neo4j exited with {self.process.returncode}; see {self.log}"
                )
            try:
                with neo4j.GraphDatabase.driver(
                    self.uri, auth=None, connection_timeout=2
                ) as driver:
                    driver.verify_connectivity()
                return
            except Exception as exc:  # not up yet
                last = exc
                time.sleep(0.5)
        raise Neo4jUnavailable(f"Neo4j did not accept connections in {timeout:.0f} s: {last}")

    def stop(self, timeout: float = 60.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def kill(self) -> None:
        """SIGKILL, as a crash would: no shutdown hook runs."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    # ---- a server that outlives its starter (``governance neo4j start --detach``) -----------

    @property
    def pidfile(self) -> Path:
        return self.home / "launcher.pid"

    def record(self) -> None:
        """Write ``pid port`` beside the store, for ``stop_detached`` and status."""
        assert self.process is not None
        self.pidfile.write_text(f"{self.process.pid} {self.port}\n")

    def forget(self) -> None:
        """Let the server outlive this handle (``--detach``); ``stop_detached`` ends it."""
        if self.process is not None:
            self.process.returncode = 0  # no "still running" warning when the handle goes
            self.process = None


def detached(home: Path) -> tuple[int, int] | None:
    """``(pid, port)`` of a server started detached in ``home``, if it still runs."""
    try:
        pid_text, port_text = (home / "launcher.pid").read_text().split()
        pid, port = int(pid_text), int(port_text)
        os.kill(pid, 0)
    except (OSError, ValueError):
        return None
    return pid, port


def stop_detached(home: Path, timeout: float = 60.0) -> bool:
    """SIGTERM the detached server in ``home`` and wait for it; False if none was running."""
    found = detached(home)
    (home / "launcher.pid").unlink(missing_ok=True)
    if found is None:
        return False
    pid, _ = found
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(ChildProcessError):  # reap it if we started it (no zombie)
            os.waitpid(pid, os.WNOHANG)
        try:
            os.kill(pid, 0)
        except OSError:
            return True
        time.sleep(0.2)
    os.kill(pid, signal.SIGKILL)
    return True
