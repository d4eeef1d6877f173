"""Several workers on one Redis, as deployed: deploy/docker-compose.workers.yml, and deploy/kubernetes/workers.

deploy/kubernetes/workers is the base with three replicas on a Redis. There is no kustomize here, so the test
applies the overlay's patch to the base Deployment as a strategic merge would (replicas replaced, env merged by
name), validates the result and the overlay's own manifests against the Kubernetes schemas, and checks that the
bot.yaml the workers then run really uses the Redis that the overlay's Service serves."""

from __future__ import annotations

import copy
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from botkit.cli import _parser
from botkit.config import parse_config
from tests.deploy.manifests import (
    KUBERNETES,
    bot_container,
    container_env,
    image_command,
    kubernetes_documents,
    load_yaml,
)
from tests.deploy.processes import ROOT, VENV_BIN
from tests.deploy.test_kubernetes import KUBERNETES_VERSION, configmap_bot_yaml

WORKERS = KUBERNETES / "workers"
COMPOSE_WORKERS = ROOT / "deploy" / "docker-compose.workers.yml"


def overlay() -> dict[str, Any]:
    return dict(load_yaml(WORKERS / "kustomization.yaml"))


def redis_documents() -> dict[str, dict[str, Any]]:
    documents = list(yaml.safe_load_all((WORKERS / "redis.yaml").read_text(encoding="utf-8")))
    return {document["kind"]: document for document in documents}


def patched_deployment() -> dict[str, Any]:
    """The base Deployment with the overlay's patch: scalars replaced, the bot container's env merged by name."""
    [patch_entry] = overlay()["patches"]
    patch = load_yaml(WORKERS / patch_entry["path"])
    deployment = copy.deepcopy(kubernetes_documents()["Deployment"])
    assert (patch["kind"], patch["metadata"]["name"]) == ("Deployment", deployment["metadata"]["name"])
    deployment["spec"]["replicas"] = patch["spec"]["replicas"]
    [patched] = patch["spec"]["template"]["spec"]["containers"]
    container = bot_container(deployment)
    assert patched["name"] == container["name"], "the patch names the base's container, or kustomize adds another"
    env = {variable["name"]: variable for variable in container["env"]}
    env.update({variable["name"]: variable for variable in patched["env"]})
    container["env"] = list(env.values())
    return deployment


def test_the_overlay_uses_the_base_and_only_files_that_exist() -> None:
    kustomization = overlay()
    assert kustomization["kind"] == "Kustomization"
    resources = [WORKERS / name for name in kustomization["resources"]]
    assert KUBERNETES.resolve() in {path.resolve() for path in resources}, "the overlay builds on deploy/kubernetes"
    assert all(path.exists() for path in resources), resources
    assert all((WORKERS / patch["path"]).is_file() for patch in kustomization["patches"])
    listed = {name for name in kustomization["resources"]} | {patch["path"] for patch in kustomization["patches"]}
    assert {path.name for path in WORKERS.glob("*.yaml")} - {"kustomization.yaml"} == listed - {"../"}


def test_the_patched_deployment_and_the_redis_validate_strictly_against_the_kubernetes_schemas(tmp_path: Path) -> None:
    patched = tmp_path / "deployment.yaml"
    patched.write_text(yaml.safe_dump(patched_deployment()), encoding="utf-8")
    done = subprocess.run(
        [str(VENV_BIN / "kubernetes-validate"), "-k", KUBERNETES_VERSION, "--strict", "--quiet",
         str(patched), str(WORKERS / "redis.yaml")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout == "" and done.stderr == ""


def test_three_workers_run_bot_yaml_on_the_redis_the_overlay_serves() -> None:
    deployment = patched_deployment()
    assert deployment["spec"]["replicas"] == 3
    base = kubernetes_documents()
    env = container_env(bot_container(deployment), base["Secret"])
    assert set(container_env(bot_container(base["Deployment"]), base["Secret"])) < set(env), "the base's env stays"

    config = parse_config(configmap_bot_yaml(base), "configmap bot.yaml", env)

    assert config.store.kind == "redis"
    url = urlsplit(config.store.url)
    redis = redis_documents()
    service = redis["Service"]
    assert url.hostname == service["metadata"]["name"]
    assert url.port in {port["port"] for port in service["spec"]["ports"]}
    assert service["spec"]["selector"].items() <= redis["Deployment"]["spec"]["template"]["metadata"]["labels"].items()
    assert redis["Deployment"]["spec"]["replicas"] == 1 and redis["Deployment"]["spec"]["strategy"]["type"] == "Recreate"


def test_compose_runs_three_workers_with_arguments_only_on_its_redis() -> None:
    services = load_yaml(COMPOSE_WORKERS)["services"]
    workers = {name: service for name, service in services.items() if name.startswith("bot-")}
    assert len(workers) == 3
    for name, service in services.items():
        if "command" in service and "build" in service:  # botkit's image: its ENTRYPOINT is botkit
            command = service["command"]
            assert isinstance(command, list) and command[0] != "botkit", f"{name}: the ENTRYPOINT is botkit already"
            _parser().parse_args(command)
    image_bot_yaml = (ROOT / "bot.yaml").read_text(encoding="utf-8")  # the image's /app/bot.yaml
    for name, worker in workers.items():
        assert worker["command"] == image_command()[1:]
        environment = {key: str(value) for key, value in worker["environment"].items()}
        assert environment["BOTKIT_INTAKE_SECRET"], "an intake beyond loopback, not embedded, is signed"
        config = parse_config(image_bot_yaml, f"{name}'s bot.yaml", environment)
        assert config.store.kind == "redis" and urlsplit(config.store.url).hostname in services
        assert urlsplit(str(config.server.public_url)).hostname == name, "each worker's own webhook"
        assert {"emulator", "redis"} <= set(worker["depends_on"])
    host_ports = [port.rsplit(":", 1)[0] for worker in workers.values() for port in worker["ports"]]
    assert len(set(host_ports)) == len(host_ports)
