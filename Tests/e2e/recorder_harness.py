"""`flightlog up` in a temporary home, with the API hosts mapped to a fake provider: how the end-to-end suite,
the real-agents suite and `make demo` run the whole recorder.

    recorder = start_recorder(bindir, provider_port=port, upstream_ca=ca)   # returns once every daemon runs
    recorder.flightlog("sessions", "--json")                                # --config is added
    recorder.stop()
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from gateway_harness import API_HOSTS, free_port


class RecorderError(RuntimeError):
    """The recorder did not come up; the message carries the tail of its log."""


class Recorder:
    def __init__(self, bindir: Path, home: Path, settings: dict[str, Any]) -> None:
        self.bindir, self.home, self.settings = bindir, home, settings
        self.config = home / "config.yaml"
        self.port = int(settings["gateway"]["listen"].rsplit(":", 1)[1])
        self.metrics = int(settings["operator"]["metrics_listen"].rsplit(":", 1)[1])
        # The recorder's own environment: no FLIGHTLOG_* from the caller, no proxy for its own connections.
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("FLIGHTLOG_") and "proxy" not in k.lower()}
        self.write_settings()
        with (home / "up.log").open("wb") as log:
            self.process = subprocess.Popen([str(bindir / "flightlog"), "up", "--config", str(self.config)], stdout=log,
                                            stderr=subprocess.STDOUT, env=self.env, start_new_session=True)

    def write_settings(self) -> None:
        """Writes `settings` as the configuration file (JSON is YAML)."""
        self.config.write_text(json.dumps(self.settings, indent=2))

    def flightlog(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(self.bindir / "flightlog"), *args, "--config", str(self.config)], capture_output=True,
                              text=True, env=self.env, timeout=timeout)

    def json(self, *args: str) -> Any:
        result = self.flightlog(*args, "--json")
        if result.returncode != 0:
            raise AssertionError(f"flightlog {' '.join(args)}: {result.stderr}")
        return json.loads(result.stdout)

    def status(self) -> dict[str, Any]:
        return self.json("status")

    def pids(self) -> dict[str, int]:
        return {c["name"]: c["pid"] for c in self.status()["components"]}

    def running(self) -> dict[str, int] | None:
        """The daemons' pids once every one of them runs, else None."""
        try:
            components = self.status()["components"]
        except (AssertionError, ValueError, KeyError):
            return None
        return {c["name"]: c["pid"] for c in components} if all(c["state"] == "running" for c in components) else None

    def wait_until_running(self, timeout: float = 60) -> dict[str, int]:
        deadline = time.time() + timeout
        while time.time() < deadline:
            if (pids := self.running()) is not None:
                return pids
            if self.process.poll() is not None:
                break
            time.sleep(0.3)
        raise RecorderError("the recorder did not come up:\n" + self.log_tail())

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return (self.home / "up.log").read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def stop(self, remove: bool = True) -> None:
        """SIGTERM (operatord stops the daemons in order), SIGKILL to the group if that takes too long."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)
        if remove:
            shutil.rmtree(self.home, ignore_errors=True)


def start_recorder(bindir: Path, *, provider_port: int | None = None, upstream_ca: Path | None = None,
                   home: Path | None = None, prefix: str = "fl-up-", recorder_class: type[Recorder] = Recorder,
                   **sections: dict[str, Any]) -> Recorder:
    """Starts `flightlog up` and waits until every daemon runs. With `provider_port`, every API host goes to the
    fake provider on that port (trusted through `upstream_ca`). Keyword arguments are configuration sections,
    merged into the defaults (`capture={"on_failure": "pass"}`)."""
    # A short home under /tmp: the socket paths must fit sockaddr_un.
    home = home or Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    home.mkdir(parents=True, exist_ok=True)
    settings: dict[str, Any] = {
        "home": str(home),
        "gateway": {"listen": f"127.0.0.1:{free_port()}"},
        "operator": {"metrics_listen": f"127.0.0.1:{free_port()}"},
    }
    if provider_port is not None:
        settings["gateway"]["upstream_override"] = [f"{h}=127.0.0.1:{provider_port}" for h in API_HOSTS]
    if upstream_ca is not None:
        settings["gateway"]["upstream_ca"] = str(upstream_ca)
    for section, values in sections.items():
        settings[section] = {**settings.get(section, {}), **values}
    recorder = recorder_class(bindir, home, settings)
    try:
        recorder.wait_until_running()
    except RecorderError:
        recorder.stop(remove=False)
        raise
    return recorder
