"""Ready-made polls: the YAML files in smsapp/poll_templates/, listed for the builder's "new poll
from a template" and `smsapp polls templates`. A template is an ordinary poll definition (read
by the one validator, conversation.poll_yaml.parse_poll_yaml) with no group; its leading
comment lines say what it is for. Adding a template is adding a file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from smsapp.conversation.definition import PollDefinition
from smsapp.conversation.poll_yaml import parse_poll_yaml
from smsapp.services.polls.definitions import PollError

TEMPLATE_DIR = Path(__file__).resolve().parent.parent.parent / "poll_templates"
_NAME = re.compile(r"^[a-z0-9-]{1,80}$")


@dataclass(frozen=True)
class PollTemplate:
    name: str  # the file name without .yaml, e.g. session-feedback
    title: str
    description: str  # the file's leading comment lines
    questions: int


def _description(source: str) -> str:
    lines = []
    for line in source.splitlines():
        if not line.startswith("#"):
            break
        lines.append(line.lstrip("#").strip())
    return " ".join(part for part in lines if part)


def template_source(name: str) -> str:
    """The YAML text of the template `name`; PollError if there is none by that name."""
    path = TEMPLATE_DIR / f"{name}.yaml"
    if not _NAME.match(name or "") or not path.is_file():
        known = ", ".join(t.name for t in list_templates()) or "none"
        raise PollError(f"no template called {name!r} (templates: {known})")
    return path.read_text(encoding="utf-8")


def template_definition(name: str) -> PollDefinition:
    """The template read by the one validator; a broken template file raises its problems."""
    return parse_poll_yaml(template_source(name))


def list_templates() -> list[PollTemplate]:
    """Every template, by title; a file that does not validate is left out of the list (the
    tests validate every one)."""
    found = []
    for path in sorted(TEMPLATE_DIR.glob("*.yaml")):
        if not _NAME.match(path.stem):
            continue
        source = path.read_text(encoding="utf-8")
        try:
            defn = parse_poll_yaml(source)
        except ValueError:
            continue
        found.append(PollTemplate(path.stem, defn.title, _description(source), len(defn.questions)))
    return sorted(found, key=lambda t: t.title.lower())
