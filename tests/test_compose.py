"""The deployment (docker-compose.yml, Dockerfile) read as data: no Docker engine needed.

Values are checked as a fresh checkout runs them: every ``${NAME:-default}`` takes its default.
Where the compose file and the code must agree (the connection id, the pool, the ``STORYLINE_*``
variables), the expected values come from ``pipeline.settings.Settings`` resolved with the
compose file's own environment, exactly as the containers resolve it.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shlex
import tomllib
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from pipeline.settings import Settings, setting_fields

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
    "airflow-worker",
]
# Started on request only (a compose profile), but built like the others when it is.
OPTIONAL_AIRFLOW_SERVICES = ["flower"]
# Serves the bundled demo feeds re-dated to the present: the default FEEDS_FILE lists them.
DEMO_FEEDS = "demo-feeds"
DEFAULT_FEEDS_FILE = "./docker/demo-feeds.yaml"
LONG_RUNNING = [
    "postgres",
    "redis",
    DEMO_FEEDS,
    *(name for name in AIRFLOW_SERVICES if name != "airflow-init"),
    *OPTIONAL_AIRFLOW_SERVICES,
]
FEEDS_TARGET = "/opt/storyline/feeds.yaml"
CELERY_PING = "celery --app airflow.providers.celery.executors.celery_executor.app inspect ping"

# The [celery] options of apache-airflow-providers-celery (its provider.yaml), for machines where
# the provider is not installed; the image has it.
CELERY_OPTIONS = frozenset(
    {
        "celery_app_name",
        "worker_concurrency",
        "worker_autoscale",
        "worker_prefetch_multiplier",
        "worker_enable_remote_control",
        "broker_url",
        "result_backend",
        "result_backend_sqlalchemy_engine_options",
        "flower_host",
        "flower_url_prefix",
        "flower_port",
        "flower_basic_auth",
        "sync_parallelism",
        "celery_config_options",
        "ssl_active",
        "ssl_key",
        "ssl_cert",
        "ssl_cacert",
        "pool",
        "operation_timeout",
        "task_acks_late",
        "task_track_started",
        "task_publish_max_retries",
        "extra_celery_config",
        "worker_umask",
    }
)

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


@cache
def constraints() -> dict[str, str]:
    """The lock: package name (normalised) -> pinned version."""
    pins = {}
    for line in (ROOT / "constraints.txt").read_text(encoding="utf-8").splitlines():
        name, sep, version = line.split("#", 1)[0].strip().partition("==")
        if sep:
            pins[re.sub(r"[-_.]+", "-", name).lower()] = version
    return pins


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


def common_environment() -> dict[str, str]:
    return environment(compose()["x-airflow-common"])


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


def script_lines(spec: dict[str, Any]) -> list[str]:
    """The lines of a ``bash -c`` command, continuations joined, comments dropped."""
    command = spec.get("command", "")
    script = command[command.index("-c") + 1] if isinstance(command, list) else command
    joined = interpolate(str(script)).replace("\\\n", " ")
    stripped = (line.strip() for line in joined.splitlines())
    return [line for line in stripped if line and not line.startswith("#")]


def healthcheck_args(spec: dict[str, Any]) -> list[str]:
    test = spec["healthcheck"]["test"]
    if isinstance(test, str):
        return shlex.split(interpolate(test))
    if test[0] == "CMD-SHELL":
        return shlex.split(interpolate(" ".join(test[1:])))
    return [interpolate(str(arg)) for arg in (test[1:] if test[0] == "CMD" else test)]


def depends_on(name: str) -> dict[str, Any]:
    deps: Any = service(name).get("depends_on") or {}
    # The short form (a list) has no conditions; compose then only orders the start.
    return deps if isinstance(deps, dict) else {dep: {} for dep in deps}


def dockerfile() -> str:
    return DOCKERFILE.read_text(encoding="utf-8")


def init_sql() -> str:
    scripts = [
        src
        for src, dst in mounts(service("postgres"))
        if dst.startswith("/docker-entrypoint-initdb.d/")
    ]
    assert scripts, "no init script mounted into /docker-entrypoint-initdb.d/"
    return "\n".join((ROOT / src).read_text(encoding="utf-8") for src in scripts)


@pytest.fixture
def settings(monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The pipeline's settings inside the containers: the compose file's STORYLINE_* only."""
    for key in list(os.environ):
        if key.startswith("STORYLINE_"):
            monkeypatch.delenv(key)
    for key, value in common_environment().items():
        if key.startswith("STORYLINE_"):
            monkeypatch.setenv(key, value)
    return Settings.load()


# --- the file itself ------------------------------------------------------------------------


def test_compose_file_follows_the_compose_spec() -> None:
    data = compose()
    assert "version" not in data, "the Compose spec dropped the top-level `version:` key"
    assert isinstance(data.get("services"), dict)


def test_compose_file_repeats_no_key() -> None:
    yaml.load(COMPOSE_FILE.read_text(encoding="utf-8"), Loader=_UniqueKeyLoader)


@pytest.mark.parametrize("name", ["postgres", "redis", DEMO_FEEDS, *AIRFLOW_SERVICES])
def test_service_exists(name: str) -> None:
    assert isinstance(service(name), dict)


def test_named_volumes_are_declared_and_used() -> None:
    used = {
        src
        for spec in compose()["services"].values()
        for src, _dst in mounts(spec)
        if is_named_volume(src)
    }
    assert used == set(compose().get("volumes") or {})


# --- PostgreSQL and Redis -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "pattern"),
    [
        ("postgres", r"pgvector/pgvector:\d+\.\d+\.\d+-pg\d+"),
        ("redis", r"redis:\d+\.\d+[\w.-]*"),
    ],
    ids=["postgres-with-pgvector", "redis"],
)
def test_image_is_pinned(name: str, pattern: str) -> None:
    assert re.fullmatch(pattern, service(name)["image"]), service(name)["image"]


def test_postgres_healthcheck_asks_for_its_own_user_and_database() -> None:
    postgres = service("postgres")
    args = healthcheck_args(postgres)
    env = environment(postgres)
    assert args[0] == "pg_isready"
    assert args[args.index("-U") + 1] == env["POSTGRES_USER"]
    assert args[args.index("-d") + 1] == env["POSTGRES_DB"]


def test_redis_healthcheck_pings() -> None:
    assert healthcheck_args(service("redis")) == ["redis-cli", "ping"]


def test_postgres_data_lives_in_a_declared_named_volume() -> None:
    sources = [src for src, dst in mounts(service("postgres")) if dst == "/var/lib/postgresql/data"]
    assert len(sources) == 1, sources
    assert is_named_volume(sources[0]), sources
    assert sources[0] in (compose().get("volumes") or {})


@pytest.mark.parametrize("name", ["postgres", "redis"])
def test_port_is_not_published_by_default(name: str) -> None:
    assert "ports" not in service(name)


def test_metadata_and_stories_are_two_databases_on_the_server() -> None:
    common = common_environment()
    metadata = urlsplit(common["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]).path.lstrip("/")
    stories = urlsplit(common["STORYLINE_DATABASE_URL"]).path.lstrip("/")
    assert metadata != stories
    # The image creates POSTGRES_DB; the init script must create the other one.
    created = environment(service("postgres"))["POSTGRES_DB"]
    assert created in {metadata, stories}
    other = stories if created == metadata else metadata
    pattern = rf"^\s*CREATE DATABASE\s+{other}\s*;"
    assert re.search(pattern, init_sql(), re.IGNORECASE | re.MULTILINE), pattern


def test_init_script_creates_pgvector_in_the_stories_database() -> None:
    stories = urlsplit(common_environment()["STORYLINE_DATABASE_URL"]).path.lstrip("/")
    current = environment(service("postgres"))["POSTGRES_DB"]
    extensions = []
    for line in init_sql().splitlines():
        if connect := re.match(r"^\s*\\(?:connect|c)\s+(\w+)", line):
            current = connect.group(1)
        if re.match(r"^\s*CREATE EXTENSION\s+(IF NOT EXISTS\s+)?vector\s*;", line, re.I):
            extensions.append(current)
    assert extensions == [stories]


# --- the Airflow services -------------------------------------------------------------------


@pytest.mark.parametrize("name", AIRFLOW_SERVICES + OPTIONAL_AIRFLOW_SERVICES)
def test_airflow_service_runs_the_built_image(name: str) -> None:
    spec = service(name)
    build = spec.get("build")
    context = build.get("context") if isinstance(build, dict) else build
    assert (spec.get("image"), context) == (IMAGE, ".")


@pytest.mark.parametrize("name", AIRFLOW_SERVICES + OPTIONAL_AIRFLOW_SERVICES)
def test_airflow_service_has_the_common_environment(name: str) -> None:
    common = common_environment()
    env = environment(service(name))
    assert {key: env.get(key) for key in common} == common


@pytest.mark.parametrize("name", AIRFLOW_SERVICES)
def test_airflow_service_mounts_dags_and_feeds(name: str) -> None:
    targets = {dst: src for src, dst in mounts(service(name))}
    assert targets.get("/opt/airflow/dags") == "./dags"
    # A missing source would be created as an empty directory by Docker.
    assert (ROOT / targets[FEEDS_TARGET]).is_file(), targets.get(FEEDS_TARGET)


@pytest.mark.parametrize("name", AIRFLOW_SERVICES)
def test_task_logs_are_shared_by_every_airflow_service(name: str) -> None:
    # The API server shows the logs the workers wrote by reading them from this volume.
    sources = [src for src, dst in mounts(service(name)) if dst == "/opt/airflow/logs"]
    assert sources == ["airflow-logs"]


@pytest.mark.parametrize("name", AIRFLOW_SERVICES)
def test_the_model_export_is_made_once_for_every_worker(name: str) -> None:
    # One export in a volume every replica mounts where the setting says, which the image
    # creates (so the volume takes the airflow user as its owner).
    target = common_environment()["STORYLINE_MODEL_CACHE_DIR"]
    sources = [src for src, dst in mounts(service(name)) if dst == target]
    assert sources == ["model-cache"]
    assert f"mkdir -p /opt/airflow/auth {target}" in (ROOT / "Dockerfile").read_text()


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("AIRFLOW__CORE__EXECUTOR", "CeleryExecutor"),
        ("AIRFLOW__CORE__LOAD_EXAMPLES", "false"),
        ("AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION", "true"),
        ("AIRFLOW__CORE__EXECUTION_API_SERVER_URL", "http://airflow-apiserver:8080/execution/"),
        ("AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK", "true"),
        ("STORYLINE_MODEL_NAME", "sentence-transformers/all-MiniLM-L6-v2"),
        ("HF_HUB_OFFLINE", "1"),
    ],
    ids=[
        "executor",
        "no-examples",
        "paused",
        "execution-api",
        "scheduler-health",
        "model",
        "hf-offline",
    ],
)
def test_common_setting(key: str, expected: str) -> None:
    assert common_environment().get(key) == expected


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
    secret = common_environment()["AIRFLOW__API_AUTH__JWT_SECRET"]
    assert len(secret.encode()) >= 64


def test_storyline_variables_are_settings_fields() -> None:
    names = {
        key
        for spec in [compose()["x-airflow-common"], *compose()["services"].values()]
        for key in environment(spec)
        if key.startswith("STORYLINE_")
    }
    assert "STORYLINE_DATABASE_URL" in names
    unknown = {n for n in names if n.removeprefix("STORYLINE_").lower() not in setting_fields()}
    assert not unknown, f"not fields of pipeline.settings.Settings: {sorted(unknown)}"


def test_storyline_variables_are_valid_settings(settings: Settings) -> None:
    # The fixture resolves Settings from the compose environment; a bad value fails there.
    assert settings.database_url == common_environment()["STORYLINE_DATABASE_URL"]


def _airflow_options() -> dict[str, set[str]]:
    spec = importlib.util.find_spec("airflow")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("apache-airflow is not installed (pip install -e '.[airflow]')")
    root = Path(spec.submodule_search_locations[0])
    config = yaml.safe_load((root / "config_templates" / "config.yml").read_text(encoding="utf-8"))
    options = {section: set(body.get("options") or {}) for section, body in config.items()}
    options.setdefault("celery", set()).update(CELERY_OPTIONS)
    # The Celery provider's own list when it is installed (it is in the image).
    info_file = root / "providers" / "celery" / "get_provider_info.py"
    info_spec = importlib.util.spec_from_file_location("_celery_provider_info", info_file)
    if info_file.is_file() and info_spec and info_spec.loader:
        module = importlib.util.module_from_spec(info_spec)
        info_spec.loader.exec_module(module)
        for section, body in module.get_provider_info().get("config", {}).items():
            options.setdefault(section, set()).update(body.get("options") or {})
    return options


def test_airflow_variables_are_real_airflow_options() -> None:
    options = _airflow_options()
    unknown = []
    for spec in [compose()["x-airflow-common"], *compose()["services"].values()]:
        for key in environment(spec):
            if key.startswith("AIRFLOW__"):
                section, option = key.removeprefix("AIRFLOW__").lower().split("__", 1)
                if option not in options.get(section, set()):
                    unknown.append(key)
    assert not unknown, f"not options of this Airflow version: {sorted(set(unknown))}"


@pytest.mark.parametrize(
    ("key", "driver", "database"),
    [
        ("STORYLINE_DATABASE_URL", "postgresql+psycopg", "/storyline"),
        ("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "postgresql+psycopg2", "/airflow"),
        ("AIRFLOW__CELERY__RESULT_BACKEND", "db+postgresql", "/airflow"),
    ],
    ids=["stories", "airflow-metadata", "celery-results"],
)
def test_database_url_reaches_the_postgres_service(key: str, driver: str, database: str) -> None:
    url = urlsplit(common_environment()[key])
    postgres = environment(service("postgres"))
    assert (url.scheme, url.hostname, url.port, url.path) == (driver, "postgres", 5432, database)
    assert (url.username, url.password) == (
        postgres["POSTGRES_USER"],
        postgres["POSTGRES_PASSWORD"],
    )


def test_celery_broker_is_the_redis_service() -> None:
    url = urlsplit(common_environment()["AIRFLOW__CELERY__BROKER_URL"])
    assert (url.scheme, url.hostname, url.port) == ("redis", "redis", 6379)
    assert [str(port) for port in service("redis").get("expose", [])] == ["6379"]


# --- the stories database as an Airflow connection, and the pool -----------------------------


def conn_variable(settings: Settings) -> str:
    return f"AIRFLOW_CONN_{settings.airflow_conn_id.upper()}"


def test_conn_id_is_the_settings_default(settings: Settings) -> None:
    # The DAGs and the compose file agree by default, not only through the variable.
    assert settings.airflow_conn_id == setting_fields()["airflow_conn_id"].default


@pytest.mark.parametrize("name", AIRFLOW_SERVICES)
def test_airflow_service_has_the_stories_connection(name: str, settings: Settings) -> None:
    assert conn_variable(settings) in environment(service(name))


def test_connection_is_the_stories_database(settings: Settings) -> None:
    env = common_environment()
    conn = urlsplit(env[conn_variable(settings)])
    stories = urlsplit(env["STORYLINE_DATABASE_URL"])
    # Airflow reads postgres:// and postgresql:// as its `postgres` connection type.
    assert conn.scheme in {"postgres", "postgresql"}
    parts = ("hostname", "port", "path", "username", "password")
    assert [getattr(conn, p) for p in parts] == [getattr(stories, p) for p in parts]


def test_airflow_init_stores_the_connection_once(settings: Settings) -> None:
    conn_id = re.escape(settings.airflow_conn_id)
    variable = re.escape(conn_variable(settings))
    lines = script_lines(service("airflow-init"))
    # Guarded by a look-up in the metadata database only (the variable hidden), so a rerun
    # neither fails on the existing connection nor skips storing it because of the variable.
    guarded = (
        rf"env -u {variable} airflow connections get {conn_id} .*"
        rf"\|\| airflow connections add {conn_id} --conn-uri \"\${{?{variable}\}}?\""
    )
    assert any(re.fullmatch(guarded, line) for line in lines), lines


def test_airflow_init_creates_the_feed_pool(settings: Settings) -> None:
    calls = [
        shlex.split(line)
        for line in script_lines(service("airflow-init"))
        if line.startswith("airflow pools set ")
    ]
    assert len(calls) == 1, calls
    assert calls[0][3:5] == [settings.feed_pool, str(settings.feed_pool_slots)]


# --- airflow-init ---------------------------------------------------------------------------


def test_airflow_init_stops_at_the_first_failure() -> None:
    assert script_lines(service("airflow-init"))[0] == "set -euo pipefail"


@pytest.mark.parametrize(
    "step",
    ["airflow db migrate", "storyline init", f"storyline feeds sync {FEEDS_TARGET}"],
    ids=["airflow-schema", "stories-schema", "feeds"],
)
def test_airflow_init_runs(step: str) -> None:
    assert step in script_lines(service("airflow-init"))


def test_airflow_init_writes_the_ui_password_file() -> None:
    init = service("airflow-init")
    env = environment(init)
    assert env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"] == f"{env['AIRFLOW_ADMIN_USER']}:admin"
    assert "AIRFLOW_ADMIN_PASSWORD" in env
    assert "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE" in command_text(init)
    password_dir = str(Path(env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"]).parent)
    # On a volume every service shares, so the API server reads what airflow-init wrote.
    assert any(dst == password_dir and is_named_volume(src) for src, dst in mounts(init))


# --- start order and health -----------------------------------------------------------------


@pytest.mark.parametrize("name", AIRFLOW_SERVICES + OPTIONAL_AIRFLOW_SERVICES)
@pytest.mark.parametrize("dependency", ["postgres", "redis"])
def test_airflow_service_waits_for_a_healthy(name: str, dependency: str) -> None:
    assert depends_on(name).get(dependency, {}).get("condition") == "service_healthy"


@pytest.mark.parametrize("name", [n for n in LONG_RUNNING if n.startswith(("airflow-", "flower"))])
def test_airflow_service_waits_for_airflow_init(name: str) -> None:
    condition = depends_on(name).get("airflow-init", {}).get("condition")
    assert condition == "service_completed_successfully"


def test_worker_waits_for_a_healthy_api_server() -> None:
    # Tasks report to the API server's execution API from their first moment.
    condition = depends_on("airflow-worker").get("airflow-apiserver", {}).get("condition")
    assert condition == "service_healthy"


@pytest.mark.parametrize("name", LONG_RUNNING)
def test_long_running_service_has_a_healthcheck_and_restarts(name: str) -> None:
    spec = service(name)
    assert "healthcheck" in spec, f"{name} has no healthcheck"
    assert healthcheck_args(spec)
    assert spec.get("restart") in {"always", "unless-stopped"}


def test_airflow_init_runs_once() -> None:
    init = service("airflow-init")
    assert init.get("restart", "no") == "no"
    assert "healthcheck" not in init


def test_api_server_publishes_8080() -> None:
    ports = [interpolate(str(p)) for p in service("airflow-apiserver").get("ports", [])]
    assert "8080:8080" in ports


def test_api_server_healthcheck_calls_an_unauthenticated_endpoint() -> None:
    urls = [arg for arg in healthcheck_args(service("airflow-apiserver")) if "://" in arg]
    assert len(urls) == 1
    url = urlsplit(urls[0])
    assert (url.hostname, url.port) == ("localhost", 8080)
    assert url.path in {"/api/v2/monitor/health", "/api/v2/version"}


# --- the demo feeds -------------------------------------------------------------------------


def demo_feeds_options() -> dict[str, str]:
    """The ``storyline demo-feeds`` options the service runs with."""
    args = shlex.split(command_text(service(DEMO_FEEDS)))
    assert args[:2] == ["storyline", "demo-feeds"], args
    options = args[2:]
    assert len(options) % 2 == 0, options
    return dict(zip(options[::2], options[1::2], strict=True))


def test_demo_feeds_runs_the_built_image_without_airflows_entrypoint() -> None:
    spec = service(DEMO_FEEDS)
    assert (spec.get("image"), spec.get("build")) == (IMAGE, ".")
    # The image's entrypoint would wait for a metadata database and run `airflow storyline ...`;
    # dumb-init alone still forwards SIGTERM to the server, which stops cleanly on it.
    assert spec.get("entrypoint") == ["/usr/bin/dumb-init", "--"]


def test_demo_feeds_listens_where_its_public_url_says() -> None:
    options = demo_feeds_options()
    url = urlsplit(options["--public-url"])
    assert options["--host"] == "0.0.0.0"  # reachable from the other containers
    assert (url.scheme, url.hostname, url.port, url.path) == (
        "http",
        DEMO_FEEDS,
        int(options["--port"]),
        "",
    )
    assert [str(port) for port in service(DEMO_FEEDS).get("expose", [])] == [options["--port"]]


def test_demo_feeds_healthcheck_fetches_the_feeds_file() -> None:
    urls = [arg for arg in healthcheck_args(service(DEMO_FEEDS)) if "://" in arg]
    assert len(urls) == 1
    url = urlsplit(urls[0])
    assert (url.hostname, url.port, url.path) == (
        "127.0.0.1",
        int(demo_feeds_options()["--port"]),
        "/feeds.yaml",
    )


def test_airflow_init_waits_for_healthy_demo_feeds() -> None:
    # It registers the default feeds file, whose feeds the workers then fetch from there.
    assert depends_on("airflow-init").get(DEMO_FEEDS, {}).get("condition") == "service_healthy"


def test_default_feeds_file_is_the_demo_feeds() -> None:
    raw = [
        entry
        for entry in compose()["x-airflow-common"]["volumes"]
        if isinstance(entry, str) and entry.split(":")[-2:-1] == [FEEDS_TARGET]
    ]
    assert raw == [f"${{FEEDS_FILE:-{DEFAULT_FEEDS_FILE}}}:{FEEDS_TARGET}:ro"]


def test_default_feeds_file_lists_what_demo_feeds_serves() -> None:
    from pipeline.demo.server import feeds_file_text, load_demo_feeds

    public_url = demo_feeds_options()["--public-url"]
    served = yaml.safe_load(feeds_file_text(load_demo_feeds(), public_url))["feeds"]
    default = yaml.safe_load((ROOT / DEFAULT_FEEDS_FILE).read_text(encoding="utf-8"))["feeds"]
    assert default == served
    for feed in default:
        url = urlsplit(feed["url"])
        assert (url.hostname, url.port) == (DEMO_FEEDS, int(demo_feeds_options()["--port"]))


# --- the Celery worker ----------------------------------------------------------------------


def test_worker_runs_celery() -> None:
    assert command_text(service("airflow-worker")) == "celery worker"


def test_worker_healthcheck_pings_its_own_celery_node() -> None:
    args = healthcheck_args(service("airflow-worker"))
    assert " ".join(args[: len(CELERY_PING.split())]) == CELERY_PING
    assert args[args.index("-d") + 1] == "celery@${HOSTNAME}"


@pytest.mark.parametrize("key", ["container_name", "hostname", "ports"])
def test_worker_can_be_scaled(key: str) -> None:
    # `docker compose up --scale airflow-worker=N` starts N copies: a fixed name, hostname or
    # host port would be claimed by each of them (and Celery needs a node name per worker).
    assert key not in service("airflow-worker")


def test_worker_shuts_down_warmly() -> None:
    # dumb-init then signals only the Celery main process, which lets running tasks finish.
    assert environment(service("airflow-worker")).get("DUMB_INIT_SETSID") == "0"


def test_no_service_but_the_api_server_and_flower_publishes_ports() -> None:
    published = {name for name, spec in compose()["services"].items() if spec.get("ports")}
    assert published <= {"airflow-apiserver", "flower"}


# --- the image ------------------------------------------------------------------------------


def test_dockerfile_builds_on_the_locked_airflow_with_python_3_11() -> None:
    bases = re.findall(r"^FROM\s+(\S+)", dockerfile(), re.MULTILINE)
    assert bases, "no FROM line"
    assert bases[0] == f"apache/airflow:{constraints()['apache-airflow']}-python3.11", bases


def test_dockerfile_pins_the_projects_torch() -> None:
    pins = [dep for dep in pyproject()["project"]["dependencies"] if dep.startswith("torch==")]
    assert pins == ["torch==2.13.0"]
    assert constraints()["torch"] == "2.13.0"
    assert re.search(rf"^RUN pip install .*\b{re.escape(pins[0])}\s", dockerfile(), re.MULTILINE)


@pytest.mark.parametrize(
    "pattern",
    [
        r"^ARG TORCH_INDEX_URL=https://download\.pytorch\.org/whl/cpu$",
        r"--index-url \"?\$\{?TORCH_INDEX_URL\}?",
        r"^USER airflow$",
        r"^COPY .*\bconstraints\.txt\b.* /opt/storyline/$",
        r"-c /opt/storyline/constraints\.txt \"/opt/storyline\[airflow\]\"$",
        r"\"apache-airflow==\$\{AIRFLOW_VERSION\}\"",
        r"^COPY .*\bdags/ /opt/airflow/dags/$",
        r"^ENV HF_HUB_OFFLINE=1$",
    ],
    ids=[
        "torch-index-arg",
        "torch-index-used",
        "airflow-user",
        "constraints-copied",
        "constraints-used",
        "airflow-kept",
        "dags",
        "offline",
    ],
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
    project = text.find('-c /opt/storyline/constraints.txt "/opt/storyline[airflow]"')
    assert 0 <= torch < project, "CPU torch must be installed before the project pulls it in"


@pytest.mark.parametrize(
    "package", ["apache-airflow-providers-celery", "celery", "kombu", "redis", "billiard"]
)
def test_the_lock_pins_what_a_celery_worker_runs(package: str) -> None:
    # The image installs the `airflow` extra with the lock, so an unpinned Celery cannot move
    # under the workers; the same versions run in `make demo`'s venv and the real-cluster test.
    assert re.fullmatch(r"\d+(\.\d+)+", constraints()[package]), constraints().get(package)


def test_the_airflow_extra_brings_the_celery_provider() -> None:
    extra = pyproject()["project"]["optional-dependencies"]["airflow"]
    assert any(dep.startswith("apache-airflow-providers-celery") for dep in extra), extra
    assert "apache-airflow-providers-celery" not in dockerfile()  # through the extra, pinned
