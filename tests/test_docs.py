"""The docs say what the code does: docs/cli.md matches the command line's parser, the commands the docs show
are real commands with real options, every page is in the index, and every relative link lands.

The parser is read from `botkit.cli._parser()`, not from `--help`'s text, so a new subcommand (or option) fails
here until docs/cli.md has its entry, whatever the terminal's width.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest
import yaml

from botkit.cli import _parser

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
CLI_DOC = DOCS / "cli.md"
GLOBAL = ""  # the section of the options that come before the command
# Pages whose shell commands are checked against the parser: `botkit <command> --option` must exist.
COMMAND_PAGES = [ROOT / "README.md", *sorted(DOCS.glob("*.md")), ROOT / "deploy" / "README.md"]
LINKED_PAGES = [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]
UNSET = (None, False, [], argparse.SUPPRESS)


def subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    (action,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(action.choices)


def documented_arguments(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    """What a section's table must list: each argument as `--help` spells it (`--port PORT`), help left out."""
    formatter = parser._get_formatter()
    return {
        formatter._format_action_invocation(action): action
        for action in parser._actions
        if not isinstance(action, argparse._HelpAction | argparse._SubParsersAction)
    }


def cli_sections(text: str) -> dict[str, str]:
    """Command (GLOBAL for plain `botkit`) → the text of its "## `botkit <command>`" section."""
    sections: dict[str, str] = {}
    for match in re.finditer(r"^## `botkit(?: ([a-z][a-z-]*))?`\n(.*?)(?=^## |\Z)", text, re.M | re.S):
        sections[match.group(1) or GLOBAL] = match.group(2)
    return sections


def table_rows(section: str) -> dict[str, str]:
    """An argument table's rows: the first cell's code (`--port PORT`) → the default cell."""
    rows: dict[str, str] = {}
    for match in re.finditer(r"^\|\s*`([^`]+)`\s*\|([^|]*)\|", section, re.M):
        rows[match.group(1)] = match.group(2).strip()
    return rows


def section_problems(name: str, parser: argparse.ArgumentParser, section: str | None, known: set[str]) -> list[str]:
    """Everything docs/cli.md gets wrong about one command; `known` is every option valid in its section."""
    title = f"botkit {name}".strip()
    if section is None:
        return [f"docs/cli.md has no '## `{title}`' section"]
    problems = []
    if parser.description and parser.description not in section:
        problems.append(f"'{title}': the summary {parser.description!r} (as --help shows it) is missing")
    rows = table_rows(section)
    arguments = documented_arguments(parser)
    for invocation, action in arguments.items():
        if invocation not in rows:
            problems.append(f"'{title}': `{invocation}` is not in its table of arguments")
            continue
        defaults = re.findall(r"`([^`]*)`", rows[invocation])
        if action.default in UNSET:
            if defaults:
                problems.append(f"'{title}': `{invocation}` has no default, the doc says {defaults[0]!r}")
        elif not defaults or yaml.safe_load(defaults[0]) != action.default:
            problems.append(f"'{title}': `{invocation}` defaults to {action.default!r}, the doc says {rows[invocation]!r}")
    for invocation in rows.keys() - arguments.keys():
        problems.append(f"'{title}': `{invocation}` is documented but `{title} --help` has no such argument")
    for option in sorted(set(re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", section)) - known):
        problems.append(f"'{title}': {option} is mentioned but `{title}` has no such option")
    return problems


def options_of(parser: argparse.ArgumentParser) -> set[str]:
    return {option for action in parser._actions for option in action.option_strings}


def cli_doc_problems(parser: argparse.ArgumentParser, text: str) -> list[str]:
    sections = cli_sections(text)
    commands = subcommands(parser)
    global_options = options_of(parser)
    problems = section_problems(GLOBAL, parser, sections.get(GLOBAL), global_options)
    for name, command in commands.items():
        problems += section_problems(name, command, sections.get(name), global_options | options_of(command))
    problems += [f"docs/cli.md documents `botkit {name}`, which does not exist" for name in sections.keys() - {GLOBAL, *commands}]
    return problems


PARSER = _parser()


@pytest.mark.parametrize("command", [GLOBAL, *subcommands(PARSER)], ids=lambda name: name or "botkit")
def test_every_command_and_option_of_the_parser_is_in_the_cli_reference(command: str) -> None:
    section = cli_sections(CLI_DOC.read_text(encoding="utf-8")).get(command)
    parser = subcommands(PARSER)[command] if command else PARSER
    known = options_of(PARSER) | options_of(parser)

    assert section_problems(command, parser, section, known) == []


def test_the_cli_reference_describes_nothing_the_parser_lacks() -> None:
    assert cli_doc_problems(PARSER, CLI_DOC.read_text(encoding="utf-8")) == []


def test_the_cli_reference_lists_every_command_in_its_summary_table() -> None:
    text = CLI_DOC.read_text(encoding="utf-8")
    listed = re.findall(r"^\| \[`botkit ([a-z-]+)`\]\(#botkit-\1\) \|", text, re.M)

    assert listed == list(subcommands(PARSER))


def _parser_with_more() -> argparse.ArgumentParser:
    """The real parser plus what a later change might add: a command and an option, neither documented."""
    parser = _parser()
    commands = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)][0]
    commands.add_parser("inspect", description="Show a running bot's sessions.")
    subcommands(parser)["chat"].add_argument("--language", default="en")
    return parser


def test_the_check_fails_for_an_undocumented_command_or_option_a_wrong_default_or_an_invented_option() -> None:
    """The check above can fail: each kind of drift is reported, by name."""
    text = CLI_DOC.read_text(encoding="utf-8")
    drifted = text.replace("| `--port PORT` | `8765` |", "| `--port PORT` | `9000` |").replace(
        "| `--reload` | – |", "| `--reload` | – | x |\n| `--watch-all` | – |"
    )
    assert "`9000`" in drifted and "--watch-all" in drifted

    problems = cli_doc_problems(_parser_with_more(), drifted)

    assert "docs/cli.md has no '## `botkit inspect`' section" in problems
    assert "'botkit chat': `--language LANGUAGE` is not in its table of arguments" in problems
    assert any(p.startswith("'botkit emulator': `--port PORT` defaults to 8765") for p in problems)
    assert "'botkit serve': `--watch-all` is documented but `botkit serve --help` has no such argument" in problems
    assert "'botkit serve': --watch-all is mentioned but `botkit serve` has no such option" in problems
    assert len(problems) == 5, problems


def shown_commands(text: str) -> list[str]:
    """Every `botkit ...` command in a page's code: one that starts a line, a code span, or follows `&&`, `;`,
    `|` or `(`, up to the command's end; `from botkit import ...` or `--stack-name botkit` are not commands."""
    code = re.findall(r"```[a-z]*\n(.*?)```", text, re.S) + re.findall(r"`([^`\n]+)`", re.sub(r"```.*?```", "", text, flags=re.S))
    commands = []
    for block in code:
        for line in block.replace("\\\n", " ").splitlines():
            for match in re.finditer(r"(?:^|&&|;|\||\()\s*(?:[\w.-]*/)*botkit((?:[ \t]+[^\s|;&#`)]+)+)", line):
                commands.append("botkit" + match.group(1))
    return commands


def command_problem(command: str) -> str | None:
    """Why a shown `botkit ...` line would not parse, or None; prose-like lines (`botkit .`) are not commands."""
    words = command.split()[1:]
    options = options_of(PARSER)
    while words and words[0].startswith("-"):
        option = words.pop(0).split("=")[0]
        if option not in options:
            return f"{command!r}: botkit has no option {option}"
        if option == "--log-level" and "=" not in command.split()[1] and words:
            words.pop(0)
    if not words or not re.fullmatch(r"[a-z][a-z-]*", words[0]):
        return None
    name, rest = words[0], words[1:]
    if name not in subcommands(PARSER):
        return f"{command!r}: botkit has no command {name!r}"
    known = options_of(subcommands(PARSER)[name])
    wrong = [word.split("=")[0] for word in rest if word.startswith("-") and word.split("=")[0] not in known]
    return f"{command!r}: `botkit {name}` has no option {wrong[0]}" if wrong else None


@pytest.mark.parametrize("page", COMMAND_PAGES, ids=lambda path: str(path.relative_to(ROOT)))
def test_every_botkit_command_the_docs_show_exists_with_its_options(page: Path) -> None:
    commands = shown_commands(page.read_text(encoding="utf-8"))

    assert [problem for problem in map(command_problem, commands) if problem] == []


def test_the_command_check_catches_a_wrong_command_or_option() -> None:
    text = "Run `botkit serve --watch bot.yaml`, then\n```sh\n.venv/bin/botkit statuz\nbotkit --verbose chat\n```\n"

    problems = [problem for problem in map(command_problem, shown_commands(text)) if problem]

    assert problems == [
        "'botkit statuz': botkit has no command 'statuz'",
        "'botkit --verbose chat': botkit has no option --verbose",
        "'botkit serve --watch bot.yaml': `botkit serve` has no option --watch",
    ]


def test_the_tutorial_shows_every_step_from_new_to_deployed() -> None:
    commands = shown_commands((DOCS / "tutorial.md").read_text(encoding="utf-8"))
    used = {command.split()[1] for command in commands if len(command.split()) > 1}

    assert {"new", "serve", "chat", "check"} <= used
    assert any("--reload" in command for command in commands)


def test_the_docs_index_lists_every_page_and_the_readme_links_to_it() -> None:
    index = (DOCS / "README.md").read_text(encoding="utf-8")
    linked = set(re.findall(r"\]\(([\w-]+\.md)(?:#[\w-]+)?\)", index))
    pages = {path.name for path in DOCS.glob("*.md")} - {"README.md"}

    assert pages <= linked, f"add {sorted(pages - linked)} to docs/README.md"
    assert "](docs/README.md)" in (ROOT / "README.md").read_text(encoding="utf-8")


def github_anchors(text: str) -> set[str]:
    """The anchors GitHub gives a page's headings: lower case, punctuation dropped, spaces to hyphens, repeats -1."""
    anchors: set[str] = set()
    for heading in re.findall(r"^#{1,6} (.+)$", re.sub(r"```.*?```", "", text, flags=re.S), re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        anchor, n = slug, 0
        while anchor in anchors:
            n += 1
            anchor = f"{slug}-{n}"
        anchors.add(anchor)
    return anchors


@pytest.mark.parametrize("page", LINKED_PAGES, ids=lambda path: str(path.relative_to(ROOT)))
def test_every_relative_link_lands_on_a_file_and_heading_that_exist(page: Path) -> None:
    text = page.read_text(encoding="utf-8")
    broken = []
    for target in re.findall(r"\]\(([^)\s]+)\)", re.sub(r"```.*?```", "", text, flags=re.S)):
        if re.match(r"[a-z]+:", target):
            continue
        path, _, anchor = target.partition("#")
        destination = (page.parent / path).resolve() if path else page
        if not destination.exists():
            broken.append(target)
        elif anchor and destination.suffix == ".md" and anchor not in github_anchors(destination.read_text(encoding="utf-8")):
            broken.append(target)

    assert broken == []
