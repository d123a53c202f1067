"""The production stack's files (docker-compose.yml, Dockerfile, gunicorn.conf.py, .env.example).

No Docker engine runs here, so nothing is built or started. Instead:

- docker-compose.yml is validated against the Compose Specification JSON schema vendored in
  tests/deploy/compose_spec.json. That file is byte for byte `compose/config/compose_spec.json`
  from the PyPI package docker-compose==1.29.2 (May 2021, Apache-2.0: compose_spec.LICENSE
  beside it). It is an older revision of the specification: it knows nothing added since
  (e.g. `develop`, `depends_on.required`, `healthcheck.start_interval`), so the compose file
  sticks to what it knows. Its `duration` format is not checked by jsonschema, so durations are
  checked here against Compose's Go-duration syntax.
- every command the compose file runs is run here with `--help` or `--check-config`: the
  gunicorn app spec loads and gives a Flask app, `tasks` gives a Celery app and the worker and
  beat options exist, the flask CLI command and its options exist; the web healthcheck's path
  is a route of the app.
- .env.example and the README's Configuration table list the same variables; its values are
  accepted by the app's config; the Dockerfile runs as a non-root user and installs no dev
  tools; the access log never holds query strings.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import runpy
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any
from unittest import mock

import jsonschema
import pytest
import yaml
from flask import Flask
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
SCHEMA_FILE = HERE / "compose_spec.json"
SCHEMA_SHA256 = "0dc04bd346dcfee1b1419628fff79937bbf076925f298f272a2b490e2b112bac"
#: The services built from the Dockerfile, and the images of the others.
APP_SERVICES = {"migrate", "web", "worker", "beat"}
IMAGES = {"db": "postgis/postgis:", "redis": "redis:7"}
#: Variables in .env.example that only docker-compose.yml reads (the database container's).
COMPOSE_ONLY_VARIABLES = {"POSTGRES_PASSWORD"}
#: Variables of the app's that docker-compose.yml requires to be set in .env.
REQUIRED_VARIABLES = {"SECRET_KEY"}
#: A SECRET_KEY for running the project's commands here (production refuses to start without one).
TEST_SECRET_KEY = "test-not-secret"
GO_DURATION = re.compile(r"^(\d+(\.\d+)?(ns|us|ms|s|m|h))+$")
VARIABLE = re.compile(r"^[A-Z][A-Z0-9_]*$")


def read_compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def read_env_file(path: Path) -> dict[str, str]:
    """KEY=value lines as Compose reads an env_file (comments and blank lines skipped)."""
    values: dict[str, str] = {}
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        assert sep and VARIABLE.match(key), f"{path.name}:{number}: expected KEY=value, got {line!r}"
        assert key not in values, f"{path.name}:{number}: {key} is set twice"
        values[key] = value.strip().strip('"')
    return values


def readme_variables() -> set[str]:
    """The variables named in the first column of the README's Configuration table."""
    text = (ROOT / "README.md").read_text()
    section = text.split("\n## Configuration\n", 1)[1].split("\n## ", 1)[0]
    names: set[str] = set()
    for line in section.splitlines():
        if line.startswith("| `"):
            names.update(re.findall(r"`([A-Z][A-Z0-9_]*)`", line.split("|")[1]))
    assert names, "README.md: no variables found in the Configuration table"
    return names


def app_environment(tmp_path: Path) -> dict[str, str]:
    """The environment for running the project's commands here: embedded mode on a scratch database."""
    env = {key: value for key, value in os.environ.items() if key not in readme_variables()}
    env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'deploy.sqlite3'}"
    env["MAIL_OUTBOX"] = str(tmp_path / "outbox")
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    # As the Dockerfile sets it (WORKDIR /app, PYTHONPATH=/app): see test_dockerfile_sets_the_import_path.
    env["PYTHONPATH"] = str(ROOT)
    env["SECRET_KEY"] = TEST_SECRET_KEY
    return env


def run(command: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"{shlex.join(command)} exited {result.returncode}:\n{result.stdout}{result.stderr}"
    return result


def as_argv(command: str | list[str]) -> list[str]:
    return shlex.split(command) if isinstance(command, str) else list(command)


# docker-compose.yml


def test_the_vendored_schema_is_the_published_file() -> None:
    assert hashlib.sha256(SCHEMA_FILE.read_bytes()).hexdigest() == SCHEMA_SHA256


def test_compose_file_is_valid_against_the_compose_specification() -> None:
    schema = json.loads(SCHEMA_FILE.read_text())
    # The specification names draft 2019-09 as "http://json-schema.org/draft/2019-09/schema#", a
    # spelling jsonschema does not know (its id has no "#"): validate by that draft, not the latest.
    validator_class = jsonschema.validators.validator_for(schema, default=jsonschema.Draft201909Validator)
    validator_class.check_schema(schema)
    errors = sorted(validator_class(schema).iter_errors(read_compose()), key=lambda error: list(error.path))
    assert not errors, "\n".join(f"{'/'.join(map(str, e.path))}: {e.message}" for e in errors)


def test_compose_durations_are_go_durations() -> None:
    def durations(node: Any, path: str) -> list[tuple[str, str]]:
        if isinstance(node, dict):
            found = []
            for key, value in node.items():
                if key in ("interval", "timeout", "start_period", "stop_grace_period"):
                    found.append((f"{path}/{key}", str(value)))
                found += durations(value, f"{path}/{key}")
            return found
        return []

    found = durations(read_compose()["services"], "services")
    assert found
    for where, value in found:
        assert GO_DURATION.match(value), f"{where}: {value!r} is not a duration such as 5s or 1m30s"


def test_the_stack_has_its_services_wired_in_order() -> None:
    services = read_compose()["services"]
    assert set(services) == APP_SERVICES | set(IMAGES)
    for name, image in IMAGES.items():
        assert services[name]["image"].startswith(image)
        assert "healthcheck" in services[name], f"{name} needs a healthcheck for depends_on: service_healthy"
    assert "pg_isready" in str(services["db"]["healthcheck"]["test"])
    assert services["redis"]["healthcheck"]["test"] == ["CMD", "redis-cli", "ping"]
    for name in APP_SERVICES:
        service = services[name]
        assert service["build"] == ".", f"{name} is built from the Dockerfile"
        assert service["env_file"] == ".env", f"{name} reads its settings from .env"
    assert services["migrate"]["restart"] == "no"
    assert services["migrate"]["depends_on"]["db"] == {"condition": "service_healthy"}
    for name in ("web", "worker", "beat"):
        depends_on = services[name]["depends_on"]
        assert depends_on["migrate"] == {"condition": "service_completed_successfully"}, name
        assert depends_on["redis"] == {"condition": "service_healthy"}, name
    for name in ("web", "worker"):
        assert services[name]["depends_on"]["db"] == {"condition": "service_healthy"}, name


def test_named_volumes_are_declared() -> None:
    compose = read_compose()
    declared = set(compose["volumes"])
    used = set()
    for name, service in compose["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            assert not source.startswith((".", "/")), f"{name}: use a named volume, not the host path {source}"
            used.add(source)
    assert used == declared
    assert any(v.endswith(":/var/lib/postgresql/data") for v in compose["services"]["db"]["volumes"])


def test_compose_interpolates_only_variables_of_env_example() -> None:
    text = (ROOT / "docker-compose.yml").read_text().replace("$$", "")
    interpolated = set(re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)", text))
    assert interpolated == COMPOSE_ONLY_VARIABLES | REQUIRED_VARIABLES
    assert interpolated <= set(read_env_file(ROOT / ".env.example"))


@pytest.mark.parametrize("name", sorted(REQUIRED_VARIABLES | COMPOSE_ONLY_VARIABLES))
def test_compose_refuses_to_start_without_a_required_variable(name: str) -> None:
    """`${NAME:?message}`: Compose stops with the message while NAME is unset or empty in .env."""
    text = (ROOT / "docker-compose.yml").read_text()
    required = rf"\$\{{{name}:\?[^}}]*\.env[^}}]*\}}"
    assert re.search(required, text), f"{name} is not required (with a message naming .env)"


def test_every_app_service_gets_the_required_secret_key() -> None:
    services = read_compose()["services"]
    for name in APP_SERVICES:
        assert services[name]["environment"]["SECRET_KEY"].startswith("${SECRET_KEY:?"), name


# The commands the compose file runs


def test_every_command_is_one_this_file_checks() -> None:
    services = read_compose()["services"]
    programs = {as_argv(services[name]["command"])[0] for name in APP_SERVICES}
    assert programs == {"gunicorn", "celery", "flask"}


def test_web_command_loads_the_app_with_the_gunicorn_config(tmp_path: Path) -> None:
    argv = as_argv(read_compose()["services"]["web"]["command"])
    assert argv == ["gunicorn", "-c", "gunicorn.conf.py", "directory:create_app()"]
    run([argv[0], "--check-config", *argv[1:]], app_environment(tmp_path))


def test_the_gunicorn_app_spec_gives_a_flask_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from gunicorn.util import import_app

    for key in readme_variables():
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'deploy.sqlite3'}")
    monkeypatch.setenv("MAIL_OUTBOX", str(tmp_path / "outbox"))
    monkeypatch.setenv("SECRET_KEY", TEST_SECRET_KEY)
    app = import_app(as_argv(read_compose()["services"]["web"]["command"])[-1])
    assert isinstance(app, Flask)

    healthcheck = " ".join(read_compose()["services"]["web"]["healthcheck"]["test"])
    path = re.search(r"http://127\.0\.0\.1:8000(/[a-z/]*)", healthcheck)
    assert path, f"the web healthcheck should request the app on port 8000: {healthcheck}"
    routes = {rule.rule for rule in app.url_map.iter_rules()}
    assert path.group(1) in routes, f"the healthcheck requests {path.group(1)}, which is not a route of the app"


def test_tasks_exposes_the_celery_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from celery import Celery
    from celery.app.utils import find_app

    for key in readme_variables():
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'deploy.sqlite3'}")
    monkeypatch.setenv("MAIL_OUTBOX", str(tmp_path / "outbox"))
    monkeypatch.setenv("SECRET_KEY", TEST_SECRET_KEY)
    import tasks

    assert isinstance(tasks.celery, Celery)
    assert isinstance(find_app("tasks"), Celery)


@pytest.mark.parametrize("service", ["worker", "beat"])
def test_celery_commands_and_their_options_exist(service: str, tmp_path: Path) -> None:
    argv = as_argv(read_compose()["services"][service]["command"])
    assert argv[:4] == ["celery", "-A", "tasks", service]
    options = [arg for arg in argv[4:] if arg.startswith("--")]
    assert "--loglevel" in options
    help_text = run([*argv[:4], "--help"], app_environment(tmp_path)).stdout
    for option in options:
        assert option in help_text, f"`celery {service}` has no {option} option"


def test_flask_commands_and_their_options_exist(tmp_path: Path) -> None:
    argv = as_argv(read_compose()["services"]["migrate"]["command"])
    assert argv[:4] == ["flask", "--app", "directory", "init-db"]
    help_text = run([*argv[:4], "--help"], app_environment(tmp_path)).stdout
    for option in (arg for arg in argv[4:] if arg.startswith("--")):
        assert option in help_text, f"`flask init-db` has no {option} option"


# .env.example and the README's Configuration table


def test_env_example_lists_exactly_the_readme_variables() -> None:
    example = set(read_env_file(ROOT / ".env.example")) - COMPOSE_ONLY_VARIABLES
    documented = readme_variables()
    assert not example - documented, f"in .env.example but not in the README table: {sorted(example - documented)}"
    assert not documented - example, f"in the README table but not in .env.example: {sorted(documented - example)}"


def test_every_variable_the_config_reads_is_in_the_readme() -> None:
    source = (ROOT / "directory" / "config.py").read_text()
    read = set(re.findall(r"""env(?:iron)?(?:\.get\(|\[)["']([A-Z][A-Z0-9_]*)["']""", source))
    assert read
    missing = read - readme_variables()
    assert not missing, f"read by directory/config.py, missing from the README table: {sorted(missing)}"


def test_env_example_values_are_accepted_by_the_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from directory.config import from_environment

    example = read_env_file(ROOT / ".env.example")
    for key, value in example.items():
        monkeypatch.setenv(key, value)
    config = from_environment(str(tmp_path))
    assert config["SESSION_COOKIE_SECURE"] is True
    assert config["TRUST_PROXY_HOPS"] == 1
    assert config["RATELIMIT_STORAGE_URI"] == example["REDIS_URL"] == "redis://redis:6379/0"
    assert config["BASE_URL"].startswith("https://")


def test_database_url_uses_the_pinned_psycopg_driver_and_the_db_password() -> None:
    example = read_env_file(ROOT / ".env.example")
    url = make_url(example["DATABASE_URL"])
    assert (url.drivername, url.host, url.port, url.database) == ("postgresql+psycopg", "db", 5432, "directory")
    assert url.get_dialect().driver == "psycopg"
    url.get_dialect().import_dbapi()
    assert url.password == example["POSTGRES_PASSWORD"], "DATABASE_URL must carry the db container's password"
    assert url.username == read_compose()["services"]["db"]["environment"]["POSTGRES_USER"]
    pins = (ROOT / "requirements.txt").read_text().splitlines()
    assert "psycopg[binary]==3.3.9" in pins
    assert any(re.fullmatch(r"gunicorn==[\d.]+", line) for line in pins)


def test_env_example_holds_placeholders_not_secrets() -> None:
    example = read_env_file(ROOT / ".env.example")
    assert example["SECRET_KEY"] == "", "empty, so the stack refuses to start until it is set"
    assert example["REQUIRE_SECRET_KEY"] == "true"
    assert "change-me" in example["POSTGRES_PASSWORD"]
    for key in ("MAIL_SMTP_PASSWORD", "MAIL_SMTP_USERNAME"):
        assert example[key] == "", f"{key} should be empty in .env.example"


# Dockerfile and .dockerignore


def dockerfile_instructions() -> list[tuple[str, str]]:
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines]


def test_dockerfile_runs_as_a_non_root_user_on_python_311_slim() -> None:
    instructions = dockerfile_instructions()
    stages = [argument for name, argument in instructions if name == "FROM"]
    assert re.fullmatch(r"python:3\.11(\.\d+)?-slim(-\w+)?", stages[-1]), "the image is the last stage's"
    users = [argument for name, argument in instructions if name == "USER"]
    assert users, "the Dockerfile never switches away from root"
    assert users[-1].split(":")[0] not in ("root", "0")
    assert ("EXPOSE", "8000") in instructions


def test_dockerfile_installs_runtime_requirements_only_and_holds_no_secrets() -> None:
    instructions = dockerfile_instructions()
    text = " ".join(argument for _, argument in instructions)
    assert "requirements-dev" not in text
    assert any(name == "RUN" and "pip install -r requirements.txt" in arg for name, arg in instructions)
    for name, argument in instructions:
        if name in ("ENV", "ARG"):
            # REQUIRE_SECRET_KEY holds no secret: it makes the app refuse to start without one.
            setting = argument.replace("REQUIRE_SECRET_KEY=true", "")
            assert not re.search(r"SECRET|PASSWORD|TOKEN|DATABASE_URL", setting), f"{name} {argument}"
        if name == "COPY" and not argument.startswith("--from="):  # a build stage's files: not the context's
            sources = argument.split()[:-1]
            assert ".env" not in sources and "." not in sources, "copy named paths only, never the whole context"
            for source in sources:
                assert (ROOT / source).exists(), f"COPY {source}: no such file in the project"


def test_the_image_refuses_to_start_without_a_secret_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The image sets REQUIRE_SECRET_KEY, so web, worker, beat and migrate refuse to start without
    SECRET_KEY, saying how to make one, rather than each making a key of its own."""
    from directory import create_app

    settings = " ".join(argument for name, argument in dockerfile_instructions() if name == "ENV")
    assert re.search(r"(^|\s)REQUIRE_SECRET_KEY=true(\s|$)", settings)
    for key in readme_variables():
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("REQUIRE_SECRET_KEY", "true")
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'deploy.sqlite3'}")
    with pytest.raises(ValueError, match=r"SECRET_KEY is not set.*secrets\.token_hex\(32\)"):
        create_app(instance_path=str(tmp_path / "instance"))
    assert not (tmp_path / "instance" / "secret_key").exists()
    monkeypatch.setenv("SECRET_KEY", TEST_SECRET_KEY)
    assert create_app(instance_path=str(tmp_path / "instance")).secret_key == TEST_SECRET_KEY


def test_the_image_holds_the_maps_npm_packages_where_the_app_serves_them_from() -> None:
    """A Node stage installs package-lock.json's packages; the image copies them, without Node.js,
    to the node_modules the app serves the maps' files from."""
    from directory.public.views import NODE_MODULES

    instructions = dockerfile_instructions()
    stages = [i for i, (name, _) in enumerate(instructions) if name == "FROM"]
    frontend = instructions[stages[0] : stages[-1]]
    assert ("COPY", "package.json package-lock.json ./") in frontend
    assert any(name == "RUN" and arg.startswith("npm ci") for name, arg in frontend)
    copies = [arg.split() for name, arg in instructions[stages[-1] :] if name == "COPY" and arg.startswith("--from=")]
    workdir = [arg for name, arg in instructions[stages[-1] :] if name == "WORKDIR"][-1]
    assert [copy[-1].rstrip("/") for copy in copies] == [str(NODE_MODULES.relative_to(ROOT))]
    assert workdir == "/app" and (ROOT / "package-lock.json").exists()


def test_dockerfile_keeps_the_instance_folder_and_outbox_private() -> None:
    runs = [argument for name, argument in dockerfile_instructions() if name == "RUN"]
    assert any("mkdir -p instance/outbox" in run and "chmod 700 instance instance/outbox" in run for run in runs)


def test_dockerfile_sets_the_import_path() -> None:
    """`celery -A tasks` drops the working directory from sys.path before `tasks` imports `directory`."""
    instructions = dockerfile_instructions()
    assert ("WORKDIR", "/app") in instructions
    assert any(name == "ENV" and re.search(r"(^|\s)PYTHONPATH=/app(\s|$)", arg) for name, arg in instructions)


def test_dockerfile_default_command_is_the_web_command() -> None:
    cmd = [argument for name, argument in dockerfile_instructions() if name == "CMD"][-1]
    assert json.loads(cmd) == as_argv(read_compose()["services"]["web"]["command"])


def test_dockerignore_keeps_secrets_and_local_state_out_of_the_build() -> None:
    ignored = (ROOT / ".dockerignore").read_text().splitlines()
    for entry in (".env", ".venv", ".git", "instance"):
        assert entry in ignored


# gunicorn.conf.py


def gunicorn_settings() -> dict[str, Any]:
    with mock.patch.dict(os.environ, {"SECRET_KEY": TEST_SECRET_KEY}):
        return runpy.run_path(str(ROOT / "gunicorn.conf.py"))


def test_gunicorn_settings_are_known_to_gunicorn() -> None:
    from gunicorn.config import Config

    known = set(Config().settings)
    names = {
        name
        for name, value in gunicorn_settings().items()
        if not name.startswith("_") and name.islower() and not callable(value) and type(value).__name__ != "module"
    }
    assert names and not names - known, f"not gunicorn settings (typos?): {sorted(names - known)}"


def test_gunicorn_binds_port_8000_with_bounded_workers_and_timeouts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WEB_CONCURRENCY", raising=False)
    settings = gunicorn_settings()
    assert settings["bind"] == "0.0.0.0:8000"
    assert settings["default_workers"](1) == 3
    assert settings["default_workers"](64) == settings["MAX_WORKERS"]
    assert settings["workers"] == settings["default_workers"]()
    monkeypatch.setenv("WEB_CONCURRENCY", "5")
    assert gunicorn_settings()["workers"] == 5
    assert settings["timeout"] > 0
    # Docker waits stop_grace_period after SIGTERM before killing: longer than gunicorn's graceful stop.
    grace = read_compose()["services"]["web"]["stop_grace_period"]
    assert settings["graceful_timeout"] < int(grace.removesuffix("s"))


def test_gunicorn_access_log_has_the_path_but_never_the_query_string() -> None:
    log_format = gunicorn_settings()["access_log_format"]
    assert "%(U)s" in log_format
    for atom in ("%(r)s", "%(q)s", "%(f)s"):
        assert atom not in log_format, f"{atom} can carry a query string"
    for header in ("{referer}i", "{query_string}e", "{raw_uri}e", "{request_uri}e"):
        assert header not in log_format.lower(), f"{header} can carry a query string"


def test_gunicorn_environment_variables_are_documented() -> None:
    source = (ROOT / "gunicorn.conf.py").read_text()
    read = set(re.findall(r"""environ\.get\(["']([A-Z][A-Z0-9_]*)["']""", source))
    assert read == {"WEB_CONCURRENCY", "FORWARDED_ALLOW_IPS", "PROMETHEUS_MULTIPROC_DIR", "SECRET_KEY"}
    deploying = (ROOT / "docs" / "deploying.md").read_text()
    for name in read:
        assert f"`{name}`" in deploying, f"docs/deploying.md should explain {name}"
