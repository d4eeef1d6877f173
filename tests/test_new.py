"""`botkit new NAME`, as a new user runs it: the project it makes installs and its tests pass at once."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import sysconfig
import tomllib
from pathlib import Path

import pytest

from tests.test_cli import run

VENV_BIN = Path(sys.executable).parent
STEP_TIMEOUT = 60


def _clean_env() -> dict[str, str]:
    """No BOTKIT_* of the developer's shell and no PYTHONPATH: the new venv sees botkit only through its .pth."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("BOTKIT_", "PYTEST_")) and k != "PYTHONPATH"}


def _venv_seeing_this_one(where: Path) -> Path:
    """A fresh venv whose site-packages adds this one's (botkit editable, pytest, pip) as a site dir.

    `--system-site-packages` would see the system Python's packages, not this venv's; a `.pth` line that runs
    `site.addsitedir` also processes this venv's own .pth files, so the editable botkit and its entry points
    (the `pytest11` plugin among them) are found. What gets installed goes into the new venv only.
    """
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(where)], check=True, timeout=STEP_TIMEOUT)
    python = where / "bin" / "python"
    site_packages = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True, capture_output=True, text=True, timeout=STEP_TIMEOUT,
    ).stdout.strip()
    ours = sysconfig.get_paths()["purelib"]
    (Path(site_packages) / "botkit_test_parent.pth").write_text(f"import site; site.addsitedir({ours!r})\n")
    return python


async def test_a_new_project_installs_with_pip_and_its_own_tests_pass(tmp_path: Path) -> None:
    code, out, err = await run("new", "demo", cwd=tmp_path)
    assert code == 0, err
    project = tmp_path / "demo"
    assert f"created {project}" in out and "pip install -e . && pytest" in out

    python = await asyncio.to_thread(_venv_seeing_this_one, tmp_path / "venv")
    installed = await asyncio.to_thread(
        subprocess.run,
        [str(python), "-m", "pip", "install", "--no-index", "--no-deps", "--no-build-isolation", "-e", "."],
        cwd=project, capture_output=True, text=True, timeout=STEP_TIMEOUT, env=_clean_env(),
    )
    assert installed.returncode == 0, installed.stdout + installed.stderr
    requires = await asyncio.to_thread(
        subprocess.run,
        [str(python), "-c", "import importlib.metadata, json; print(json.dumps(importlib.metadata.requires('demo')))"],
        capture_output=True, text=True, timeout=STEP_TIMEOUT, env=_clean_env(),
    )
    assert requires.returncode == 0, requires.stderr
    assert any(r.startswith("connect-botkit>=") for r in json.loads(requires.stdout)), requires.stdout

    tested = await asyncio.to_thread(
        subprocess.run,
        [str(python), "-m", "pytest", "-p", "no:cacheprovider", "-v"],
        cwd=project, capture_output=True, text=True, timeout=STEP_TIMEOUT, env=_clean_env(),
    )
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert " 5 passed" in tested.stdout, tested.stdout
    assert "botkit_bot" not in tested.stderr


async def test_the_project_has_its_bot_yaml_plugin_tests_pyproject_dockerfile_readme_and_gitignore(tmp_path: Path) -> None:
    code, _, err = await run("new", "my-bot", cwd=tmp_path)
    assert code == 0, err
    project = tmp_path / "my-bot"
    files = sorted(str(p.relative_to(project)) for p in project.rglob("*") if p.is_file())
    assert files == [
        ".gitignore", "Dockerfile", "README.md", "bot.yaml", "plugins/helpdesk.py", "pyproject.toml",
        "tests/test_helpdesk.py",
    ]
    pyproject = tomllib.loads((project / "pyproject.toml").read_text(encoding="utf-8"))
    assert pyproject["project"]["name"] == "my-bot"
    assert any(d.startswith("connect-botkit>=") for d in pyproject["project"]["dependencies"])
    assert pyproject["tool"]["pytest"]["ini_options"]["asyncio_mode"] == "auto"
    readme = (project / "README.md").read_text(encoding="utf-8")
    assert "pip install -e . && pytest" in readme and "botkit serve bot.yaml" in readme
    plugin = (project / "plugins" / "helpdesk.py").read_text(encoding="utf-8")
    for hook in ("on_session_start", "on_message", "on_typing", "on_session_end"):
        assert f"def {hook}(" in plugin

    code, out, err = await run("check", "bot.yaml", cwd=project)
    assert code == 0, err
    assert "  on_message: helpdesk" in out and "  on_typing: helpdesk" in out


async def test_the_projects_dockerfile_runs_botkit_serve_as_a_non_root_user_and_passes_hadolint(tmp_path: Path) -> None:
    code, _, err = await run("new", "demo", cwd=tmp_path)
    assert code == 0, err
    dockerfile = tmp_path / "demo" / "Dockerfile"
    linted = await asyncio.to_thread(
        subprocess.run,
        [str(VENV_BIN / "hadolint"), "--failure-threshold", "style", "--format", "json", str(dockerfile)],
        capture_output=True, text=True, timeout=STEP_TIMEOUT,
    )
    assert linted.returncode == 0 and json.loads(linted.stdout) == [], linted.stdout + linted.stderr
    lines = dockerfile.read_text(encoding="utf-8").splitlines()
    assert 'ENTRYPOINT ["botkit"]' in lines and 'CMD ["serve", "/app/bot.yaml"]' in lines
    users = [line.split()[1] for line in lines if line.startswith("USER ")]
    assert users and not users[-1].startswith(("root", "0"))


async def test_an_existing_folder_is_refused_and_left_as_it_was(tmp_path: Path) -> None:
    (tmp_path / "demo").mkdir()
    (tmp_path / "demo" / "notes.txt").write_text("mine", encoding="utf-8")
    code, out, err = await run("new", "demo", cwd=tmp_path)
    assert code == 1
    assert err.strip() == f"botkit: {tmp_path / 'demo'} already exists; botkit new never overwrites it: choose another name"
    assert [p.name for p in (tmp_path / "demo").iterdir()] == ["notes.txt"]
    assert (tmp_path / "demo" / "notes.txt").read_text(encoding="utf-8") == "mine"


async def test_an_existing_file_of_that_name_is_refused_too(tmp_path: Path) -> None:
    (tmp_path / "demo").write_text("a file", encoding="utf-8")
    code, _, err = await run("new", "demo", cwd=tmp_path)
    assert code == 1 and "already exists" in err
    assert (tmp_path / "demo").read_text(encoding="utf-8") == "a file"


@pytest.mark.parametrize("name", ["my bot", "../escape", "a/b", "1st-bot", "bot!", "x" * 65])
async def test_a_name_that_is_no_folder_and_package_name_is_refused_saying_what_is_allowed(
    tmp_path: Path, name: str
) -> None:
    code, _, err = await run("new", name, cwd=tmp_path)
    assert code == 1
    assert "is not a valid project name: use a letter, then letters, digits, '-' or '_'" in err
    assert "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", ["botkit", "connect-botkit", "Connect_Botkit"])
async def test_botkits_own_name_is_refused(tmp_path: Path, name: str) -> None:
    code, _, err = await run("new", name, cwd=tmp_path)
    assert code == 1 and "is botkit's own name" in err
    assert list(tmp_path.iterdir()) == []
