"""The wheel installs everything under `semcached` and runs from a clean virtual environment."""

from __future__ import annotations

import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

import semcached

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--quiet",
            "-w",
            str(out),
            str(ROOT),
        ],
        check=True,
        timeout=300,
    )
    (built,) = out.glob("semcached-*.whl")
    return built


def test_wheel_holds_only_the_semcached_namespace(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    top = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert top == {"semcached"}
    for package in ("embeddings", "index", "service", "clients"):
        assert f"semcached/{package}/__init__.py" in names
    assert "semcached/py.typed" in names
    assert "semcached/data/sample_pairs.jsonl" in names


def test_wheel_imports_and_runs_in_a_clean_venv(wheel: Path, tmp_path: Path) -> None:
    """A fresh venv with only the wheel (dependencies borrowed read-only via PYTHONPATH)."""
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--no-deps", str(wheel)],
        check=True,
        timeout=300,
    )
    deps = sysconfig.get_paths()["purelib"]
    check = (
        "import importlib.util, semcached, semcached.embeddings, semcached.index, "
        "semcached.service.cli.main, semcached.clients;"
        "assert semcached.__file__.startswith(%r), semcached.__file__;"
        "assert importlib.util.find_spec('index') is None;"
        "assert importlib.util.find_spec('embeddings') is None;"
        "from semcached import canonicalize;"
        "print(canonicalize({'model': 'm', 'messages': [{'role': 'user', 'content': 'hi'}]},"
        " 'ns').exact_key)"
    ).replace("%r", repr(str(env_dir)))
    env = {"PYTHONPATH": deps, "PATH": f"{env_dir / 'bin'}", "HF_HUB_OFFLINE": "1"}
    # Run from an empty directory: `python -c` puts the working directory on sys.path first.
    done = subprocess.run(
        [str(python), "-c", check],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert len(done.stdout.strip()) == 32
    cli = subprocess.run(
        [str(env_dir / "bin" / "semcached"), "--help"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=tmp_path,
    )
    assert cli.returncode == 0, cli.stderr
    assert "demo" in cli.stdout


def test_version_matches_distribution() -> None:
    from importlib.metadata import version

    assert semcached.__version__ == version("semcached")
