"""The wheel carries everything the server needs at run time: built from the project and
installed in a fresh virtual environment (no source tree on its path), it migrates a new
SQLite database, creates the first administrator and serves the login page and static files.

One build and one install per test session (the machine is small)."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import time
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from app.core import resources
from tests.helpers import free_port

ROOT = Path(__file__).resolve().parents[1]
PACKAGED = "app/_resources"


@pytest.fixture(scope="session")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The project built as a wheel (hatchling from the test environment: no download)."""
    out = tmp_path_factory.mktemp("wheel")
    command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation"]
    run([*command, "--wheel-dir", str(out), str(ROOT)])
    (built,) = out.glob("mammoread-*.whl")
    return built


@pytest.fixture(scope="session")
def venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtual environment with the wheel installed. Its dependencies come from the
    test environment's site-packages (a .pth line), which holds no ``app`` package: the
    editable install's path file there is not read from a directory added this way."""
    venv = tmp_path_factory.mktemp("venv")
    run([sys.executable, "-m", "venv", "--without-pip", str(venv)])
    (site,) = (venv / "lib").glob("python*/site-packages")
    borrowed = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (site / "test-dependencies.pth").write_text("".join(f"{path}\n" for path in borrowed))
    run([str(venv / "bin" / "python"), "-m", "pip", "install", "--no-deps", str(wheel)])
    return venv


@pytest.fixture
def environment(tmp_path: Path) -> dict[str, str]:
    """The installed command's environment: a new data directory, so a new SQLite database;
    nothing of this checkout's settings or paths."""
    kept = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("MAMMOREAD_", "PYTHON", "VIRTUAL_ENV"))
    }
    return {
        **kept,
        "MAMMOREAD_DATA_DIR": str(tmp_path / "data"),
        "MAMMOREAD_ARGON2_TIME_COST": "1",
        "MAMMOREAD_ARGON2_MEMORY_KIB": "1024",
        "MAMMOREAD_WORKERS": "1",
    }


def run(command: list[str], **options: object) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(command, capture_output=True, text=True, check=False, **options)
    assert done.returncode == 0, f"{command} failed:\n{done.stdout}\n{done.stderr}"
    return done


def test_the_wheel_holds_templates_static_files_and_migrations(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    for name in ("templates", "static", "migrations"):
        source = {
            f"{PACKAGED}/{name}/{path.relative_to(ROOT / name).as_posix()}"
            for path in (ROOT / name).rglob("*")
            if path.is_file() and "__pycache__" not in path.parts
        }
        assert source, name
        assert source <= names, f"missing from the wheel: {sorted(source - names)[:5]}"
    assert not [name for name in names if name.startswith(("tests/", "bench/"))]


def test_the_installed_wheel_uses_its_own_copy(venv: Path, environment, tmp_path) -> None:
    script = (
        "import app, app.core.resources as r; "
        "print(app.__file__); print(r.TEMPLATES_DIR); print(r.STATIC_DIR); print(r.MIGRATIONS_DIR)"
    )
    python = str(venv / "bin" / "python")
    done = run([python, "-c", script], env=environment, cwd=tmp_path)
    found = [Path(line) for line in done.stdout.split()]
    site = next((venv / "lib").glob("python*/site-packages")).resolve()
    assert found[0].is_relative_to(site / "app")
    assert found[1:] == [site / PACKAGED / name for name in ("templates", "static", "migrations")]


def test_the_installed_wheel_migrates_and_serves_the_login_page(
    venv: Path, environment: dict[str, str], tmp_path: Path
) -> None:
    mammoread = str(venv / "bin" / "mammoread")
    upgraded = run([mammoread, "db", "upgrade"], env=environment, cwd=tmp_path)
    assert "Database at revision head" in upgraded.stdout
    init = [mammoread, "init", "--username", "admin", "--generate-password"]
    assert "Administrator 'admin' created." in run(init, env=environment, cwd=tmp_path).stdout
    port = free_port()
    with serving([mammoread, "serve", "--port", str(port)], environment, tmp_path, port) as url:
        status, page = get(f"{url}/login")
        assert status == 200
        assert "csrf_token" in page
        assert get(f"{url}/static/css/app.css")[0] == 200
        assert get(f"{url}/static/js/common.js")[0] == 200


def test_the_source_tree_resolves_to_the_top_level_folders() -> None:
    """An editable install (this checkout) has no packaged copy: the repository's folders."""
    assert resources.TEMPLATES_DIR == ROOT / "templates"
    assert resources.STATIC_DIR == ROOT / "static"
    assert resources.MIGRATIONS_DIR == ROOT / "migrations"
    with pytest.raises(ValueError, match="Unknown resource 'fonts'"):
        resources.resource_dir("fonts")


def test_the_image_installs_the_wheel_not_a_checkout() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "--editable" not in dockerfile
    assert "pip wheel" in dockerfile
    assert "pip install /wheels/" in dockerfile


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 (local server)
            return response.status, response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode("utf-8", "replace")


@contextmanager
def serving(command: list[str], env: dict[str, str], cwd: Path, port: int) -> Iterator[str]:
    """The server running from the installed wheel, its base URL once it answers; stopped
    on leaving."""
    process = subprocess.Popen(
        command, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(process, url)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_until_up(process: subprocess.Popen[str], url: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the server stopped:\n{process.stdout.read() if process.stdout else ''}")
        try:
            if get(f"{url}/healthz")[0] == 200:
                return
        except OSError:
            time.sleep(0.2)
    pytest.fail(f"the server did not answer /healthz within {seconds:g} s")
