"""The deployment (docker-compose.yml, Dockerfile) read as data: no Docker engine needed.

Values are checked as a fresh checkout runs them: every ``${NAME:-default}`` takes its default.
"""

from __future__ import annotations

import importlib.util
import re
import shlex
import tomllib
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from pipeline.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"

IMAGE = "storyline-airflow:latest"
AIRFLOW_SERVICES = [
    "airflow-init",
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-triggerer",
]
LONG_RUNNING = [name for name in AIRFLOW_SERVICES if name != "airflow-init"]
FEEDS_TARGET = "/opt/storyline/feeds.yaml"

_VARIABLE = re.compile(r"\$\$|\$\{(\w+)(?::?-([^}]*))?\}")


def interpolate(value: str) -> str:
    """Compose's variable substitution with no variable set: defaults, and ``$$`` as ``$``."""
    return _VARIABLE.sub(lambda m: "$" if m.group(0) == "$$" else m.group(2) or "", value)


class _UniqueKeyLoader(yaml.SafeLoader):
    """The safe loader, plus Compose's rule against a key written twice in one mapping.

    PyYAML keeps the last of two equal keys silently, so every other test would read a file
    that Compose refuses.
    """

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        keys = [key.value for key, _value in node.value if key.value != "<<"]
        repeated = sorted({key for key in keys if keys.count(key) > 1})
        if repeated:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate keys {repeated}", node.start_mark
            )
        return super().construct_mapping(node, deep=deep)


@cache
def compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    assert isinstance(data, dict), "docker-compose.yml is not a mapping"
    return data


@cache
def pyproject() -> dict[str, Any]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def service(name: str) -> dict[str, Any]:
    services: dict[str, Any] = compose()["services"]
    assert name in services, f"docker-compose.yml has no service {name!r}"
    spec: dict[str, Any] = services[name]
    return spec


def environment(spec: dict[str, Any], *, raw: bool = False) -> dict[str, str]:
    """A service's environment as a dict, in either of compose's two spellings."""
    env = spec.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {key: str(value) if raw else interpolate(str(value)) for key, value in env.items()}


def mounts(spec: dict[str, Any]) -> list[tuple[str, str]]:
    """(source, target) of each volume entry, short or long syntax."""
    pairs = []
    for entry in spec.get("volumes", []):
        if isinstance(entry, dict):
            pairs.append((interpolate(str(entry.get("source", ""))), str(entry["target"])))
        else:
            source, target, *_mode = interpolate(entry).split(":")
            pairs.append((source, target))
    return pairs


def is_named_volume(source: str) -> bool:
    return bool(source) and not source.startswith((".", "/", "~"))


def command_text(spec: dict[str, Any]) -> str:
    command = spec.get("command", "")
    return interpolate(" ".join(command) if isinstance(command, list) else command)


def healthcheck_args(spec: dict[str, Any]) -> list[str]:
    test = spec["healthcheck"]["test"]
    if isinstance(test, str):
        return shlex.split(test)
    if test[0] == "CMD-SHELL":
        return shlex.split(" ".join(test[1:]))
    return list(test[1:]) if test[0] == "CMD" else list(test)


def dockerfile() -> str:
    return DOCKERFILE.read_text(encoding="utf-8")


def test_compose_file_follows_the_compose_spec() -> None:
    data = compose()
    assert "version" not in data, "the Compose spec dropped the top-level `version:` key"
    assert isinstance(data.get("services"), dict)


def test_compose_file_repeats_no_key() -> None:
    yaml.load(COMPOSE_FILE.read_text(encoding="utf-8"), Loader=_UniqueKeyLoader)


@pytest.mark.parametrize("name", ["postgres", *AIRFLOW_SERVICES])
def test_service_exists(name: str) -> None:
    assert isinstance(service(name), dict)


def test_postgres_image_has_pgvector() -> None:
    assert service("postgres")["image"].startswith("pgvector/pgvector:")


def test_postgres_healthcheck_asks_for_its_own_user_and_database() -> None:
    postgres = service("postgres")
    args = healthcheck_args(postgres)
    env = environment(postgres)
    assert args[0] == "pg_isready"
    assert args[args.index("-U") + 1] == env["POSTGRES_USER"]
    assert args[args.index("-d") + 1] == env["POSTGRES_DB"]


def test_postgres_data_lives_in_a_declared_named_volume() -> None:
    sources = [src for src, dst in mounts(service("postgres")) if dst == "/var/lib/postgresql/data"]
    assert len(sources) == 1, sources
    assert is_named_volume(sources[0]), sources
    assert sources[0] in (compose().get("volumes") or {})


def test_postgres_port_is_not_published_by_default() -> None:
    assert "ports" not in service("postgres")


def test_postgres_init_script_creates_the_airflow_database() -> None:
    scripts = [
        src
        for src, dst in mounts(service("postgres"))
        if dst.startswith("/docker-entrypoint-initdb.d/")
    ]
    assert scripts, "no init script mounted into /docker-entrypoint-initdb.d/"
    sql = "\n".join((ROOT / src).read_text(encoding="utf-8") for src in scripts)
    assert re.search(r"^\s*CREATE DATABASE\s+airflow\s*;", sql, re.IGNORECASE | re.MULTILINE)


def test_named_volumes_are_declared_and_used() -> None:
    used = {
        src
        for spec in compose()["services"].values()
        for src, _dst in mounts(spec)
        if is_named_volume(src)
    }
    assert used == set(compose().get("volumes") or {})


@pytest.mark.parametrize("name", AIRFLOW_SERVICES)
def test_airflow_service_runs_the_built_image(name: str) -> None:
    spec = service(name)
    build = spec.get("build")
    context = build.get("context") if isinstance(build, dict) else build
    assert (spec.get("image"), context) == (IMAGE, ".")


@pytest.mark.parametrize("name", AIRFLOW_SERVICES)
def test_airflow_service_has_the_common_environment(name: str) -> None:
    common = environment(compose()["x-airflow-common"])
    env = environment(service(name))
    assert {key: env.get(key) for key in common} == common


@pytest.mark.parametrize("name", AIRFLOW_SERVICES)
def test_airflow_service_mounts_dags_and_feeds(name: str) -> None:
    targets = {dst: src for src, dst in mounts(service(name))}
    assert targets.get("/opt/airflow/dags") == "./dags"
    # A missing source would be created as an empty directory by Docker.
    assert (ROOT / targets[FEEDS_TARGET]).is_file(), targets.get(FEEDS_TARGET)


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("AIRFLOW__CORE__EXECUTOR", "LocalExecutor"),
        ("AIRFLOW__CORE__LOAD_EXAMPLES", "false"),
        ("AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION", "true"),
        ("AIRFLOW__CORE__EXECUTION_API_SERVER_URL", "http://airflow-apiserver:8080/execution/"),
        ("STORYLINE_MODEL_NAME", "sentence-transformers/all-MiniLM-L6-v2"),
        ("HF_HUB_OFFLINE", "1"),
    ],
    ids=["executor", "no-examples", "paused", "execution-api", "model", "hf-offline"],
)
def test_common_setting(key: str, expected: str) -> None:
    assert environment(compose()["x-airflow-common"]).get(key) == expected


@pytest.mark.parametrize(
    "key",
    ["AIRFLOW__API_AUTH__JWT_SECRET", "AIRFLOW__API__SECRET_KEY", "AIRFLOW__CORE__FERNET_KEY"],
    ids=["jwt-secret", "api-secret", "fernet-key"],
)
def test_secret_is_read_from_the_environment(key: str) -> None:
    raw = environment(compose()["x-airflow-common"], raw=True)[key]
    assert re.fullmatch(r"\$\{\w+:-[^}]*\}", raw), f"{key} should be ${{VARIABLE:-default}}"


def test_default_jwt_secret_is_long_enough_for_hs512() -> None:
    # Airflow signs with HS512; PyJWT warns on every token for keys under 64 bytes.
    secret = environment(compose()["x-airflow-common"])["AIRFLOW__API_AUTH__JWT_SECRET"]
    assert len(secret.encode()) >= 64


def test_storyline_variables_are_settings_fields() -> None:
    names = {
        key
        for spec in [compose()["x-airflow-common"], *compose()["services"].values()]
        for key in environment(spec)
        if key.startswith("STORYLINE_")
    }
    assert "STORYLINE_DATABASE_URL" in names
    unknown = {
        n for n in names if n.removeprefix("STORYLINE_").lower() not in Settings.model_fields
    }
    assert not unknown, f"not fields of pipeline.settings.Settings: {sorted(unknown)}"


def test_airflow_variables_are_real_airflow_options() -> None:
    spec = importlib.util.find_spec("airflow")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("apache-airflow is not installed (pip install -e '.[airflow]')")
    config_yml = Path(spec.submodule_search_locations[0]) / "config_templates" / "config.yml"
    options = yaml.safe_load(config_yml.read_text(encoding="utf-8"))
    unknown = []
    for key in environment(compose()["x-airflow-common"]):
        if key.startswith("AIRFLOW__"):
            section, option = key.removeprefix("AIRFLOW__").lower().split("__", 1)
            if option not in options.get(section, {}).get("options", {}):
                unknown.append(key)
    assert not unknown, f"not options of this Airflow version: {unknown}"


@pytest.mark.parametrize(
    ("key", "driver", "database"),
    [
        ("STORYLINE_DATABASE_URL", "postgresql+psycopg", "/storyline"),
        ("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "postgresql+psycopg2", "/airflow"),
    ],
    ids=["stories", "airflow-metadata"],
)
def test_database_url_reaches_the_postgres_service(key: str, driver: str, database: str) -> None:
    url = urlsplit(environment(compose()["x-airflow-common"])[key])
    postgres = environment(service("postgres"))
    assert (url.scheme, url.hostname, url.port, url.path) == (driver, "postgres", 5432, database)
    assert (url.username, url.password) == (
        postgres["POSTGRES_USER"],
        postgres["POSTGRES_PASSWORD"],
    )


@pytest.mark.parametrize(
    "step",
    ["airflow db migrate", "storyline init", f"storyline feeds sync {FEEDS_TARGET}"],
    ids=["airflow-schema", "stories-schema", "feeds"],
)
def test_airflow_init_runs(step: str) -> None:
    assert step in command_text(service("airflow-init"))


def test_airflow_init_writes_the_ui_password_file() -> None:
    init = service("airflow-init")
    env = environment(init)
    assert env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"] == f"{env['AIRFLOW_ADMIN_USER']}:admin"
    assert "AIRFLOW_ADMIN_PASSWORD" in env
    assert "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE" in command_text(init)
    password_dir = str(Path(env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"]).parent)
    # On a volume every service shares, so the API server reads what airflow-init wrote.
    assert any(dst == password_dir and is_named_volume(src) for src, dst in mounts(init))


@pytest.mark.parametrize("name", AIRFLOW_SERVICES)
def test_airflow_service_waits_for_a_healthy_postgres(name: str) -> None:
    depends_on = service(name).get("depends_on") or {}
    assert depends_on.get("postgres", {}).get("condition") == "service_healthy"


@pytest.mark.parametrize("name", LONG_RUNNING)
def test_airflow_service_waits_for_airflow_init(name: str) -> None:
    depends_on = service(name).get("depends_on") or {}
    assert depends_on.get("airflow-init", {}).get("condition") == "service_completed_successfully"


@pytest.mark.parametrize("name", LONG_RUNNING)
def test_long_running_service_has_a_healthcheck_and_restarts(name: str) -> None:
    spec = service(name)
    assert healthcheck_args(spec)
    assert spec.get("restart") in {"always", "unless-stopped"}


def test_api_server_publishes_8080() -> None:
    ports = [interpolate(str(p)) for p in service("airflow-apiserver").get("ports", [])]
    assert "8080:8080" in ports


def test_api_server_healthcheck_calls_an_unauthenticated_endpoint() -> None:
    urls = [arg for arg in healthcheck_args(service("airflow-apiserver")) if "://" in arg]
    assert len(urls) == 1
    url = urlsplit(urls[0])
    assert (url.hostname, url.port) == ("localhost", 8080)
    assert url.path in {"/api/v2/monitor/health", "/api/v2/version"}


def test_dockerfile_builds_on_airflow_3_3_2() -> None:
    bases = re.findall(r"^FROM\s+(\S+)", dockerfile(), re.MULTILINE)
    assert bases, "no FROM line"
    assert bases[0].startswith("apache/airflow:3.3.2"), bases


def test_dockerfile_pins_the_projects_torch() -> None:
    pins = [dep for dep in pyproject()["project"]["dependencies"] if dep.startswith("torch==")]
    assert pins == ["torch==2.13.0"]
    assert re.search(rf"^RUN pip install .*\b{re.escape(pins[0])}\s", dockerfile(), re.MULTILINE)


@pytest.mark.parametrize(
    "pattern",
    [
        r"^ARG TORCH_INDEX_URL=https://download\.pytorch\.org/whl/cpu$",
        r"--index-url \"?\$\{?TORCH_INDEX_URL\}?",
        r"^USER airflow$",
        r"-c /opt/storyline/constraints\.txt /opt/storyline;",
        r"^COPY .*\bdags/ /opt/airflow/dags/$",
        r"^ENV HF_HUB_OFFLINE=1$",
    ],
    ids=["torch-index-arg", "torch-index-used", "airflow-user", "constraints", "dags", "offline"],
)
def test_dockerfile_has(pattern: str) -> None:
    assert re.search(pattern, dockerfile(), re.MULTILINE), pattern


@pytest.mark.parametrize(
    "package",
    [
        pattern.rstrip("*")
        for pattern in pyproject()["tool"]["setuptools"]["packages"]["find"]["include"]
    ],
)
def test_dockerfile_copies_every_package(package: str) -> None:
    assert re.search(
        rf"^COPY .*\b{package}/ /opt/storyline/{package}/$", dockerfile(), re.MULTILINE
    )


def test_dockerfile_installs_torch_before_the_project() -> None:
    text = dockerfile()
    torch = text.find("torch==2.13.0 --index-url")
    project = text.find("/opt/storyline;")
    assert 0 <= torch < project, "CPU torch must be installed before the project pulls it in"
