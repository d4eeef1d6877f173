"""`botkit schema` is a JSON Schema every shipped bot.yaml passes, and docs/configuration.md is the models'
reference: generated from them, up to date, with an entry for every key."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from botkit.config.reference import keys, markdown
from tests.test_cli import run

jsonschema = pytest.importorskip("jsonschema")

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = [ROOT / "bot.yaml", *sorted(ROOT.glob("examples/*/bot.yaml"))]


@pytest.fixture(scope="module")
def schema() -> dict[str, object]:
    import asyncio

    status, out, err = asyncio.run(run("schema"))
    assert status == 0, err
    document = json.loads(out)
    jsonschema.Draft202012Validator.check_schema(document)
    return document


@pytest.mark.parametrize("path", SHIPPED, ids=lambda path: str(path.relative_to(ROOT)))
def test_every_shipped_bot_yaml_is_valid_against_the_schema(schema: dict[str, object], path: Path) -> None:
    """As an editor sees the file: before `${...}` is substituted."""
    errors = list(jsonschema.Draft202012Validator(schema).iter_errors(yaml.safe_load(path.read_text())))

    assert errors == []


@pytest.mark.parametrize(
    "document",
    [
        {"server": {"prot": 1}},
        {"server": {"port": "abc"}},
        {"server": {"port": 70000}},
        {"logging": {"format": "xml"}},
        {"transport": "pigeon"},
        {"store": {"lease_seconds": 3}},
        {"sever": {}},
    ],
)
def test_the_schema_refuses_what_bot_yaml_refuses(schema: dict[str, object], document: dict[str, object]) -> None:
    assert not jsonschema.Draft202012Validator(schema).is_valid(document)


def test_the_schema_takes_references_and_logging_extras(schema: dict[str, object]) -> None:
    document = {"server": {"port": "${PORT:-8080}"}, "logging": {"level": "${LEVEL}", "loggers": {"aiohttp": "ERROR"}}}

    assert jsonschema.Draft202012Validator(schema).is_valid(document)


def test_the_configuration_reference_is_up_to_date() -> None:
    """Regenerate with: botkit schema --markdown > docs/configuration.md"""
    assert (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8") == markdown()


def test_every_key_has_an_entry_with_a_description() -> None:
    document = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    rows = {match[1]: match[2] for match in re.finditer(r"^\| `([a-z_.]+)` \|(.*)$", document, re.MULTILINE)}

    missing = [key for key in keys() if key not in rows]
    undescribed = [key for key, row in rows.items() if row.split(" | ")[2].strip() == ""]
    assert missing == [] and undescribed == []
    assert len(rows) == len(list(keys())) > 50
