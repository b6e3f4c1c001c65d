"""The container image, compose profile and Kubernetes manifests, checked without an engine.

No Docker engine or cluster runs here, so the files are kept honest by what
can run: hadolint on the Dockerfile, kubernetes-validate (offline schemas,
strict) on every manifest, uv resolving the image's install from the lock
without building anything, every command they run resolving to a module of
this repository, every ``APP_*`` variable they set being a setting, and the
ports and shutdown timings agreeing across the files.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from app.config.sections import RedisSettings
from app.entrypoints import cli
from app.observability.setup.http_endpoint import LIVENESS_PATH, READINESS_PATH
from scripts.settings_table import settings_rows
from scripts.stack_native import native_prometheus_config

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
KUBERNETES = ROOT / "deploy" / "kubernetes"
DOCKERFILE = ROOT / "Dockerfile"
COMPOSE = ROOT / "docker-compose.yml"
MESH = ROOT / "deploy" / "overlays" / "mesh"
REDIS_CLUSTER = ROOT / "deploy" / "overlays" / "redis-cluster"
# The `python -m app` command behind each job of deploy/prometheus/prometheus.yml.
PROCESS_OF_JOB = {
    "user-service": "serve",
    "user-service-worker": "worker",
    "user-service-relay": "relay",
}


def manifests() -> list[Path]:
    return sorted(p for p in KUBERNETES.glob("*.yaml") if p.name != "kustomization.yaml")


def documents() -> Iterator[dict[str, Any]]:
    for path in manifests():
        yield from yaml.safe_load_all(path.read_text())


def deployments() -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in documents() if d["kind"] == "Deployment"}


def configmaps(docs: list[dict[str, Any]] | None = None) -> dict[str, dict[str, str]]:
    """The data of each ConfigMap, by name."""
    found = list(documents()) if docs is None else docs
    return {d["metadata"]["name"]: dict(d["data"]) for d in found if d["kind"] == "ConfigMap"}


def configmap() -> dict[str, str]:
    """The settings every process shares."""
    return configmaps()["user-service-config"]


def compose() -> dict[str, Any]:
    return dict(yaml.safe_load(COMPOSE.read_text()))


def dockerfile_instructions(name: str) -> list[str]:
    """The arguments of every ``name`` instruction, continuation lines joined."""
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text())
    return [line.split(None, 1)[1] for line in text.splitlines() if line.startswith(name + " ")]


def exec_form(arguments: str) -> list[str]:
    command: list[str] = json.loads(arguments[arguments.index("[") :])
    return command


def commands() -> list[tuple[str, list[str]]]:
    """(where, command) of everything the image, compose and the manifests run."""
    found = [("Dockerfile CMD", exec_form(dockerfile_instructions("CMD")[-1]))]
    found += [
        ("Dockerfile HEALTHCHECK", exec_form(h)) for h in dockerfile_instructions("HEALTHCHECK")
    ]
    for name, service in compose()["services"].items():
        if "command" in service and service.get("profiles") == ["app"]:
            found.append((f"compose {name}", service["command"]))
    for name, deployment in deployments().items():
        spec = deployment["spec"]["template"]["spec"]
        for container in spec.get("initContainers", []) + spec["containers"]:
            if "command" in container:
                found.append((f"{name}/{container['name']}", container["command"]))
    return found


def test_the_dockerfile_passes_hadolint() -> None:
    result = subprocess.run(
        [str(VENV_BIN / "hadolint"), str(DOCKERFILE)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_manifest_is_valid_kubernetes_offline_and_strict() -> None:
    result = subprocess.run(
        [str(VENV_BIN / "kubernetes-validate"), "--strict", *map(str, manifests())],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count(" passed for resource ") == len(list(documents()))


def test_the_kustomization_lists_every_manifest() -> None:
    kustomization = yaml.safe_load((KUBERNETES / "kustomization.yaml").read_text())
    assert sorted(kustomization["resources"]) == [p.name for p in manifests()]


@pytest.mark.parametrize(("where", "command"), commands(), ids=[w for w, _ in commands()])
def test_each_command_is_one_that_python_m_app_accepts(where: str, command: list[str]) -> None:
    assert command[:3] == ["python", "-m", "app"], where
    arguments = cli.parser().parse_args(command[3:])  # exits (fails the test) on a bad one
    assert arguments.command in cli.COMMANDS, where


def test_the_image_copies_what_exists_and_what_dockerignore_lets_in() -> None:
    ignored = (ROOT / ".dockerignore").read_text().splitlines()
    for arguments in dockerfile_instructions("COPY"):
        if arguments.startswith("--from"):
            continue
        *sources, _ = arguments.split()
        for source in sources:
            assert (ROOT / source).exists(), source
            assert f"!{source.rstrip('/')}" in {line.rstrip("/") for line in ignored}, source


def test_the_image_installs_the_locked_runtime_dependencies_without_building() -> None:
    [run] = [r for r in dockerfile_instructions("RUN") if "uv sync" in r]
    arguments = run.split("uv sync", 1)[1].split()
    assert {"--frozen", "--no-dev", "--no-build"} <= set(arguments)
    makefile_uv = re.search(r"^UV_VERSION \?= (\S+)$", (ROOT / "Makefile").read_text(), re.M)
    image_uv = re.search(r"^ARG UV_VERSION=(\S+)$", DOCKERFILE.read_text(), re.M)
    assert makefile_uv and image_uv and makefile_uv[1] == image_uv[1]
    with tempfile.TemporaryDirectory() as environment:
        result = subprocess.run(
            ["python3", "-m", "uv", "sync", *arguments, "--dry-run"],
            cwd=ROOT,
            env={**os.environ, "UV_PROJECT_ENVIRONMENT": environment, "UV_OFFLINE": "1"},
            capture_output=True,
            text=True,
            check=False,
        )
    assert result.returncode == 0, result.stderr
    assert "pytest" not in result.stderr and "asyncpg" in result.stderr


def test_the_image_runs_as_a_non_root_user_with_a_health_check() -> None:
    assert dockerfile_instructions("USER")[-1] == "10001:10001"
    assert dockerfile_instructions("HEALTHCHECK")
    for deployment in deployments().values():
        security = deployment["spec"]["template"]["spec"]["securityContext"]
        assert security["runAsNonRoot"] is True and security["runAsUser"] == 10001


def environment_variables() -> list[tuple[str, str]]:
    """(where, name) of every APP_* variable compose and the manifests set."""
    found = [("configmap", name) for data in configmaps().values() for name in data]
    found += [
        ("secret", name) for d in documents() if d["kind"] == "Secret" for name in d["stringData"]
    ]
    for name, deployment in deployments().items():
        for container in deployment["spec"]["template"]["spec"]["containers"]:
            found += [(name, variable["name"]) for variable in container.get("env", [])]
    for name, service in compose()["services"].items():
        found += [(f"compose {name}", variable) for variable in service.get("environment", {})]
    return [(where, name) for where, name in found if name.startswith("APP_")]


def test_every_app_variable_they_set_is_a_setting() -> None:
    known = {name for name, _ in settings_rows()}
    unknown = [(where, name) for where, name in environment_variables() if name not in known]
    assert unknown == []


def prometheus_ports() -> dict[str, int]:
    config = yaml.safe_load((ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text())
    ports = {}
    for job in config["scrape_configs"]:
        targets = {t for group in job["static_configs"] for t in group["targets"]}
        assert len({t.rsplit(":", 1)[1] for t in targets}) == 1, job
        ports[PROCESS_OF_JOB[job["job_name"]]] = int(targets.pop().rsplit(":", 1)[1])
    return ports


def test_metrics_ports_agree_with_the_prometheus_configuration() -> None:
    ports = prometheus_ports()
    assert set(ports) == set(PROCESS_OF_JOB.values())
    makefile = (ROOT / "Makefile").read_text()
    for command in ("worker", "relay"):
        assert (
            f"APP_METRICS__PORT=$${{APP_METRICS__PORT:-{ports[command]}}} $(PY) -m app {command}"
            in (makefile)
        )
    services = compose()["services"]
    for name, command in (("user-service", "serve"), ("worker", "worker"), ("relay", "relay")):
        assert services[name]["environment"]["APP_METRICS__PORT"] == str(ports[command])
    for deployment in deployments().values():
        template = deployment["spec"]["template"]
        [container] = template["spec"]["containers"]
        command = container.get("command", ["python", "-m", "app", "serve"])[3]
        environment = {v["name"]: v.get("value") for v in container["env"]}
        assert environment["APP_METRICS__PORT"] == str(ports[command])
        assert template["metadata"]["annotations"]["prometheus.io/port"] == str(ports[command])
        assert {"name": "metrics", "containerPort": ports[command]} in container["ports"]


def test_a_native_prometheus_scrapes_the_three_processes_on_this_host() -> None:
    config = native_prometheus_config(7070)
    targets = {
        job["job_name"]: [t for group in job["static_configs"] for t in group["targets"]]
        for job in config["scrape_configs"]
    }
    assert targets == {
        "user-service": ["127.0.0.1:7070"],
        "user-service-worker": ["127.0.0.1:7071"],
        "user-service-relay": ["127.0.0.1:7072"],
    }
    promtool = shutil.which("promtool")
    if promtool is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("no promtool: CI installs the prometheus package")
        pytest.skip("no promtool (Debian package prometheus); CI runs this check")
    with tempfile.NamedTemporaryFile("w", suffix=".yml") as file:
        yaml.safe_dump(config, file)
        file.flush()
        result = subprocess.run(
            [promtool, "check", "config", file.name], capture_output=True, text=True, check=False
        )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_server_drains_within_its_termination_grace_period() -> None:
    settings = configmap()
    drain = float(settings["APP_GRPC__DRAIN_SECONDS"])
    grace = float(settings["APP_GRPC__GRACE_PERIOD_SECONDS"])
    spec = deployments()["user-service"]["spec"]["template"]["spec"]
    assert spec["terminationGracePeriodSeconds"] >= drain + grace + 5


def probed_port(container: dict[str, Any], probe: str) -> int:
    """The container port an ``httpGet`` probe names (by its name)."""
    ports = {port["name"]: port["containerPort"] for port in container["ports"]}
    return int(ports[container[probe]["httpGet"]["port"]])


def environment_of(container: dict[str, Any]) -> dict[str, Any]:
    return {item["name"]: item.get("value", item.get("valueFrom")) for item in container["env"]}


def test_the_server_is_probed_over_plaintext_http_on_its_metrics_port_whatever_its_tls() -> None:
    # The kubelet's own gRPC probes speak plaintext only, and the gRPC port speaks TLS.
    port = int(configmap()["APP_GRPC__PORT"])
    [container] = deployments()["user-service"]["spec"]["template"]["spec"]["containers"]
    assert {"name": "grpc", "containerPort": port} in container["ports"]
    environment = environment_of(container)
    paths = {"readinessProbe": READINESS_PATH, "startupProbe": READINESS_PATH}
    for probe, path in {**paths, "livenessProbe": LIVENESS_PATH}.items():
        assert "exec" not in container[probe], probe
        assert container[probe]["httpGet"]["path"] == path, probe
        assert probed_port(container, probe) == int(environment["APP_METRICS__PORT"]), probe
    # Where the kubelet reaches the pod, not loopback.
    assert environment["APP_METRICS__HOST"] == {"fieldRef": {"fieldPath": "status.podIP"}}
    assert "requests" in container["resources"]


def test_every_events_process_is_kept_alive_by_its_liveness_endpoint() -> None:
    for name in ("user-service-worker", "user-service-relay"):
        [container] = deployments()[name]["spec"]["template"]["spec"]["containers"]
        assert container["livenessProbe"]["httpGet"]["path"] == LIVENESS_PATH, name
        port = probed_port(container, "livenessProbe")
        assert port == int(environment_of(container)["APP_METRICS__PORT"]), name


def merged(base: Any, patch: Any) -> Any:
    """``patch`` applied as kustomize applies a strategic merge patch to maps (null deletes)."""
    assert not isinstance(patch, list), "lists are merged by key in kustomize: not modelled here"
    if not (isinstance(base, dict) and isinstance(patch, dict)):
        return patch
    result = dict(base)
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merged(base.get(key), value)
    return result


def mesh_documents(overlay: Path = MESH) -> list[dict[str, Any]]:
    """An overlay (the mesh's by default) rendered: the base with each of its patches applied."""
    kustomization = yaml.safe_load((overlay / "kustomization.yaml").read_text())
    assert kustomization["resources"] == ["../../kubernetes"]
    docs = list(documents())
    for patch in kustomization["patches"]:
        for change in yaml.safe_load_all((overlay / patch["path"]).read_text()):
            key = (change["kind"], change["metadata"]["name"])
            [index] = [i for i, d in enumerate(docs) if (d["kind"], d["metadata"]["name"]) == key]
            docs[index] = merged(docs[index], change)
    return docs


def server_environment(docs: list[dict[str, Any]]) -> dict[str, Any]:
    """What the server container's environment holds: its ConfigMaps', then its own."""
    [server] = [
        d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] == "user-service"
    ]
    [container] = server["spec"]["template"]["spec"]["containers"]
    data = configmaps(docs)
    found: dict[str, Any] = {}
    for source in container["envFrom"]:
        if "configMapRef" in source:
            found |= data[source["configMapRef"]["name"]]
    return found | {v["name"]: v.get("value", v.get("valueFrom")) for v in container["env"]}


def test_the_base_serves_grpc_over_tls_only_with_the_certificate_secret_mounted() -> None:
    environment = server_environment(list(documents()))
    assert environment.get("APP_GRPC__PLAINTEXT_ALLOWED", "false") == "false"
    spec = deployments()["user-service"]["spec"]["template"]["spec"]
    [container] = spec["containers"]
    volumes = {v["name"]: v for v in spec["volumes"]}
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    for setting in ("APP_GRPC__TLS__CERT_FILE", "APP_GRPC__TLS__KEY_FILE"):
        mount = mounts[str(Path(environment[setting]).parent)]
        assert mount["readOnly"] is True, setting
        assert volumes[mount["name"]]["secret"]["secretName"] == "user-service-tls", setting
    # Only the server reads the certificate: the worker and relay load no TLS file.
    for name, deployment in deployments().items():
        [other] = deployment["spec"]["template"]["spec"]["containers"]
        names = {s["configMapRef"]["name"] for s in other["envFrom"] if "configMapRef" in s}
        assert ("user-service-transport" in names) is (name == "user-service"), name


def test_every_process_binds_metrics_to_its_pod_ip_not_every_interface() -> None:
    assert all("APP_METRICS__HOST" not in data for data in configmaps().values())
    for name, deployment in deployments().items():
        [container] = deployment["spec"]["template"]["spec"]["containers"]
        [host] = [v for v in container["env"] if v["name"] == "APP_METRICS__HOST"]
        assert host["valueFrom"] == {"fieldRef": {"fieldPath": "status.podIP"}}, name


def test_the_mesh_overlay_serves_plaintext_and_says_what_it_assumes() -> None:
    environment = server_environment(mesh_documents())
    assert environment["APP_GRPC__PLAINTEXT_ALLOWED"] == "true"
    assert not any(name.startswith("APP_GRPC__TLS__") for name in environment)
    # The TLS Secret is not needed there: its volume is optional.
    [tls] = [
        v
        for v in deployments()["user-service"]["spec"]["template"]["spec"]["volumes"]
        if v["name"] == "tls"
    ]
    assert tls["secret"]["optional"] is True
    assumptions = (MESH / "README.md").read_text()
    for assumption in ("STRICT", "sidecar", "NetworkPolicy", "APP_GRPC__TRUSTED_PROXIES"):
        assert assumption in assumptions
    assert "README.md" in (MESH / "kustomization.yaml").read_text()


@pytest.mark.parametrize("overlay", [MESH, REDIS_CLUSTER], ids=lambda path: path.name)
def test_the_rendered_overlays_are_valid_kubernetes(overlay: Path) -> None:
    with tempfile.NamedTemporaryFile("w", suffix=".yaml") as file:
        yaml.safe_dump_all(mesh_documents(overlay), file)
        file.flush()
        result = subprocess.run(
            [str(VENV_BIN / "kubernetes-validate"), "--strict", file.name],
            capture_output=True,
            text=True,
            check=False,
        )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_redis_cluster_overlay_turns_cluster_mode_on_with_seeds_that_parse() -> None:
    docs = mesh_documents(REDIS_CLUSTER)
    environment = server_environment(docs)
    assert environment["APP_REDIS__CLUSTER"] == "true"
    seeds = json.loads(environment["APP_REDIS__CLUSTER_SEEDS"])
    [secret] = [d for d in docs if d["kind"] == "Secret"]
    redis = RedisSettings(
        url=secret["stringData"]["APP_REDIS__URL"], cluster=True, cluster_seeds=seeds
    )
    assert len(redis.cluster_seeds) == 2


def test_compose_runs_the_whole_stack_under_the_app_profile() -> None:
    services = compose()["services"]
    in_profile = {name for name, s in services.items() if s.get("profiles") == ["app"]}
    assert in_profile == {"user-service", "worker", "relay"}
    assert services["user-service"]["build"] == "."
    assert all(services[name]["image"] == "user-service:local" for name in in_profile)


def readme_deploy_section() -> str:
    text = (ROOT / "docs" / "operations.md").read_text()
    start = text.index("\n## Deploying\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else len(text)]


def test_the_readmes_deploy_section_is_true_to_the_files() -> None:
    section = readme_deploy_section()
    named = set(re.findall(r"`([a-z-]+\.yaml)`", section)) - {"docker-compose.yml"}
    assert named == {p.name for p in manifests()}
    commands = re.findall(r"python -m app ([a-z]+)", section)
    assert commands, "the section names the commands the image runs"
    assert set(commands) <= set(cli.COMMANDS), commands
    settings = configmap()
    spec = deployments()["user-service"]["spec"]["template"]["spec"]
    assert f"`terminationGracePeriodSeconds: {spec['terminationGracePeriodSeconds']}`" in section
    assert f"drain ({settings['APP_GRPC__DRAIN_SECONDS']} s)" in section
    assert f"grace ({settings['APP_GRPC__GRACE_PERIOD_SECONDS']} s)" in section
    assert "docker compose --profile app up" in section


def test_the_licence_is_the_same_in_the_repository_the_project_and_the_image() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    licence = (ROOT / "LICENSE").read_text()
    assert project["license"] == "Apache-2.0" and project["license-files"] == ["LICENSE"]
    assert (
        licence.lstrip().startswith("Apache License\n") and "Version 2.0, January 2004" in licence
    )
    assert [f'org.opencontainers.image.licenses="{project["license"]}"'] == dockerfile_instructions(
        "LABEL"
    )
    assert "LICENSE ./" in dockerfile_instructions("COPY")
