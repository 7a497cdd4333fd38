"""docker-compose.yml, the Dockerfile, the README and CI agree with the settings and the code.

Docker cannot run here, so these files are checked by reading them."""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from sqlalchemy.engine import make_url

from app.core.config import ENV_PREFIX, Settings

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
DOCKERFILE = (ROOT / "Dockerfile").read_text()
SETTING_NAMES = {ENV_PREFIX + name.upper() for name in Settings.model_fields}


def app_env(service: str = "app") -> dict[str, str]:
    return COMPOSE["services"][service]["environment"]


def test_services_and_health() -> None:
    services = COMPOSE["services"]
    assert set(services) == {"db", "app", "lb", "worker", "receive", "objectstore"}
    # the app is reached through the load balancer only, which trusts nothing else
    assert "ports" not in services["app"]
    assert services["lb"]["depends_on"]["app"]["condition"] == "service_healthy"
    subnet = COMPOSE["networks"]["default"]["ipam"]["config"][0]["subnet"]
    assert app_env()["MAMMOREAD_FORWARDED_ALLOW_IPS"].endswith(f":-{subnet}}}")
    # the worker runs the jobs (the app runs none) on the app's database, data and store
    worker = services["worker"]
    assert worker["command"][:2] == ["mammoread", "worker"]
    assert worker["volumes"] == services["app"]["volumes"]
    assert app_env()["MAMMOREAD_JOB_THREADS"].startswith("${MAMMOREAD_JOB_THREADS:-0}")
    for name, value in app_env().items():
        if name != "MAMMOREAD_JOB_THREADS" and name in app_env("worker"):
            assert app_env("worker")[name] == value, name
    for name in ("MAMMOREAD_DATABASE_URL", "MAMMOREAD_DATA_DIR", "MAMMOREAD_STORAGE"):
        assert name in app_env("worker")
    # the object store is opt-in too, and the app and the receiver read the same settings
    assert services["objectstore"]["profiles"] == ["s3"]
    for name in ("MAMMOREAD_STORAGE", "MAMMOREAD_S3_ENDPOINT", "MAMMOREAD_S3_BUCKET"):
        assert app_env()[name] == app_env("receive")[name]
    # the C-STORE receiver is opt-in and shares the app's database and data (one key)
    receive = services["receive"]
    assert receive["profiles"] == ["pacs"]
    assert receive["command"][:2] == ["mammoread", "receive"]
    assert app_env("receive")["MAMMOREAD_DATABASE_URL"] == app_env()["MAMMOREAD_DATABASE_URL"]
    assert receive["volumes"] == services["app"]["volumes"]
    assert "healthcheck" in services["db"]
    assert services["app"]["depends_on"]["db"]["condition"] == "service_healthy"
    assert services["app"]["build"] == "."
    assert "HEALTHCHECK" in DOCKERFILE


def test_every_variable_is_a_setting() -> None:
    unknown = (set(app_env()) | set(app_env("receive")) | set(app_env("worker"))) - SETTING_NAMES
    assert not unknown, f"compose sets variables the app does not read: {unknown}"


def test_database_url_points_at_the_db_service() -> None:
    url = make_url(app_env()["MAMMOREAD_DATABASE_URL"].replace("${POSTGRES_PASSWORD}", "pw"))
    db = COMPOSE["services"]["db"]["environment"]
    assert url.drivername == "postgresql+psycopg"
    assert url.host == "db"
    assert url.port == 5432
    assert url.username == db["POSTGRES_USER"]
    assert url.database == db["POSTGRES_DB"]


def test_data_dir_and_database_live_on_volumes() -> None:
    data_dir = app_env()["MAMMOREAD_DATA_DIR"]
    app_targets = [v.split(":")[1] for v in COMPOSE["services"]["app"]["volumes"]]
    assert data_dir in app_targets
    db_targets = [v.split(":")[1] for v in COMPOSE["services"]["db"]["volumes"]]
    assert "/var/lib/postgresql/data" in db_targets
    named = {v.split(":")[0] for s in COMPOSE["services"].values() for v in s.get("volumes", [])}
    assert named <= set(COMPOSE["volumes"])
    assert f"MAMMOREAD_DATA_DIR={data_dir}" in DOCKERFILE


def test_port_matches_the_server_command() -> None:
    (container_port,) = COMPOSE["services"]["app"]["expose"]
    (mapping,) = COMPOSE["services"]["lb"]["ports"]
    config = COMPOSE["configs"]["haproxy_cfg"]["content"]
    assert f"bind :{mapping.rsplit(':', 1)[1]}" in config
    assert f"app:{container_port} check" in config
    assert "option httpchk GET /healthz" in config
    assert f"EXPOSE {container_port}" in DOCKERFILE
    assert f"--port {container_port}" in DOCKERFILE
    assert "--host 0.0.0.0" in DOCKERFILE


def test_image_runs_migrations_as_a_non_root_user() -> None:
    users = re.findall(r"^USER (\S+)", DOCKERFILE, flags=re.MULTILINE)
    assert users
    assert users[-1] not in {"root", "0"}
    assert "mammoread db upgrade &&" in DOCKERFILE


def test_readme_opens_with_the_two_commands_ci_uses() -> None:
    readme = (ROOT / "README.md").read_text()
    first_block = re.search(r"```(?:sh|bash)?\n(.*?)```", readme, flags=re.DOTALL).group(1)
    assert "make run" in first_block
    assert "make test" in first_block
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_the_load_balancers_configuration_is_valid(tmp_path) -> None:
    """HAProxy itself checks the compose file's configuration (Debian's haproxy, which the
    multi-node test uses too)."""
    import shutil
    import subprocess

    import pytest

    haproxy = shutil.which("haproxy") or "/usr/sbin/haproxy"
    if not Path(haproxy).exists():
        pytest.skip("haproxy is missing: install Debian's haproxy package to run this")
    config = tmp_path / "haproxy.cfg"
    config.write_text(COMPOSE["configs"]["haproxy_cfg"]["content"])
    checked = subprocess.run([haproxy, "-c", "-f", str(config)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
