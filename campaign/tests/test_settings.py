"""Production settings: fail fast without secrets, pass `check --deploy` with real values."""

import base64
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

BASE_DIR = Path(__file__).resolve().parents[2]
PRODUCTION = {
    "DEBUG": "False",
    "SECRET_KEY": "x7$Lq9!vTz2@pR4#mN8^kW1&bY6*cH3(dJ5)fG0-sA_eU+iO=lP{Q}zX|V~",
    "ALLOWED_HOSTS": "campaign.example",
    "CSRF_TRUSTED_ORIGINS": "https://campaign.example",
    "DATABASE_URL": "sqlite:////tmp/campaign-deploy-check.sqlite3",
    "CACHE_URL": "redis://127.0.0.1:6379/9",
    "EMAIL_URL": "smtp+tls://user:password@smtp.example:587",
    "SITE_URL": "https://campaign.example",
    "SIGNER_DATA_KEY": "Y3KX9Xq8yAqk0sGv6Lh4m6b0cW7oH0Zl0v4Zx5w1a2M=",
    "SIGNER_LOOKUP_KEY": "k6v7XfGw2vQeJ2lS3xJY7zC1lq2w0mV6pS9eDkT4o8A=",
}


def manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    # Nothing from the test run leaks in (the browser suite allows async-unsafe calls).
    leaks = {*PRODUCTION, "DJANGO_ALLOW_ASYNC_UNSAFE"}
    environment = {k: v for k, v in os.environ.items() if k not in leaks}
    environment.update(env)
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=BASE_DIR,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    "missing",
    [
        "SECRET_KEY",
        "ALLOWED_HOSTS",
        "SITE_URL",
        "EMAIL_URL",
        "CACHE_URL",
        "SIGNER_DATA_KEY",
        "SIGNER_LOOKUP_KEY",
    ],
)
def test_it_refuses_to_start_without_a_production_setting(missing):
    env = {k: v for k, v in PRODUCTION.items() if k != missing}
    result = manage("check", **env)
    assert result.returncode != 0
    assert result.stderr.strip().startswith(f"Configuration error: {missing} must be set")
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr


def test_it_checks_for_missing_migrations_on_a_checkout_without_configuration(tmp_path):
    """makemigrations reads only the code: it needs none of production's secrets."""
    database = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    result = manage("makemigrations", "--check", "--dry-run", ENV_FILE="/nonexistent",
                    DATABASE_URL=database)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "No changes detected"


@pytest.mark.parametrize(
    "name, value",
    [
        ("SIGNER_DATA_KEY", "not-a-key"),
        ("SIGNER_DATA_KEY", f"{PRODUCTION['SIGNER_DATA_KEY']},c2hvcnQ="),
        ("SIGNER_LOOKUP_KEY", "c2hvcnQ="),
    ],
)
def test_it_refuses_a_malformed_signer_key_with_one_sentence(name, value):
    result = manage("check", **{**PRODUCTION, name: value})
    assert result.returncode != 0
    assert result.stderr.strip().splitlines() == [
        f"Configuration error: {name} is not a valid key: each key is 32 random bytes in "
        'url-safe base64, such as python -c "from cryptography.fernet import Fernet; '
        "print(Fernet.generate_key().decode())\" prints (see the README's configuration)."
    ]
    assert value not in result.stderr


def test_it_says_how_to_generate_a_missing_signer_key():
    env = {k: v for k, v in PRODUCTION.items() if k != "SIGNER_DATA_KEY"}
    result = manage("check", **env)
    assert "kept apart from the database and its backups" in result.stderr
    assert "Fernet.generate_key()" in result.stderr


def test_it_refuses_one_key_for_both_sealing_and_hashing():
    same = {**PRODUCTION, "SIGNER_LOOKUP_KEY": PRODUCTION["SIGNER_DATA_KEY"]}
    result = manage("check", **same)
    assert result.returncode != 0
    assert result.stderr.startswith(
        "Configuration error: SIGNER_LOOKUP_KEY must not be one of the SIGNER_DATA_KEY keys"
    )


def test_development_derives_its_signer_keys_from_the_secret_key():
    """With DEBUG on and no keys set, a development database stays readable across restarts:
    the keys come from SECRET_KEY, differ from each other, and change with it."""
    show = "from django.conf import settings as s; print(*s.SIGNER_DATA_KEY, s.SIGNER_LOOKUP_KEY)"

    def keys(secret: str) -> list[str]:
        environment = {k: v for k, v in os.environ.items() if k not in PRODUCTION}
        environment.update(
            DEBUG="True",
            SECRET_KEY=secret,
            ENV_FILE="/nonexistent",
            DJANGO_SETTINGS_MODULE="campaign.settings",
        )
        result = subprocess.run(
            [sys.executable, "-c", show],
            cwd=BASE_DIR,
            env=environment,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        return result.stdout.split()

    first = keys("a development secret")
    assert keys("a development secret") == first
    assert len(first) == 2 and first[0] != first[1]
    assert all(len(base64.urlsafe_b64decode(key)) == 32 for key in first)
    assert keys("another development secret") != first


@pytest.mark.parametrize("per_process", ["locmemcache://", "dummycache://"])
def test_it_refuses_a_cache_that_web_processes_do_not_share(per_process):
    result = manage("check", **{**PRODUCTION, "CACHE_URL": per_process})
    assert result.returncode != 0
    assert result.stderr.strip().startswith("Configuration error: CACHE_URL must be set")
    assert "rate limits are no limits" in result.stderr


def test_it_is_a_production_server_unless_debug_is_set():
    """With nothing configured (no DEBUG, no .env) the site refuses to start."""
    result = manage("check", ENV_FILE="/nonexistent")
    assert result.returncode != 0
    assert result.stderr.strip().startswith("Configuration error: SECRET_KEY must be set")


def test_the_web_server_stops_with_the_same_sentence():
    env = {k: v for k, v in PRODUCTION.items() if k != "SECRET_KEY"}
    environment = {k: v for k, v in os.environ.items() if k not in PRODUCTION}
    result = subprocess.run(
        [sys.executable, "-c", "import campaign.wsgi"],
        cwd=BASE_DIR,
        env={**environment, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "Configuration error: SECRET_KEY must be set when DEBUG is off: a long random string "
        "kept secret (see the README's configuration)."
    ]


def test_it_passes_the_deployment_checklist_with_production_values():
    result = manage("check", "--deploy", "--fail-level", "WARNING", **PRODUCTION)
    assert result.returncode == 0, result.stderr + result.stdout
    assert "System check identified no issues (0 silenced)." in result.stdout


def test_it_reports_weak_https_settings_when_they_are_switched_off():
    result = manage("check", "--deploy", "--fail-level", "WARNING", **PRODUCTION, HTTPS="False")
    assert result.returncode != 0
    assert "security.W004" in result.stderr  # no HSTS


def test_it_accepts_the_log_level_in_either_case():
    # gunicorn takes "warning"; Django's logging needs "WARNING". Both come from LOG_LEVEL.
    result = manage("check", **PRODUCTION, LOG_LEVEL="warning")
    assert result.returncode == 0, result.stderr


def test_the_readme_documents_every_environment_variable():
    """Each variable the settings or gunicorn.conf.py read has a row in the README's table."""
    sources = (BASE_DIR / "campaign" / "settings.py", BASE_DIR / "gunicorn.conf.py")
    read = re.compile(r"""(?:env(?:\.\w+)?|os\.environ\.get)\(\s*["']([A-Z][A-Z0-9_]+)["']""")
    names = {name for path in sources for name in read.findall(path.read_text())}
    assert {"SECRET_KEY", "DATABASE_URL", "GUNICORN_THREADS", "PORT"} <= names  # the regex works
    readme = (BASE_DIR / "README.md").read_text()
    table = readme.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    assert sorted(name for name in names if f"`{name}`" not in table) == []
