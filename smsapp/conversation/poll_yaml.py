"""Reading a poll definition from YAML text safely, with every problem placed by its field.

A SafeLoader with YAML 1.2 booleans and a nesting limit; duplicate keys and NUL characters are
problems with the field they belong to; syntax errors say the line and column. The mapping read
is then checked by validation.parse_poll, and all problems are raised together.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import yaml

from smsapp.conversation.definition import PollDefinition, PollDefinitionError, Problem
from smsapp.conversation.validation import parse_poll

# A poll nests six levels at most (poll > questions > question > options > option > label);
# PyYAML composes nodes recursively, so a few hundred levels end in a RecursionError.
MAX_DEPTH = 20


class _Loader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 booleans (only true/false are booleans) and a depth limit.

    YAML 1.1 reads `yes`, `no`, `on`, `off` as booleans, which silently turns options such as
    [Yes, No] or a code NO into True/False.
    """

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        # How deep each composed node goes, aliases included: an alias chain makes a short file
        # deep, and would overflow the recursion later (in the constructor or a check).
        self._height: dict[int, int] = {}

    def compose_node(self, parent: yaml.Node | None, index: object) -> yaml.Node | None:
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise _too_deep(self.peek_event().start_mark)
            node = super().compose_node(parent, index)  # type: ignore[arg-type]
        finally:
            self._depth -= 1
        if node is not None and id(node) not in self._height:
            self._height[id(node)] = 1 + max(
                (self._child_height(c) for c in _children(node)), default=0
            )
            if self._height[id(node)] > MAX_DEPTH:
                raise _too_deep(node.start_mark)
        return node

    def _child_height(self, child: yaml.Node) -> int:
        found = self._height.get(id(child))
        if found is None:  # an alias to a collection that is still being read: a cycle
            raise yaml.composer.ComposerError(
                None,
                None,
                "an alias (*name) refers to the list or mapping it is in",
                child.start_mark,
            )
        return found


def _too_deep(mark: yaml.Mark) -> yaml.YAMLError:
    return yaml.composer.ComposerError(
        None, None, f"nested too deeply (more than {MAX_DEPTH} levels; a poll needs 6)", mark
    )


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def _timestamp(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> object:
    """A date that matches YAML's pattern but does not exist (2026-13-45) is a YAML error,
    not the ValueError the SafeLoader lets through."""
    try:
        return yaml.SafeLoader.construct_yaml_timestamp(loader, node)
    except ValueError as exc:
        raise yaml.constructor.ConstructorError(
            None, None, f"{node.value!r} is not a real date ({exc})", node.start_mark
        ) from None


_Loader.add_constructor("tag:yaml.org,2002:timestamp", _timestamp)


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool",
    re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
    list("tTfF"),
)


def _node_problems(root: yaml.Node) -> list[Problem]:
    """Duplicate keys and NUL characters, each named by its field like parse_poll's problems.

    YAML keeps the last of two equal keys without a word; a facilitator who wrote one twice
    meant one of them. PostgreSQL cannot store NUL, which the escape "\\0" writes. Each node is
    looked at once, however many aliases name it.
    """
    problems: list[Problem] = []
    seen: set[int] = set()
    stack: list[tuple[yaml.Node, str]] = [(root, "")]
    while stack:
        node, where = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, yaml.ScalarNode):
            if "\x00" in str(node.value):
                problems.append(
                    Problem(
                        where or "yaml",
                        "holds a NUL character (\\0), which cannot be stored; remove it",
                    )
                )
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(
                (child, f"{where}[{i}]") for i, child in reversed(list(enumerate(node.value)))
            )
        elif isinstance(node, yaml.MappingNode):
            first_line: dict[str, int] = {}
            children: list[tuple[yaml.Node, str]] = []
            for key_node, value_node in node.value:
                if not isinstance(key_node, yaml.ScalarNode):
                    continue  # a list or mapping as a key fails in the constructor
                key = str(key_node.value)
                place = f"{where}.{key}" if where else key
                line = key_node.start_mark.line + 1
                if key in first_line:
                    problems.append(
                        Problem(
                            place, f"is given twice (lines {first_line[key]} and {line}); keep one"
                        )
                    )
                else:
                    first_line[key] = line
                children += [(key_node, place), (value_node, place)]
            stack.extend(reversed(children))
    return problems


def _yaml_problem(exc: yaml.YAMLError, text: str) -> Problem:
    mark = getattr(exc, "problem_mark", None)
    if mark is not None:
        where = f"line {mark.line + 1}, column {mark.column + 1}"
        return Problem("yaml", f"{where}: {getattr(exc, 'problem', None) or exc}")
    if isinstance(exc, yaml.reader.ReaderError) and isinstance(exc.character, int):
        before = text[: exc.position]
        line, column = before.count("\n") + 1, exc.position - (before.rfind("\n") + 1) + 1
        return Problem(
            "yaml",
            f"line {line}, column {column}: unacceptable character #x{exc.character:04x}: "
            f"{exc.reason}",
        )
    return Problem("yaml", f"unknown place: {exc}")


def parse_poll_yaml(text: str) -> PollDefinition:
    """Parse YAML text; every problem is listed: syntax (with line and column), nesting too
    deep, duplicate keys and NUL characters (with the field), then parse_poll's checks."""
    try:
        loader = _Loader(text)  # the reader refuses control characters here already
        try:
            root = loader.get_single_node()
            problems = _node_problems(root) if root is not None else []
            data = loader.construct_document(root) if root is not None else None
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:
        raise PollDefinitionError([_yaml_problem(exc, text)]) from None
    if not isinstance(data, Mapping):
        raise PollDefinitionError([Problem("yaml", "the file must be a mapping of fields")])
    try:
        defn = parse_poll(data)
    except PollDefinitionError as exc:
        raise PollDefinitionError([*problems, *exc.problems]) from None
    if problems:
        raise PollDefinitionError(problems)
    return defn
