"""Starts the built `gateway` as a child process for the end-to-end tests.

A test gets a gateway that maps every API host to the fake provider (`gateway.upstream_override`), trusts
the test CA upstream (`gateway.upstream_ca`), and sends its capture frames to a `FrameSink` standing in for
ingestd. The sink is started before the gateway, as ingestd would be, so the first exchange is captured
without a reconnect; a test that wants the gateway to start alone passes `start_sink=False`.

The binary comes from FLIGHTLOG_BIN -- the bin directory, as the Makefile passes it, or the gateway
executable itself -- else from `swift build --show-bin-path` in the repository (which only prints a path).

    with GatewayProcess(gateway_binary(), provider_port, test_ca.ca_cert) as gw:
        httpx.Client(proxy=gw.proxy_url, verify=gw.client_ssl_context()) ...
        gw.sink.exchanges()
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
from functools import lru_cache
from pathlib import Path
from typing import Any

from frame_sink import FrameSink

REPO_ROOT = Path(__file__).resolve().parents[2]
#: Every host the agents under test talk to; all of them are mapped to the fake provider.
API_HOSTS: tuple[str, ...] = (
    "api.anthropic.com",
    "api.openai.com",
    "generativelanguage.googleapis.com",
    "chatgpt.com",
)
READY_TIMEOUT = 30.0
_SWIFT_PATHS = ("/opt/swift/usr/bin",)


class GatewayError(RuntimeError):
    """The gateway did not start, or exited unexpectedly; the message carries its log tail."""


@lru_cache(maxsize=1)
def gateway_binary() -> Path:
    """The gateway executable to test; raises FileNotFoundError when there is none (not built yet)."""
    configured = os.environ.get("FLIGHTLOG_BIN")
    if configured:
        candidate = Path(configured)
        binary = candidate / "gateway" if candidate.is_dir() else candidate
    else:
        binary = _swift_bin_path() / "gateway"
    if not binary.is_file() or not os.access(binary, os.X_OK):
        raise FileNotFoundError(f"no gateway executable at {binary} (build it, or set FLIGHTLOG_BIN)")
    return binary


def _swift_bin_path() -> Path:
    """What `swift build --show-bin-path` says; `.build/debug` when swift cannot answer in time (it waits
    for the build directory's lock while another build runs)."""
    try:
        return _ask_swift_for_bin_path()
    except FileNotFoundError:
        fallback = REPO_ROOT / ".build" / "debug"
        if (fallback / "gateway").is_file():
            return fallback
        raise


def _ask_swift_for_bin_path() -> Path:
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([*_SWIFT_PATHS, env.get("PATH", "")])
    try:
        result = subprocess.run(["swift", "build", "--show-bin-path"], cwd=REPO_ROOT, env=env,
                                capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise FileNotFoundError(f"cannot ask swift for the bin path: {error}") from None
    if result.returncode != 0:
        raise FileNotFoundError(f"swift build --show-bin-path failed: {result.stderr.strip()[-500:]}")
    return Path(result.stdout.strip().splitlines()[-1])


def free_port() -> int:
    """A loopback port that was free a moment ago (the gateway's config needs a number, not 0)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def render_config(home: Path, port: int, provider_port: int, upstream_ca: Path, on_failure: str,
                  redact_bodies: bool, extra: dict[str, dict[str, Any]] | None = None) -> str:
    """The YAML configuration. Values are written as JSON scalars, which YAML reads unchanged."""
    sections: dict[str, dict[str, Any]] = {
        "gateway": {
            "listen": f"127.0.0.1:{port}",
            "upstream_override": [f"{host}=127.0.0.1:{provider_port}" for host in API_HOSTS],
            "upstream_ca": str(upstream_ca),
        },
        "capture": {"on_failure": on_failure, "redact_bodies": redact_bodies},
    }
    for section, values in (extra or {}).items():
        sections.setdefault(section, {}).update(values)
    lines = [f"home: {json.dumps(str(home))}"]
    for section, values in sections.items():
        lines.append(f"{section}:")
        lines += [f"  {key}: {json.dumps(value)}" for key, value in values.items()]
    return "\n".join(lines) + "\n"


def _child_environment(overrides: dict[str, str] | None) -> dict[str, str]:
    """The caller's environment minus what would change the gateway's behaviour behind the config file:
    FLIGHTLOG_* settings outrank the file, and proxy variables must not send upstream traffic elsewhere."""
    drop = {"http_proxy", "https_proxy", "all_proxy", "no_proxy"}
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLIGHTLOG_") and k.lower() not in drop}
    env.update(overrides or {})
    return env


class GatewayProcess:
    """One gateway child process with its state directory, config file, log file and frame sink."""

    def __init__(
        self,
        binary: Path,
        provider_port: int,
        upstream_ca: str | os.PathLike[str],
        home: str | os.PathLike[str] | None = None,
        on_failure: str = "block",
        redact_bodies: bool = True,
        extra_config: dict[str, dict[str, Any]] | None = None,
        start_sink: bool = True,
        sink_options: dict[str, Any] | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.binary = Path(binary)
        self.provider_port = provider_port
        self.upstream_ca = Path(upstream_ca)
        # A short home under /tmp: the capture socket path must fit sockaddr_un (108 bytes), which pytest's
        # tmp_path does not guarantee.
        self._owns_home = home is None
        self.home = Path(home) if home is not None else Path(tempfile.mkdtemp(prefix="fl-e2e-", dir="/tmp"))
        self.on_failure = on_failure
        self.redact_bodies = redact_bodies
        self.extra_config = extra_config
        self.start_sink = start_sink
        self.sink_options = sink_options or {}
        self.env = env
        self.port = 0
        self.sink: FrameSink | None = None
        self.process: subprocess.Popen[bytes] | None = None
        self.config_path = self.home / "gateway-config.yaml"
        self.log_path = self.home / "gateway.log"

    # -- paths and client settings -------------------------------------------------------------------------------

    @property
    def run_dir(self) -> Path:
        return self.home / "run"

    @property
    def ingest_socket(self) -> Path:
        return self.run_dir / "ingest.sock"

    @property
    def status_path(self) -> Path:
        return self.run_dir / "gateway.status.json"

    @property
    def ca_path(self) -> Path:
        """The gateway's own CA, which clients must trust to accept its leaf certificates."""
        return self.home / "ca" / "ca.pem"

    @property
    def proxy_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client_ssl_context(self) -> ssl.SSLContext:
        """For in-process clients going through the gateway: trusts only the gateway's CA."""
        return ssl.create_default_context(cafile=str(self.ca_path))

    def client_env(self, base: dict[str, str] | None = None) -> dict[str, str]:
        """Environment for a client subprocess (curl, an SDK script, an agent) that should use the gateway,
        the way `flightlog env` sets it up."""
        env = dict(os.environ if base is None else base)
        for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"):
            env[name] = self.proxy_url
        for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"):
            env.pop(name, None)
        for name in ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "NODE_EXTRA_CA_CERTS"):
            env[name] = str(self.ca_path)
        return env

    def status(self) -> dict[str, Any] | None:
        """The gateway's status file (written every second once it serves), or None."""
        try:
            return json.loads(self.status_path.read_text())
        except (OSError, ValueError):
            return None

    def logs(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    # -- lifecycle -----------------------------------------------------------------------------------------------

    def attach_sink(self, **options: Any) -> FrameSink:
        """Starts a sink now (for a gateway started with `start_sink=False`: ingestd arriving late)."""
        if self.sink is None:
            self.sink = FrameSink(self.ingest_socket, **options).start()
        return self.sink

    def start(self, wait_for_sink: bool = True) -> GatewayProcess:
        """Starts the sink (once) and the gateway; returns when the gateway serves and (with a sink and
        `wait_for_sink`) has connected to the sink. A port taken between choosing and binding it is retried."""
        self.run_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(self.run_dir, 0o700)
        if self.start_sink and self.sink is None:
            self.sink = FrameSink(self.ingest_socket, **self.sink_options).start()
        for attempt in range(3):
            port = self.port or free_port()
            try:
                self._launch(port, wait_for_sink)
                return self
            except GatewayError:
                if attempt == 2 or "bind" not in self._log_tail().lower() or self.process_running:
                    raise
                self.port = 0
        return self

    def _launch(self, port: int, wait_for_sink: bool) -> None:
        self.port = port
        connections_before = self.sink.connection_count if self.sink is not None else 0
        self.config_path.write_text(render_config(
            self.home, port, self.provider_port, self.upstream_ca, self.on_failure, self.redact_bodies,
            self.extra_config))
        self.status_path.unlink(missing_ok=True)  # a SIGKILLed gateway leaves its status file behind
        with open(self.log_path, "ab") as log:
            log.write(f"--- starting {self.binary} on port {port}\n".encode())
            log.flush()
            self.process = subprocess.Popen(
                [str(self.binary), "--config", str(self.config_path)], stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT, env=_child_environment(self.env), start_new_session=True)
        self._wait_ready()
        if wait_for_sink and self.sink is not None:
            self._wait_for_capture_connection(connections_before)

    def _wait_ready(self) -> None:
        """Ready = the status file appeared (the gateway writes it only once it listens). Falls back to a TCP
        probe after a few seconds, for a build that writes no status file."""
        started = time.monotonic()
        while time.monotonic() - started < READY_TIMEOUT:
            if not self.process_running:
                raise GatewayError(f"gateway exited with {self.process.returncode if self.process else None}:\n"
                                   f"{self._log_tail()}")
            if self.status_path.exists() and self.ca_path.exists():
                return
            if time.monotonic() - started > 5 and self._accepts_connections():
                return
            time.sleep(0.05)
        self.kill()
        raise GatewayError(f"gateway not ready within {READY_TIMEOUT:g}s:\n{self._log_tail()}")

    def _wait_for_capture_connection(self, connections_before: int) -> None:
        """The status file can appear before the capture connection is up; a test's first exchange should not
        race it. (A connection, not the hello: the hello may sit unflushed until the first frame.)"""
        assert self.sink is not None
        if not self.sink.wait_for(lambda sink: sink.connection_count > connections_before, READY_TIMEOUT):
            raise GatewayError(f"gateway never connected to the sink at {self.ingest_socket}:\n{self._log_tail()}")

    def _accepts_connections(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                return True
        except OSError:
            return False

    def _log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.logs().splitlines()[-lines:])

    @property
    def process_running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout: float = 15.0) -> int | None:
        """SIGTERM (graceful drain), then SIGKILL if it does not exit in time; returns the exit status."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        return self.process.returncode

    def kill(self) -> int | None:
        """SIGKILL, as in the crash tests; the sink and the state directory stay for a restart."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        return self.process.returncode

    def restart(self, graceful: bool = False, wait_for_sink: bool = True) -> GatewayProcess:
        """Stops (SIGTERM if graceful, else SIGKILL) and starts again on the same port and home."""
        if graceful:
            self.stop()
        else:
            self.kill()
        self._launch(self.port, wait_for_sink)
        return self

    def close(self) -> None:
        """Stops everything; removes the state directory if the harness made it."""
        self.stop()
        if self.sink is not None:
            self.sink.stop()
            self.sink = None
        if self._owns_home and os.environ.get("FLIGHTLOG_E2E_KEEP") != "1":
            shutil.rmtree(self.home, ignore_errors=True)

    def __enter__(self) -> GatewayProcess:
        try:
            return self.start()
        except BaseException:
            self.close()  # __exit__ does not run when __enter__ fails
            raise

    def __exit__(self, *exc_info: object) -> None:
        self.close()
