"""Production settings pass Django's deploy checks; docker-compose.yml is complete."""
import os
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def test_production_settings_pass_check_deploy(tmp_path):
    env = {
        key: value for key, value in os.environ.items()
        if key not in {"DJANGO_SETTINGS_MODULE", "SECURE", "DEBUG", "DJANGO_ALLOW_ASYNC_UNSAFE"}
    }
    env.update(
        DJANGO_SETTINGS_MODULE="qsmstudy.settings",
        SECRET_KEY="k3Qm-very-long-random-production-secret-with-enough-entropy-7f9a2c1e8b",
        DEBUG="0",
        ALLOWED_HOSTS="qsm.example.org",
        QSMSTUDY_VAR_DIR=str(tmp_path),
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT, env=env, capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_settings_refuse_to_start_without_a_secret_key(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "DEBUG"}}
    env.update(DJANGO_SETTINGS_MODULE="qsmstudy.settings", QSMSTUDY_VAR_DIR=str(tmp_path))
    result = subprocess.run([sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True)
    assert result.returncode != 0
    assert "Set SECRET_KEY" in result.stderr


def test_compose_has_every_service_with_healthchecks_and_ordering():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"web", "worker", "recon-worker", "redis", "postgres", "migrate"} <= set(services)
    for name in ("web", "worker", "recon-worker", "redis", "postgres"):
        assert "healthcheck" in services[name], name
    assert "gunicorn" in open(ROOT / "Dockerfile").read()
    for name in ("web", "worker", "recon-worker"):
        depends = services[name]["depends_on"]
        assert depends["postgres"]["condition"] == "service_healthy"
        assert depends["redis"]["condition"] == "service_healthy"
        assert depends["migrate"]["condition"] == "service_completed_successfully"
        assert "media:/data/media" in services[name]["volumes"]
    assert services["migrate"]["command"][-2:] == ["migrate", "--noinput"]
    assert "media" in compose["volumes"]


def test_reconstructions_have_their_own_single_task_workers():
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    recon = " ".join(services["recon-worker"]["command"])
    assert "--queues=recon" in recon and "--concurrency=1" in recon
    assert "recon" not in " ".join(services["worker"]["command"])
