"""deploy/kubernetes: valid against the Kubernetes schemas, safe by default, and its probes, ports and paths are
what a real `botkit serve` running the ConfigMap's bot.yaml serves."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import yaml

from botkit.cli import _parser
from botkit.config import load_config, parse_config
from botkit.emulator import EmulatorConfig
from tests.conftest import EmulatorThread
from tests.deploy.manifests import (
    KUBERNETES,
    bot_container,
    container_env,
    container_port,
    image_command,
    kubernetes_documents,
    load_yaml,
)
from tests.deploy.processes import ROOT, VENV_BIN, clean_env, free_port, serving
from tests.deploy.test_containers import LIVE_PATH, READY_PATH

KUBERNETES_VERSION = "1.30.0"
PROBES = ("livenessProbe", "readinessProbe", "startupProbe")


def test_every_manifest_validates_strictly_against_the_kubernetes_schemas() -> None:
    kustomization = load_yaml(KUBERNETES / "kustomization.yaml")
    manifests = sorted(path for path in KUBERNETES.glob("*.yaml") if path.name != "kustomization.yaml")
    assert {KUBERNETES / name for name in kustomization["resources"]} <= set(manifests)
    assert {path.name for path in manifests} - set(kustomization["resources"]) == {"secret.yaml"}  # never overwritten
    done = subprocess.run(
        [str(VENV_BIN / "kubernetes-validate"), "-k", KUBERNETES_VERSION, "--strict", "--quiet", *map(str, manifests)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout == "" and done.stderr == ""


def documents() -> dict[str, dict[str, Any]]:
    return kubernetes_documents()


def configmap_bot_yaml(docs: dict[str, dict[str, Any]]) -> str:
    return str(docs["ConfigMap"]["data"]["bot.yaml"])


def test_the_container_passes_the_images_arguments_only_and_mounts_bot_yaml_where_they_point() -> None:
    docs = documents()
    container = bot_container(docs["Deployment"])
    assert "command" not in container, "the image's ENTRYPOINT is botkit"
    assert container["args"] == image_command()[1:]
    _parser().parse_args(container["args"])
    [mount] = [m for m in container["volumeMounts"] if m["mountPath"] == container["args"][-1]]
    volume = next(v for v in docs["Deployment"]["spec"]["template"]["spec"]["volumes"] if v["name"] == mount["name"])
    assert volume["configMap"]["name"] == docs["ConfigMap"]["metadata"]["name"]
    assert mount["subPath"] in docs["ConfigMap"]["data"]


def test_the_pod_is_locked_down_and_outlives_the_bots_shutdown_grace() -> None:
    docs = documents()
    pod = docs["Deployment"]["spec"]["template"]["spec"]
    container = bot_container(docs["Deployment"])
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] != 0
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] is True and security["allowPrivilegeEscalation"] is False
    assert security["capabilities"]["drop"] == ["ALL"]
    assert {"cpu", "memory"} <= set(container["resources"]["requests"]) and "memory" in container["resources"]["limits"]
    env = container_env(container, docs["Secret"])
    config = parse_config(configmap_bot_yaml(docs), "configmap bot.yaml", env)
    assert pod["terminationGracePeriodSeconds"] > config.runtime.shutdown_grace_seconds + 5
    assert pod["serviceAccountName"] == docs["ServiceAccount"]["metadata"]["name"]
    labels = docs["Deployment"]["spec"]["selector"]["matchLabels"]
    assert docs["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"] == labels
    assert docs["Service"]["spec"]["selector"] == labels


def test_the_service_account_is_ready_for_an_iam_role() -> None:
    text = (KUBERNETES / "serviceaccount.yaml").read_text(encoding="utf-8")
    assert "#   eks.amazonaws.com/role-arn: arn:aws:iam::" in text
    assert yaml.safe_load(text.replace("  # annotations:", "  annotations:").replace("  #   eks", "    eks"))[
        "metadata"
    ]["annotations"]["eks.amazonaws.com/role-arn"].startswith("arn:aws:iam::")


async def test_the_probes_and_ports_are_what_botkit_serve_with_the_configmap_really_serves(tmp_path: Path) -> None:
    """The Deployment's env (the Secret's value included) over the ConfigMap's bot.yaml; only the endpoint (an
    emulator here instead of AWS) and where the server listens (loopback, a free port) are changed."""
    docs = documents()
    container = bot_container(docs["Deployment"])
    env = container_env(container, docs["Secret"])
    (tmp_path / "bot.yaml").write_text(configmap_bot_yaml(docs), encoding="utf-8")
    (tmp_path / "plugins").symlink_to(ROOT / "plugins")  # the image's /app/plugins beside /app/bot.yaml

    as_deployed = load_config(tmp_path / "bot.yaml", {**env, "BOTKIT_HOST": "0.0.0.0"})
    probe_ports = {container_port(container, container[probe]["httpGet"]["port"]) for probe in PROBES}
    service_port = container_port(container, docs["Service"]["spec"]["ports"][0]["targetPort"])
    assert probe_ports == {service_port} == {as_deployed.server.port}
    assert [container[probe]["httpGet"]["path"] for probe in PROBES] == [LIVE_PATH, READY_PATH, LIVE_PATH]

    port = free_port()
    with EmulatorThread(EmulatorConfig(port=0)) as emulator:
        overrides = {
            "BOTKIT_ENDPOINT": emulator.base_url,
            "CONNECT_INSTANCE_ID": emulator.config.instance_id,
            "BOTKIT_HOST": "127.0.0.1",
            "BOTKIT_PORT": str(port),
        }
        argv = [str(VENV_BIN / "botkit"), *container["args"]]
        argv[-1] = str(tmp_path / "bot.yaml")
        async with serving(argv, env=clean_env(**{**env, **overrides}), cwd=tmp_path) as bot:
            assert urlsplit(bot.bot_url).port == port
            async with aiohttp.ClientSession() as http:
                for probe in PROBES:
                    path = container[probe]["httpGet"]["path"]
                    async with http.get(f"http://127.0.0.1:{port}{path}") as answer:
                        assert answer.status == 200, f"{probe} GET {path}: HTTP {answer.status}"
            assert await bot.stop(timeout=30) == 0, bot.stderr.decode()
