"""The README's permission table and `ROLE_ACTIONS` say the same thing, so neither drifts."""

import re
from itertools import takewhile
from pathlib import Path

from pandaprobe.projects.access import ROLE_ACTIONS, Action, Actor

README = Path(__file__).resolve().parents[2] / "README.md"
HEADING = "### Roles: who may do what"
COLUMNS = {"API key": Actor.API_KEY, "Project admin": Actor.ADMIN, "Reviewer": Actor.REVIEWER,
           "System (workers)": Actor.SYSTEM}  # fmt: skip


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def readme_table(text: str) -> dict[Actor, set[str]]:
    """The README table as actor -> the actions marked "yes" (every cell must say yes or no)."""
    lines = text.split(HEADING, 1)[1].splitlines()
    start = next(index for index, line in enumerate(lines) if line.startswith("|"))
    header, _, *body = takewhile(lambda line: line.startswith("|"), lines[start:])
    columns = {index: COLUMNS[label] for index, label in enumerate(_cells(header)) if label in COLUMNS}
    assert sorted(columns.values()) == sorted(Actor), f"table columns {_cells(header)}"
    allowed: dict[Actor, set[str]] = {actor: set() for actor in Actor}
    actions = []
    for line in body:
        cells = _cells(line)
        actions.append(re.fullmatch(r"`([a-z_.]+)`", cells[0]).group(1))
        for index, actor in columns.items():
            assert cells[index] in ("yes", "no"), line
            if cells[index] == "yes":
                allowed[actor].add(actions[-1])
    assert sorted(actions) == sorted(action.value for action in Action), "every action has one row"
    return allowed


def test_readme_permission_table_matches_role_actions():
    table = readme_table(README.read_text())
    assert table == {actor: {action.value for action in actions} for actor, actions in ROLE_ACTIONS.items()}


def test_the_parser_sees_a_changed_cell():
    text = README.read_text()
    row = next(line for line in text.splitlines() if line.startswith("| `trace.delete`"))
    changed = text.replace(row, row.replace("| yes | yes | no |", "| yes | yes | yes |"))
    assert changed != text
    assert "trace.delete" in readme_table(changed)[Actor.REVIEWER]
