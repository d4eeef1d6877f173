"""The deploy files read as their tools read them, so tests take their facts from the files and cannot drift."""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tests.deploy.processes import ROOT

DOCKERFILE = ROOT / "Dockerfile"
COMPOSE = ROOT / "deploy" / "docker-compose.yml"
KUBERNETES = ROOT / "deploy" / "kubernetes"


@dataclass
class Stage:
    """One FROM ... stage of a Dockerfile: its base, and its instructions in order."""

    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [argument for instruction, argument in self.instructions if instruction == keyword]

    def last(self, keyword: str) -> str:
        found = self.all(keyword)
        assert found, f"no {keyword} in the stage FROM {self.base}"
        return found[-1]

    def env(self) -> dict[str, str]:
        """Every ENV of the stage, as `KEY=value` pairs (the form the Dockerfile uses)."""
        values: dict[str, str] = {}
        for argument in self.all("ENV"):
            for pair in shlex.split(argument):
                key, separator, value = pair.partition("=")
                assert separator, f"ENV {argument!r}: write KEY=value"
                values[key] = value
        return values

    def exec_form(self, keyword: str) -> list[str]:
        """An instruction's JSON array (exec form); fails for the shell form."""
        argument = self.last(keyword)
        if keyword == "HEALTHCHECK":
            argument = argument[argument.index("CMD ") + len("CMD ") :]
        parsed = json.loads(argument)
        assert isinstance(parsed, list) and all(isinstance(word, str) for word in parsed), argument
        return parsed


def dockerfile_stages(path: Path = DOCKERFILE) -> list[Stage]:
    """The Dockerfile's stages; continuation lines joined, comments dropped, as the builder reads them."""
    stages: list[Stage] = []
    logical = ""
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not logical and (not line or line.startswith("#")):
            continue
        if logical and line.startswith("#"):
            continue
        logical += " " + line.removesuffix("\\").strip() if logical else line.removesuffix("\\").strip()
        if line.endswith("\\"):
            continue
        keyword, _, argument = logical.partition(" ")
        keyword, argument, logical = keyword.upper(), argument.strip(), ""
        if keyword == "FROM":
            words = argument.split()
            stages.append(Stage(words[0], words[2] if len(words) == 3 and words[1].upper() == "AS" else None))
        else:
            assert stages, f"{keyword} before any FROM"
            stages[-1].instructions.append((keyword, argument))
    return stages


def image_command() -> list[str]:
    """What the image runs by default: ENTRYPOINT followed by CMD."""
    final = dockerfile_stages()[-1]
    return final.exec_form("ENTRYPOINT") + final.exec_form("CMD")


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def kubernetes_documents() -> dict[str, dict[str, Any]]:
    """Every manifest of deploy/kubernetes by kind (one document per file), kustomization included."""
    documents: dict[str, dict[str, Any]] = {}
    for path in sorted(KUBERNETES.glob("*.yaml")):
        document = load_yaml(path)
        assert document["kind"] not in documents, f"two {document['kind']} manifests"
        documents[document["kind"]] = document
    return documents


def bot_container(deployment: dict[str, Any]) -> dict[str, Any]:
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    return container


def container_env(container: dict[str, Any], secret: dict[str, Any]) -> dict[str, str]:
    """The container's environment as the kubelet builds it, secretKeyRef values read from the Secret manifest."""
    env: dict[str, str] = {}
    for variable in container["env"]:
        if "value" in variable:
            env[variable["name"]] = str(variable["value"])
            continue
        reference = variable["valueFrom"]["secretKeyRef"]
        assert reference["name"] == secret["metadata"]["name"], f"{variable['name']} names another Secret"
        env[variable["name"]] = secret["stringData"][reference["key"]]
    return env


def container_port(container: dict[str, Any], port: int | str) -> int:
    """A probe's or Service's port, named or numbered, as the container's port number."""
    if isinstance(port, int):
        return port
    [number] = [entry["containerPort"] for entry in container["ports"] if entry.get("name") == port]
    return int(number)
