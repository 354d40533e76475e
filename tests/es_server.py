"""A throwaway Elasticsearch node for tests and benchmarks: start, wait for health, stop, restart.

The server comes from ``.ci/install-elasticsearch.sh`` (Elastic's integ-test-zip from Maven
Central), which records where it put it in ``~/.cache/humbot/elasticsearch.env``. Each
:class:`EsServer` gets its own run directory (config copy, data, logs) under the system temp dir,
a free port on 127.0.0.1, single-node discovery, security off, disk watermarks off (CI disks are
often "almost full" by Elasticsearch's standards) and a small fixed heap. The node runs as the
dedicated non-root user the install script created, because Elasticsearch refuses to run as root.

Usage::

    with EsServer() as es:          # or es.start() / es.stop()
        print(es.url)               # http://127.0.0.1:<port>
        es.stop(); es.start()       # same data and port: a restart

Run ``python tests/es_server.py`` to start one by hand (Ctrl-C stops it).
"""

from __future__ import annotations

import ctypes
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

INSTALL_HINT = "run `bash .ci/install-elasticsearch.sh` (CI and scripts/install.sh --with-elasticsearch do)"


class EsNotInstalled(RuntimeError):
    pass


def cache_dir() -> Path:
    return Path(os.environ.get("HUMBOT_CACHE", Path.home() / ".cache" / "humbot"))


def installed() -> dict[str, str]:
    """What the install script recorded; raises :class:`EsNotInstalled` with the fix."""
    env_file = cache_dir() / "elasticsearch.env"
    if not env_file.exists():
        raise EsNotInstalled(f"Elasticsearch test server not installed ({env_file} missing): {INSTALL_HINT}")
    env = dict(line.split("=", 1) for line in env_file.read_text().splitlines() if "=" in line)
    if not Path(env.get("ES_HOME", ""), "bin", "elasticsearch").exists():
        raise EsNotInstalled(f"Elasticsearch distribution missing at {env.get('ES_HOME')}: {INSTALL_HINT}")
    if not Path(env.get("ES_JAVA_HOME", ""), "bin", "java").exists():
        raise EsNotInstalled(f"JDK missing at {env.get('ES_JAVA_HOME')}: {INSTALL_HINT}")
    return env


# Loaded here, not in the child: after the switch to the server's user the child may not be able to
# read the interpreter's files (a Python under /root), and an import there fails the start.
_LIBC = ctypes.CDLL("libc.so.6", use_errno=True)


def _die_with_parent() -> None:
    """In the child: SIGTERM it when the test process dies, so a killed pytest leaves no server behind.

    (The launcher stops the server JVM on SIGTERM.) Runs after the switch to the server's user,
    which would otherwise clear the setting.
    """
    PR_SET_PDEATHSIG = 1
    _LIBC.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class EsServer:
    def __init__(self, *, heap: str = "512m", run_dir: Path | None = None, settings: dict | None = None,
                 fast_start: bool = False) -> None:
        """``fast_start``: C1-compiled JIT only — starts sooner, runs slower (tests, not benchmarks)."""
        self.env = installed()
        self.version = self.env["ES_VERSION"]
        self.heap = heap
        self.fast_start = fast_start
        self.settings = settings or {}
        # Not under pytest's tmp_path: that lives in a 0700 directory the server's user cannot enter.
        self.run_dir = run_dir or Path(tempfile.mkdtemp(prefix="humbot-es-"))
        self._own_run_dir = run_dir is None
        self.port = free_port()
        self.transport_port = free_port()
        self.proc: subprocess.Popen | None = None
        self._prepare()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _prepare(self) -> None:
        home = Path(self.env["ES_HOME"])
        conf = self.run_dir / "config"
        if not conf.exists():
            shutil.copytree(home / "config", conf)
        for sub in ("data", "logs", "tmp"):
            (self.run_dir / sub).mkdir(parents=True, exist_ok=True)
        user = self.env.get("ES_USER") or None
        if user:
            pw = pwd.getpwnam(user)
            os.chmod(self.run_dir, 0o755)
            for p in [self.run_dir, *self.run_dir.rglob("*")]:
                os.chown(p, pw.pw_uid, pw.pw_gid)

    def _write_config(self) -> None:
        cfg = {
            "cluster.name": "humbot-test",
            "node.name": "humbot-test-node",
            "network.host": "127.0.0.1",
            "http.port": self.port,
            "transport.port": self.transport_port,
            "discovery.type": "single-node",
            "path.data": str(self.run_dir / "data"),
            "path.logs": str(self.run_dir / "logs"),
            "xpack.security.enabled": False,
            # Test machines' disks are often past the default 85/90/95 % watermarks.
            "cluster.routing.allocation.disk.threshold_enabled": False,
            "action.destructive_requires_name": False,
            **self.settings,
        }
        text = "".join(f"{k}: {json.dumps(v)}\n" for k, v in cfg.items())
        path = self.run_dir / "config" / "elasticsearch.yml"
        path.write_text(text)
        user = self.env.get("ES_USER") or None
        if user:
            pw = pwd.getpwnam(user)
            os.chown(path, pw.pw_uid, pw.pw_gid)

    def start(self, timeout_s: float = 120.0) -> None:
        if self.proc is not None and self.proc.poll() is None:
            return
        self._write_config()
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "ES_JAVA_HOME": self.env["ES_JAVA_HOME"],
            "ES_PATH_CONF": str(self.run_dir / "config"),
            "ES_TMPDIR": str(self.run_dir / "tmp"),
            "ES_JAVA_OPTS": f"-Xms{self.heap} -Xmx{self.heap}" + (" -XX:TieredStopAtLevel=1" if self.fast_start else ""),
            "HOME": str(self.run_dir),
        }
        user = self.env.get("ES_USER") or None
        # Drop root's groups too: with gid 0 kept, a 0701 /root denies the group what it allows others.
        ids = {"user": user, "group": pwd.getpwnam(user).pw_gid, "extra_groups": []} if user else {}
        log = open(self.run_dir / "stdout.log", "ab")
        # Own process group: stop() signals the launcher and the server JVM it starts together.
        self.proc = subprocess.Popen(
            [str(Path(self.env["ES_HOME"], "bin", "elasticsearch"))],
            env=env, cwd=self.run_dir, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True, preexec_fn=_die_with_parent, **ids,
        )
        log.close()
        self.wait_healthy(timeout_s)

    def wait_healthy(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"Elasticsearch exited with code {self.proc.returncode}:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(f"{self.url}/_cluster/health?wait_for_status=yellow&timeout=1s",
                                            timeout=3) as r:
                    if json.load(r).get("status") in ("green", "yellow"):
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
                pass
            time.sleep(0.25)
        raise TimeoutError(f"Elasticsearch not healthy after {timeout_s:.0f} s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 40) -> str:
        out = []
        for name in ("stdout.log", "logs/humbot-test.log"):
            p = self.run_dir / name
            if p.exists():
                out += p.read_text(errors="replace").splitlines()[-lines:]
        return "\n".join(out)

    def stop(self, *, kill: bool = False, timeout_s: float = 60.0) -> None:
        """Stop the node (SIGTERM: a clean shutdown; ``kill=True``: SIGKILL, a crash)."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            sig = signal.SIGKILL if kill else signal.SIGTERM
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        # The launcher exits once the server JVM is gone; make sure no straggler holds the port.
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc = None

    def restart(self, *, kill: bool = False) -> None:
        self.stop(kill=kill)
        self.start()

    def close(self) -> None:
        self.stop()
        if self._own_run_dir:
            shutil.rmtree(self.run_dir, ignore_errors=True)

    def __enter__(self) -> EsServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # `kill` stops it cleanly too
    server = EsServer()
    t0 = time.monotonic()
    server.start()
    print(f"Elasticsearch {server.version} at {server.url} (started in {time.monotonic() - t0:.1f} s); Ctrl-C stops")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
