"""Read a chapter 11 Dockerfile as BuildKit does, and judge it without building it.

The grader never builds an image. This module reads the Dockerfile's lines
the way BuildKit's parser does, models the files its supported lines put in
the image, reads requirements.txt and the ignore file as pip and Docker do,
and contains the rules the static checks apply. graders/test_11_deployment.py
runs the checks; a rule fails with CheckFailed naming the line, or with
Unsupported for a line outside the set the grader supports.
"""

from __future__ import annotations

import ast
import dataclasses
import fnmatch
import functools
import importlib.metadata
import json
import posixpath
import re
import shlex
import shutil
import stat
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path, PurePosixPath

import click
from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from uvicorn.main import main as uvicorn_command

from apigrade.checks import (
    MAX_LEARNER_FILE,
    CheckFailed,
    is_utf8,
    read_learner_file,
    show,
    truncate,
)
from apigrade.server import copied_links, original_modes, skipped_paths

# The largest uid container runtimes accept.
MAX_UID = 2**31 - 1
UVICORN_MODULE = ["-m", "uvicorn"]
# The options of uvicorn's command line that take a value, from its own parser.
UVICORN_VALUE_OPTIONS = frozenset(
    option
    for parameter in uvicorn_command.params
    if isinstance(parameter, click.Option) and not parameter.is_flag
    for option in parameter.opts
)
DEPENDENCY_FILES = re.compile(
    r"(^|/)(requirements[^/]*\.txt|constraints[^/]*\.txt|pyproject\.toml|"
    r"poetry\.lock|uv\.lock|Pipfile(\.lock)?)$"
)
# Shell operators that end one simple command in a RUN line.
SHELL_OPERATORS = frozenset({"&&", "||", ";", "|", "&", "(", ")"})
SHELLS = frozenset({"sh", "bash", "dash"})
# Operators after which the rest of a RUN line may not run, and first words
# that end, or make conditional, what follows them.
UNCERTAIN_OPERATORS = frozenset({"||", "&", "(", ")"})
STOP_WORDS = frozenset(
    {
        "exit",
        "return",
        "false",
        "exec",
        "!",
        "{",
        "if",
        "while",
        "until",
        "for",
        "case",
        "function",
    }
)
ENV_ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=")
# Options of RUN itself, such as --mount=type=cache,target=/root/.cache.
RUN_OPTIONS = re.compile(r"^(?:--\S+\s+)*")
PIP_PROGRAM = re.compile(r"pip(3(\.\d+)?)?")
PYTHON_PROGRAM = re.compile(r"python(3(\.\d+)?)?")
REQUIREMENTS_FILE = "requirements.txt"
BYTE_ORDER_MARK = "\ufeff"
# pip's test for an encoding declaration on a requirements file's first two
# lines, which must also start with "#" (pip/_internal/utils/encoding.py).
PIP_CODING = re.compile(r"coding[:=]\s*([-\w.]+)")
# A line pip takes for all comment (pip/_internal/req/req_file.py).
PIP_COMMENT = re.compile(r"(^|\s+)#")
# The files Docker may read the build context's ignore patterns from, the
# one it prefers first.
IGNORE_FILES = ("Dockerfile.dockerignore", ".dockerignore")
# Variables that move Python's library away, or stop Python at start-up
# with a value it refuses; the chapter's image needs none of them.
BREAKING_PYTHON_VARIABLES = frozenset(
    {"PYTHONHOME", "PYTHONHASHSEED", "PYTHONINTMAXSTRDIGITS"}
)
NOT_INSTALLING_OPTIONS = frozenset(
    {"--dry-run", "--help", "-h", "--target", "-t", "--prefix", "--root", "--user"}
)
# A package name at the start of a requirements line, and how many files the
# -r lines of requirements.txt may lead to.
REQUIREMENT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
MAX_REQUIREMENT_FILES = 10


# --- Reading the Dockerfile ------------------------------------------------


@dataclass(frozen=True)
class Instruction:
    """One Dockerfile instruction, its continuation lines joined."""

    line: int
    keyword: str
    arguments: str

    def describe(self) -> str:
        text = f"{self.keyword} {self.arguments}"
        return f"line {self.line}: {truncate(escape_invisible(text), 200)}"


def escape_invisible(text: str) -> str:
    """Return `text` with each character that does not show when printed escaped.

    Feedback then shows `USER 10001\\x1f`, not a line that looks like a valid
    one. Tabs stay as they are.
    """
    return "".join(
        character.encode("unicode_escape").decode("ascii")
        if is_invisible(character)
        else character
        for character in text
    )


# Characters str.isprintable() takes for printable that show as nothing or as
# a blank: the combining grapheme joiner, the variation selectors, the Hangul
# fillers and the blank Braille pattern.
BLANK_PRINTABLE = frozenset(
    "\u034f\u115f\u1160\u3164\uffa0\u2800"
    + "".join(chr(code) for code in range(0xFE00, 0xFE10))
    + "".join(chr(code) for code in range(0xE0100, 0xE01F0))
)


def is_invisible(character: str) -> bool:
    """Tell whether a character other than a tab does not show when printed.

    These are control characters (\\x1f), spaces other than the plain space
    (\\xa0, \\u2003), line and paragraph separators, and format characters
    such as the zero-width space (\\u200b): str.isprintable() is False for
    each of them. BLANK_PRINTABLE adds those it takes for printable.
    """
    return character != "\t" and (
        not character.isprintable() or character in BLANK_PRINTABLE
    )


# The instructions that take a heredoc, and a heredoc word as BuildKit
# matches it against each whole word of the instruction: an optional file
# descriptor, `<<`, an optional `-` (strip leading tabs) and the end word.
HEREDOC_KEYWORDS = {"RUN", "COPY", "ADD"}
HEREDOC_WORD = re.compile(r"(\d*)<<(-?)([^<]*)")
# A stage name as BuildKit accepts it once in lower case (parseBuildStageName
# in frontend/dockerfile/instructions/parse.go).
STAGE_NAME = re.compile(r"[a-z][a-z0-9\-_.]*")
# The --flag words BuildKit takes off the front of an instruction before it
# reads the rest as JSON or as a shell command.
LEADING_FLAGS = re.compile(r"^(?:[\t\v\f\r ]*--\S+)+")
# A parser directive, such as `# escape=``, and the keys Docker reads: it
# stops looking for directives at the first line that is not one of these.
DIRECTIVE = re.compile(
    r"#[\t\n\f\r ]*([a-zA-Z][a-zA-Z0-9]*)[\t\n\f\r ]*=[\t\n\f\r ]*(.+?)[\t\n\f\r ]*"
)
DIRECTIVE_KEYS = {"escape", "syntax", "check"}
# Docker's own Dockerfile frontend, the only one a syntax directive may name:
# any version, with a digest or not.
DOCKER_FRONTEND = re.compile(
    r"(docker\.io/)?docker/dockerfile(-upstream)?(:[\w.-]+)?(@sha256:[0-9a-f]{64})?"
)
# What Go's unicode.IsSpace accepts, which Docker trims from the start of a
# line. Python's str.strip() would also trim \x1c to \x1f.
GO_SPACE = (
    "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006"
    "\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
# The characters between an instruction's keyword and its arguments.
KEYWORD_END = re.compile(r"[\t\v\f\r ]+")


def parse_dockerfile(text: str) -> list[Instruction]:
    """Split a Dockerfile into instructions, as Docker (BuildKit) reads them.

    Lines end at \\n only, less one \\r before it; a byte-order mark at the
    start is dropped. Comment lines and empty lines are skipped, inside a
    continued instruction too. A continued line is joined to the next with
    nothing between them, so `US\\` then `ER 0` is `USER 0`. The escape
    character that continues a line is a backslash unless an `escape` parser
    directive at the top of the file sets another.

    Heredoc lines (RUN <<EOF ... EOF) belong to their instruction, and their
    text is not read.
    """
    lines = dockerfile_lines(text)
    escape = parser_directives(lines).get("escape", "\\")
    if escape not in ("\\", "`"):
        escape = "\\"
    continued = re.compile(re.escape(escape) + r"[ \t]*$")
    instructions = []
    number = 0
    while number < len(lines):
        line = lines[number].lstrip(GO_SPACE)
        number += 1
        start = number
        if line.startswith("#"):
            continue
        line, ended = _cut_continuation(line, continued)
        if ended and not line:
            continue
        while not ended and number < len(lines):
            part = lines[number]
            number += 1
            if not part.strip(GO_SPACE) or part.lstrip(GO_SPACE).startswith("#"):
                continue
            part, ended = _cut_continuation(part, continued)
            line += part
        instruction = _instruction(start, line)
        instructions.append(instruction)
        if instruction.keyword in HEREDOC_KEYWORDS and not in_json_form(
            instruction.arguments
        ):
            # The lines up to each end word, in order, are the heredocs' text.
            for word, strip_tabs in heredoc_words(instruction.arguments):
                while number < len(lines):
                    body_line = lines[number]
                    number += 1
                    if (body_line.lstrip("\t") if strip_tabs else body_line) == word:
                        break
    return instructions


def dockerfile_lines(text: str) -> list[str]:
    """Split a Dockerfile into lines as Docker does: at \\n, less one \\r, no BOM."""
    return [line.removesuffix("\r") for line in text.removeprefix("\ufeff").split("\n")]


def parser_directives(lines: Sequence[str]) -> dict[str, str]:
    """Return the parser directives at the top of a Dockerfile, keys in lower case."""
    found: dict[str, str] = {}
    for key, value in _directive_lines(lines):
        found.setdefault(key, value)
    return found


def repeated_directive(lines: Sequence[str]) -> str | None:
    """Return the first parser directive written twice at the top, or None."""
    seen: set[str] = set()
    for key, _ in _directive_lines(lines):
        if key in seen:
            return key
        seen.add(key)
    return None


def _directive_lines(lines: Sequence[str]) -> list[tuple[str, str]]:
    """Return (key in lower case, value) for each parser directive line at the top."""
    found = []
    for raw_line in lines:
        match = DIRECTIVE.fullmatch(raw_line.lstrip(GO_SPACE))
        if match is None or match.group(1).lower() not in DIRECTIVE_KEYS:
            break
        found.append((match.group(1).lower(), match.group(2)))
    return found


def _cut_continuation(line: str, continued: re.Pattern[str]) -> tuple[str, bool]:
    """Return `line` without its escape character, and whether the line ends there."""
    match = continued.search(line)
    if match is None:
        return line, True
    return line[: match.start()], False


def in_json_form(arguments: str) -> bool:
    """Tell whether arguments are a JSON array of strings after any --flags.

    BuildKit reads no heredoc in such an instruction (canContainHeredoc in its
    frontend/dockerfile/parser/parser.go returns false for JSON form), so a
    word such as `"<<EOF"` in `COPY ["a", "<<EOF"]` is a path.
    """
    return exec_form(split_options(arguments)[1]) is not None


def heredoc_words(arguments: str) -> list[tuple[str, bool]]:
    """Return the end word of each heredoc an instruction opens, and its `-`.

    Only a whole word such as `<<EOF`, `<<-EOF`, `3<<EOF` or `<<"EOF"` opens
    a heredoc: `a<<EOF` does not, as in Docker.
    """
    try:
        words = shlex.split(arguments)
    except ValueError:
        words = arguments.split()
    found = []
    for word in words:
        match = HEREDOC_WORD.fullmatch(word)
        if match is not None and match.group(3):
            found.append((match.group(3), match.group(2) == "-"))
    return found


def _instruction(line: int, text: str) -> Instruction:
    keyword, *arguments = KEYWORD_END.split(text.strip(GO_SPACE), maxsplit=1)
    return Instruction(line, keyword.upper(), arguments[0] if arguments else "")


def build_stages(instructions: list[Instruction]) -> list[list[Instruction]]:
    """Split the instructions into build stages, each starting at its FROM.

    Instructions before the first FROM (global ARGs) belong to no stage, and a
    file without FROM is one stage.
    """
    starts = [i for i, item in enumerate(instructions) if item.keyword == "FROM"]
    if not starts:
        return [instructions]
    bounds = [*starts, len(instructions)]
    return [instructions[start:end] for start, end in pairwise(bounds)]


def from_image(item: Instruction) -> tuple[str, str | None]:
    """Return the image of a FROM instruction and its stage name.

    The image is as written, its variables not filled in; the stage name is in
    lower case, since Docker ignores its case.
    """
    words = [word for word in item.arguments.split() if not word.startswith("--")]
    image = words[0] if words else ""
    alias = words[2].lower() if len(words) >= 3 and words[1].lower() == "as" else None
    return image, alias


# The ARGs that BuildKit defines before the first FROM without an ARG line:
# the platform the image is built for (TARGET...) and the platform of the
# machine that builds it (BUILD...), such as linux/amd64, linux, amd64 and an
# empty variant. The grader cannot know either platform.
PLATFORM_ARGUMENTS = (
    "TARGETPLATFORM",
    "TARGETOS",
    "TARGETARCH",
    "TARGETVARIANT",
    "BUILDPLATFORM",
    "BUILDOS",
    "BUILDARCH",
    "BUILDVARIANT",
)
# A variable a FROM line or ARG default uses, in any of its forms.
USED_VARIABLE = re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)")


def global_declarations(
    instructions: Sequence[Instruction],
) -> list[tuple[str, str | None]]:
    """Return each ARG declared before the first FROM as (name, default or None)."""
    declarations: list[tuple[str, str | None]] = []
    for item in instructions:
        if item.keyword == "FROM":
            break
        if item.keyword != "ARG":
            continue
        try:
            words = shlex.split(item.arguments)
        except ValueError:
            words = item.arguments.split()
        # Docker keeps a $ in single quotes or after a backslash as text, where
        # the grader would fill it in, so such a default is left unread.
        kept_dollar = keeps_dollar(item.arguments)
        for word in words:
            name, equals, default = word.partition("=")
            if equals and kept_dollar and "$" in default:
                default = UNREADABLE
            declarations.append((name, default if equals else None))
    return declarations


def keeps_dollar(text: str) -> bool:
    """Tell whether `text` has a $ that the shell would keep as text.

    That is a $ inside single quotes, or one after a backslash outside them.
    """
    quote = ""
    for index, character in enumerate(text):
        following = text[index + 1 : index + 2]
        if quote == "'":
            if character == "$":
                return True
            if character == "'":
                quote = ""
        elif character == "\\" and following == "$":
            return True
        elif character == quote:
            quote = ""
        elif not quote and character in "'\"":
            quote = character
    return False


def global_arguments(instructions: Sequence[Instruction]) -> dict[str, str | None]:
    """Return the ARGs declared before the first FROM, with their defaults.

    Only these reach FROM lines. An ARG without a default is None (unset), as
    in a `docker build .` given no --build-arg, unless it has a value already,
    which BuildKit keeps (buildMetaArgs in dockerfile2llb). A default may use
    the ARGs declared before it.
    The PLATFORM_ARGUMENTS are UNREADABLE unless an ARG gives them a default.
    """
    values: dict[str, str | None] = dict.fromkeys(PLATFORM_ARGUMENTS, UNREADABLE)
    for name, default in global_declarations(instructions):
        if default is None:
            values.setdefault(name, None)
        else:
            values[name] = expand_arguments(default, values) or UNREADABLE
    return values


def platform_arguments_used(
    text: str, instructions: Sequence[Instruction]
) -> list[str]:
    """Return the PLATFORM_ARGUMENTS whose value `text`, such as a FROM image, uses.

    `text` may use one itself, or an ARG declared before the first FROM whose
    default uses one.
    """
    depends: dict[str, set[str]] = {name: {name} for name in PLATFORM_ARGUMENTS}
    for name, default in global_declarations(instructions):
        if default is not None:
            depends[name] = {
                platform
                for used in USED_VARIABLE.findall(default)
                for platform in depends.get(used, set())
            }
    used = {
        platform
        for name in USED_VARIABLE.findall(text)
        for platform in depends.get(name, set())
    }
    return sorted(used)


# Most variables, and characters, a FROM line or ARG default may hold.
MAX_VARIABLES = 32
MAX_EXPANDED_LENGTH = 4096
# The value of an ARG whose default could not be read: no VARIABLE matches
# it, so a FROM line that uses it cannot be read either.
UNREADABLE = "${}"
# $NAME, ${NAME}, and ${NAME:-word}, ${NAME-word}, ${NAME:+word} and
# ${NAME+word} whose word has no variable in it: an inner variable is filled in
# first, so `${A:-${B}}` takes two passes.
VARIABLE = re.compile(
    r"\$(?:(?P<bare>[A-Za-z_][A-Za-z0-9_]*)"
    r"|\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<operator>:?[-+])(?P<word>[^${}]*))?\})"
)


def expand_arguments(text: str, values: Mapping[str, str | None]) -> str | None:
    """Fill in ARG values the way Docker does, or return None for a form not read.

    A variable that is unset or has no value becomes empty. A form other than
    those VARIABLE matches (`${NAME#pattern}`, an escaped `\\$`), or an ARG
    whose default could not be read, gives None.
    """

    def replace(match: re.Match[str]) -> str:
        name = match.group("bare") or match.group("name")
        value = values.get(name)
        operator, word = match.group("operator"), match.group("word")
        if operator == ":-":
            return value or word
        if operator == "-":
            return word if value is None else value
        if operator == ":+" and value == UNREADABLE:
            # Docker gives the word only when the value is not empty, which
            # the grader cannot tell.
            return UNREADABLE
        if operator == ":+":
            return word if value else ""
        if operator == "+":
            return "" if value is None else word
        return value or ""

    # A real FROM line has a few variables; a file nested thousands deep
    # would keep the passes below busy for minutes.
    if text.count("$") > MAX_VARIABLES or len(text) > MAX_EXPANDED_LENGTH:
        return None
    # Each pass fills in at least one variable or changes nothing.
    for _ in range(text.count("$")):
        filled = VARIABLE.sub(replace, text)
        if filled == text:
            break
        text = filled
    return None if "$" in text else text


# The feedback for an exec-form list that is not valid JSON, which Docker runs
# through /bin/sh as text.
NOT_JSON_SUMMARY = "The CMD is not valid JSON, so Docker reads it as shell form."
NOT_JSON_EFFECT = (
    "a list that is not valid JSON: Docker passes the whole text to /bin/sh, which "
    "looks for a command named like its first word, so the container does not start"
)
NOT_JSON_HINT = (
    "JSON needs double quotes and no comma after the last item: are all the "
    "strings in double quotes?"
)


def exec_form(arguments: str) -> list[str] | None:
    """Return the JSON array of an exec-form instruction, or None for shell form."""
    try:
        value = json.loads(arguments)
    except (ValueError, RecursionError):
        return None
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return value
    return None


@dataclass(frozen=True)
class Dockerfile:
    """The learner's Dockerfile, split into build stages, of which the last runs."""

    path: Path
    stages: list[list[Instruction]]
    arguments: dict[str, str | None] = field(default_factory=dict)
    syntax: str | None = None
    # Every instruction in order, the ARGs before the first FROM included.
    written: list[Instruction] = field(default_factory=list)
    # The parser directives at the top, keys in lower case.
    directives: dict[str, str] = field(default_factory=dict)
    # Paths of the chapter folder that the graded copy lacks (skipped_paths),
    # though Docker's build context has them.
    left_out: tuple[str, ...] = ()
    # A parser directive written twice at the top, which Docker rejects.
    repeated_directive: str | None = None

    @property
    def stage(self) -> list[Instruction]:
        return self.stages[-1]

    def base_image(self, item: Instruction) -> str:
        """Return the image a FROM line names, its ARG variables filled in.

        Fails when the line uses a variable form the grader does not read, or
        names no image once its variables are filled in.
        """
        written = from_image(item)[0]
        platforms = platform_arguments_used(written, self.written)
        if platforms:
            names = " and ".join(platforms)
            raise CheckFailed(
                f"A FROM line uses {names}, which BuildKit sets to the platform "
                "of the build without an ARG line, so the Dockerfile does not "
                "show which image the stage starts from.",
                request=item.describe(),
                expected="FROM with the image's tag written out, such as "
                "FROM python:3.12-slim",
                actual=f"{written}, whose value depends on the platform Docker "
                "builds for, such as linux/amd64 or linux/arm64",
                hint="The grader cannot know the platform of the build. Which "
                "image should the stage start from on every platform?",
            )
        image = expand_arguments(written, self.arguments)
        if not image:
            actual = (
                f"{written} names no image once its ARG values are filled in"
                if image == ""
                else f"{written}: a variable form the grader does not read"
            )
            raise CheckFailed(
                "A FROM line names its image through variables the grader cannot "
                "fill in, so the Dockerfile does not show what the image holds.",
                request=item.describe(),
                expected="FROM with an image or stage name, or with $NAME, "
                "${NAME} or ${NAME:-default} of an ARG declared before the first "
                "FROM",
                actual=actual,
                hint="The grader fills in ARG defaults as `docker build .` does "
                "with no --build-arg. Which image or stage should this stage "
                "start from?",
            )
        return image.lower()

    def find_stage(self, name: str, before: int) -> int | None:
        """Return the index of the stage that `name` (an alias or a number) names.

        Only the stages before index `before` count, as in Docker, where FROM
        and COPY --from name earlier stages only.
        """
        for index in range(before):
            stage = self.stages[index]
            if name == str(index):
                return index
            if stage and stage[0].keyword == "FROM" and from_image(stage[0])[1] == name:
                return index
        return None

    def instructions(self, index: int) -> list[Instruction]:
        """Return stage `index` as Docker builds it: FROM, triggers, its own lines.

        The triggers are the ONBUILD instructions of the stage it is built
        FROM, which Docker runs right after that FROM.
        """
        stage = self.stages[index]
        if not stage or stage[0].keyword != "FROM":
            return stage
        base = self.find_stage(self.base_image(stage[0]), index)
        if base is None:
            return stage
        triggers = [
            _instruction(item.line, item.arguments)
            for item in self.stages[base]
            if item.keyword == "ONBUILD"
        ]
        return [stage[0], *triggers, *stage[1:]]

    def stage_chain(self, index: int) -> list[int]:
        """Return stage `index` and the stages it is built FROM, nearest first."""
        chain = [index]
        while True:
            stage = self.stages[chain[-1]]
            if not stage or stage[0].keyword != "FROM":
                return chain
            base = self.find_stage(self.base_image(stage[0]), chain[-1])
            if base is None:
                return chain
            chain.append(base)

    @property
    def entrypoint(self) -> Instruction | None:
        """The ENTRYPOINT in effect in the final stage, or None.

        A stage built FROM an earlier stage inherits its ENTRYPOINT, and
        `ENTRYPOINT []` clears it. NOTE: an ENTRYPOINT set by a base image from
        a registry is not seen, but python:3.12-slim sets none.
        """
        found = self.in_effect("ENTRYPOINT")
        if found is None or exec_form(found.arguments) == []:
            return None
        return found

    def in_effect(self, keyword: str) -> Instruction | None:
        """Return the last `keyword` instruction in effect in the final stage.

        That is the final stage's own, or else the one it inherits from the
        nearest stage it is built FROM that has one.
        """
        for index in self.stage_chain(len(self.stages) - 1):
            found = [
                item for item in self.instructions(index) if item.keyword == keyword
            ]
            if found:
                return found[-1]
        return None

    def installs_dependencies(self, item: Instruction) -> bool:
        """Tell whether `item` installs requirements.txt into the final stage.

        That is a RUN of pip install -r requirements.txt, or a COPY --from of
        an earlier stage that has such a RUN.
        """
        if item.keyword == "RUN":
            options = RUN_OPTIONS.match(item.arguments)
            # Without the network, pip can fetch nothing.
            if options is not None and "--network=none" in options[0].split():
                return False
            return any(
                installs_requirements(command)
                for command in run_commands(item.arguments)
            )
        source = option_value(item.arguments.split(), "--from")
        if item.keyword != "COPY" or not source:
            return False
        index = self.find_stage(source.lower(), len(self.stages) - 1)
        if index is None:
            return False
        return any(
            installs_requirements(command)
            for stage in self.stage_chain(index)
            for run in self.stages[stage]
            if run.keyword == "RUN"
            for command in run_commands(run.arguments)
        )

    @property
    def cmd(self) -> Instruction | None:
        """The CMD in effect in the final stage, or None.

        A stage built FROM an earlier stage inherits its CMD, unless the stage
        sets an ENTRYPOINT, which clears the CMD it inherits.
        """
        for index in self.stage_chain(len(self.stages) - 1):
            stage = self.instructions(index)
            keywords = [item.keyword for item in stage]
            commands = [item for item in stage if item.keyword == "CMD"]
            if commands:
                return commands[-1]
            if "ENTRYPOINT" in keywords:
                return None
        return None

    def code_placement(
        self,
    ) -> tuple[str, list[tuple[Instruction, str, bool]]] | None:
        """Return the final stage's working folder, and each path its COPYs write.

        Each write is (instruction, path, whether it is the chapter's main.py),
        in order. A file copied to a destination without a trailing slash
        lands at it, or in it when it is a folder, so both count. Returns None
        when a COPY from another stage leaves the files unknown; fails on a
        WORKDIR, COPY or ADD whose paths use a variable.
        """
        last = len(self.stages) - 1
        chain = self.stage_chain(last)
        folder = "/"
        writes: list[tuple[Instruction, str, bool]] = []
        for index in [*reversed(chain[1:]), last]:
            for item in self.instructions(index):
                if item.keyword not in ("WORKDIR", "COPY", "ADD"):
                    continue
                if "--from" in item.arguments:
                    return None
                if "$" in item.arguments:
                    raise CheckFailed(
                        f"A {item.keyword} line names its path through a variable, "
                        "so the Dockerfile does not show where the code goes.",
                        request=item.describe(),
                        expected=f"{item.keyword} with the path itself",
                        actual=f"{item.keyword} {item.arguments}",
                        hint="Write the folder or file itself: ENV and ARG values "
                        "can change at build time.",
                    )
                if item.keyword == "WORKDIR":
                    folder = posixpath.join(folder, single_word(item.arguments))
                elif index == last:
                    writes += [(item, *write) for write in copy_writes(item, folder)]
        return posixpath.normpath(folder), writes

    @property
    def stop_signal(self) -> Instruction | None:
        """The STOPSIGNAL in effect in the final stage, inherited or its own."""
        return self.in_effect("STOPSIGNAL")

    @property
    def user(self) -> Instruction | None:
        """The USER in effect in the final stage, inherited or its own, or None."""
        return self.in_effect("USER")

    def cmd_tokens(self) -> list[str]:
        """Return the CMD as a list of words, from either form.

        Fails on a list that is not valid JSON, such as one in single quotes:
        Docker runs that text through /bin/sh, and the container never starts.
        """
        cmd = self.require_cmd()
        tokens = exec_form(cmd.arguments)
        if tokens is None and looks_like_list(cmd.arguments):
            raise not_json_failure(cmd)
        if tokens is None:
            try:
                tokens = shlex.split(cmd.arguments)
            except ValueError:
                tokens = cmd.arguments.split()
            if tokens[:1] == ["exec"]:
                tokens = tokens[1:]
        return tokens

    def uvicorn_variables(self) -> list[tuple[Instruction, str]]:
        """Return each ENV in effect in the final stage that sets a UVICORN_ name."""
        found = []
        for index in self.stage_chain(len(self.stages) - 1):
            for item in self.instructions(index):
                if item.keyword == "ENV":
                    found += [
                        (item, name)
                        for name in env_names(item.arguments)
                        if name.startswith("UVICORN_")
                    ]
        return found

    def require_cmd(self) -> Instruction:
        """Return the CMD, or fail if there is none or something else changes it.

        An ENTRYPOINT changes what runs, and a UVICORN_ variable set by ENV
        changes uvicorn's options (UVICORN_RELOAD=true is --reload), so
        neither shows in the CMD.
        """
        self.reject_entrypoint()
        variables = self.uvicorn_variables()
        if variables:
            item, name = variables[0]
            raise CheckFailed(
                f"The Dockerfile sets {name} with ENV. uvicorn reads each UVICORN_ "
                "variable as one of its options, so the CMD alone does not show how "
                "the server runs.",
                request=item.describe(),
                expected="every uvicorn option in the CMD, and no UVICORN_ variable",
                actual=", ".join(sorted({name for _, name in variables})),
                hint=f"Which option does {name} stand for? Write it in the CMD, "
                "where whoever reads the Dockerfile looks for it, and delete the ENV.",
            )
        cmd = self.cmd
        if cmd is None:
            raise CheckFailed(
                "The Dockerfile has no CMD line, so there is no production command.",
                request=f"read {self.path.name}",
                expected='a CMD such as CMD ["uvicorn", "main:app", "--host", '
                '"0.0.0.0", "--port", "8000", "--workers", "4", '
                '"--timeout-graceful-shutdown", "8"]',
                actual=f"instructions: {describe_keywords(self.stage)}",
                hint="Which Dockerfile instruction names the command a container "
                "runs when it starts?",
            )
        return cmd

    def reject_entrypoint(self) -> None:
        """Fail if an ENTRYPOINT is in effect, since Docker would not run CMD alone."""
        entrypoint = self.entrypoint
        if entrypoint is None:
            return
        words = exec_form(entrypoint.arguments)
        if words is None:
            actual = (
                "a shell-form ENTRYPOINT: Docker runs it with /bin/sh -c and "
                "ignores CMD"
            )
        else:
            cmd = self.cmd
            cmd_words = exec_form(cmd.arguments) if cmd is not None else None
            runs = words + cmd_words if cmd_words is not None else words
            actual = (
                "an exec-form ENTRYPOINT: Docker runs it with the words of CMD as "
                f"its arguments, {show(runs)}"
            )
        raise CheckFailed(
            "The Dockerfile has an ENTRYPOINT, so the container would not run the "
            "CMD as it is written.",
            request=entrypoint.describe(),
            expected="no ENTRYPOINT: this chapter starts the app with CMD alone, "
            "which is where the grader reads the production command",
            actual=actual,
            hint="An ENTRYPOINT in shell form replaces CMD, and one in exec form "
            "puts itself in front of CMD's words. Can you delete the ENTRYPOINT "
            "and write the whole command in CMD?",
        )


def single_word(arguments: str) -> str:
    """Return an instruction's one argument, its quotes taken off as Docker does."""
    try:
        words = shlex.split(arguments)
    except ValueError:
        words = []
    return words[0] if len(words) == 1 else arguments.strip()


def split_options(arguments: str) -> tuple[list[str], str]:
    """Return the --flag words at the start of `arguments`, and the text after them.

    BuildKit (extractBuilderFlags) reads flags only up to the first word that
    is not one, so `COPY main.py --link .` copies a file named --link.
    """
    match = LEADING_FLAGS.match(arguments)
    if match is None:
        return [], arguments
    return match.group(0).split(), arguments[match.end() :]


def copy_words(arguments: str) -> tuple[list[str], list[str]]:
    """Return the options and the paths of a COPY or ADD.

    Raises ValueError when the paths are in shell form and a quote does not
    close.
    """
    options, rest = split_options(arguments)
    return options, exec_form(rest) or shlex.split(rest)


def copy_paths(item: Instruction) -> tuple[list[str], str]:
    """Return the sources and the destination of a COPY or ADD, options left out."""
    try:
        words = copy_words(item.arguments)[1]
    except ValueError:
        words = split_options(item.arguments)[1].split()
    if len(words) < 2:
        return [], ""
    return words[:-1], words[-1]


def copy_writes(
    item: Instruction, folder: str, file: str = "main.py"
) -> list[tuple[str, bool]]:
    """Return the paths a COPY or ADD run in `folder` may write.

    Each is (path, whether the chapter's `file` is what lands there). A
    source copied into a folder lands under its own name, or under `file`
    when the source is the whole folder or a pattern matching `file`. A
    destination that may be a file is also written itself.
    """
    sources, destination = copy_paths(item)
    if not sources:
        return []
    into = posixpath.normpath(posixpath.join(folder, destination))
    as_folder = destination.endswith("/") or len(sources) > 1
    # COPY --exclude=PATTERN leaves matching files out.
    excluded = any(
        fnmatch.fnmatchcase(file, word.partition("=")[2].lstrip("./"))
        for word in item.arguments.split()
        if word.startswith("--exclude=")
    )
    writes: list[tuple[str, bool]] = []
    for source in sources:
        if item.keyword == "COPY" and is_url(source):
            # BuildKit stops the build on a URL source of COPY, so the line
            # writes nothing. validate_copy rejects it as unsupported.
            continue
        name = posixpath.normpath(source.partition("://")[2] or source).lstrip("/")
        is_main = not excluded and (
            name in (".", file) or fnmatch.fnmatchcase(file, name)
        )
        wild = any(mark in name for mark in "*?[")
        whole = is_main and (name == "." or wild)
        inside = file if whole else posixpath.basename(name)
        writes.append((posixpath.join(into, inside), is_main))
        if not as_folder and name != "." and not wild:
            writes.append((into, is_main))
    return writes


def is_url(source: str) -> bool:
    """Tell whether a COPY or ADD source is a URL rather than a path of the context."""
    return "://" in source


def env_names(arguments: str) -> list[str]:
    """Return the names an ENV instruction sets: `A=1 B=2`, or `A value`."""
    try:
        words = shlex.split(arguments)
    except ValueError:
        words = arguments.split()
    if words and "=" not in words[0]:
        return words[:1]
    return [word.partition("=")[0] for word in words if "=" in word]


def not_json_failure(cmd: Instruction) -> CheckFailed:
    """Return the failure for a CMD list that is not valid JSON."""
    return CheckFailed(
        NOT_JSON_SUMMARY,
        request=cmd.describe(),
        expected='exec form: CMD ["uvicorn", "main:app", ...]',
        actual=NOT_JSON_EFFECT,
        hint=NOT_JSON_HINT,
    )


def looks_like_list(arguments: str) -> bool:
    """Tell whether shell-form arguments were meant as an exec-form list."""
    return arguments.lstrip().startswith("[")


def read_dockerfile(
    path: Path, text: str, left_out: tuple[str, ...] = ()
) -> Dockerfile:
    """Read the Dockerfile at `path`, whose text is `text`.

    `left_out` lists the paths of its folder that the grader's copy lacks.
    """
    instructions = parse_dockerfile(text)
    lines = dockerfile_lines(text)
    directives = parser_directives(lines)
    return Dockerfile(
        path,
        build_stages(instructions),
        global_arguments(instructions),
        directives.get("syntax"),
        instructions,
        directives,
        left_out,
        repeated_directive(lines),
    )


def require_dockerfile(dockerfile: Dockerfile | None) -> Dockerfile:
    if dockerfile is None and "Dockerfile" in skipped_paths():
        raise CheckFailed(
            "The Dockerfile was left out of the graded copy of the chapter.",
            request="read Dockerfile",
            expected="a file named Dockerfile next to main.py",
            actual="a link to a file outside the chapter folder or to a folder, "
            "or a very large file",
            hint="Is Dockerfile a symbolic link? Put the file itself in the "
            "chapter folder: the grader never follows a link out of it.",
        )
    if dockerfile is None:
        raise CheckFailed(
            "No Dockerfile in the chapter folder.",
            request="read Dockerfile",
            expected="a file named Dockerfile next to main.py",
            actual="no such file",
            hint="Did you name the file exactly Dockerfile, with no extension?",
        )
    if dockerfile.syntax is not None and not DOCKER_FRONTEND.fullmatch(
        dockerfile.syntax
    ):
        raise CheckFailed(
            "The Dockerfile's syntax directive asks for a frontend other than "
            "Docker's own, which may read the file in a way of its own.",
            request="read the first lines of Dockerfile",
            expected="no syntax directive, or # syntax=docker/dockerfile:1",
            actual=f"# syntax={dockerfile.syntax}",
            hint="The grader reads the file as Docker's own frontend does. "
            "Does the image need another one?",
        )
    return dockerfile


# --- What the grader supports ------------------------------------------------

# The grader builds no image, so it can tell what an image contains only for
# the instructions, commands and options this chapter uses. A Dockerfile with
# any other line fails every static check, after the check's own rule,
# because the grader would have to guess what that line does.
SUPPORTED_KEYWORDS = (
    "FROM",
    "ARG",
    "ENV",
    "EXPOSE",
    "WORKDIR",
    "COPY",
    "RUN",
    "USER",
    "STOPSIGNAL",
    "CMD",
)
# Tags of the official Python image, Debian-based, from Python 3.10 on. A
# version-less tag (python, python:slim) is the newest Python.
PYTHON_IMAGE = re.compile(r"(?:docker\.io/)?(?:library/)?python(?::(?P<tag>.+))?")
PYTHON_VERSIONS = ("3", "3.10", "3.11", "3.12", "3.13", "3.14")
# A tag such as 3.12.7-slim: a patch release, then the variant.
PATCH_TAG = re.compile(r"(?P<minor>3\.\d+)\.\d+(?P<variant>-.+)?")
NEWEST_MINOR = 14
# Standard modules removed from, and added to, Python in each minor version,
# from "What's New in Python" 3.11 to 3.13 (PEP 594 and PEP 632).
REMOVED_MODULES = {
    11: frozenset({"binhex"}),
    12: frozenset({"asynchat", "asyncore", "distutils", "imp", "smtpd"}),
    13: frozenset(
        {
            "aifc",
            "audioop",
            "cgi",
            "cgitb",
            "chunk",
            "crypt",
            "imghdr",
            "lib2to3",
            "mailcap",
            "msilib",
            "nis",
            "nntplib",
            "ossaudiodev",
            "pipes",
            "sndhdr",
            "spwd",
            "sunau",
            "telnetlib",
            "uu",
            "xdrlib",
        }
    ),
}
ADDED_MODULES = {11: frozenset({"tomllib"})}
PYTHON_VARIANTS = ("", "slim", "bookworm", "slim-bookworm", "trixie", "slim-trixie")
# NOTE: the list is the tags Docker Hub is believed to publish, not checked
# against the registry, which the grader cannot reach.
PYTHON_TAGS = frozenset(
    {"latest", *(variant for variant in PYTHON_VARIANTS if variant)}
    | {
        f"{version}-{variant}" if variant else version
        for version in PYTHON_VERSIONS
        for variant in PYTHON_VARIANTS
    }
)
# Folders a WORKDIR, and so a COPY, may use: none is on PATH or on Python's
# import path, and none is a user's home, whose ~/.local Python would read.
APP_FOLDERS = ("/app", "/code", "/srv", "/opt", "/usr/src", "/workspace")
# Names Python may import in place of a module's source, by the Python version
# (see reject_importable_file).
EXTENSION_SUFFIXES = (".so", ".pyd")
BYTECODE_SUFFIX = ".pyc"
BYTECODE_FOLDER = "__pycache__"
SWITCH = re.compile(r"(?i)1|0|true|false|yes|no|on|off")
# The ENV names the grader supports, and the values each may take.
SUPPORTED_VARIABLES: dict[str, re.Pattern[str]] = {
    "PYTHONDONTWRITEBYTECODE": re.compile(r".+"),
    "PYTHONUNBUFFERED": re.compile(r".+"),
    "PYTHONFAULTHANDLER": re.compile(r".+"),
    "PIP_NO_CACHE_DIR": SWITCH,
    "PIP_DISABLE_PIP_VERSION_CHECK": SWITCH,
    "PIP_ROOT_USER_ACTION": re.compile(r"ignore|warn"),
    "PIP_DEFAULT_TIMEOUT": re.compile(r"[1-9][0-9]{0,3}"),
    "LANG": re.compile(r"C\.UTF-8"),
    "LC_ALL": re.compile(r"C\.UTF-8"),
    "APP_NAME": re.compile(r".+"),
    "DOCS_ENABLED": SWITCH,
}
VARIABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# A word of a shell-form RUN or CMD line: no quotes, variables, globs,
# redirections or other shell syntax, so /bin/sh splits the line at its
# spaces and runs the words as written.
PLAIN_WORD = re.compile(r"[A-Za-z0-9_./:=,+@%-]+")
# pip's options that change neither what it installs nor where.
PIP_QUIET_OPTIONS = frozenset(
    {
        "--no-cache-dir",
        "--disable-pip-version-check",
        "-q",
        "--quiet",
        "--no-input",
        "--root-user-action=ignore",
    }
)
PIP_INSTALL_OPTIONS = PIP_QUIET_OPTIONS | {
    "-U",
    "--upgrade",
    "--no-compile",
    "--prefer-binary",
    "--progress-bar=off",
    "--no-warn-script-location",
}
PIP_OWN_PACKAGES = frozenset({"pip", "setuptools", "wheel"})
USER_NAME = re.compile(r"[a-z_][a-z0-9_-]{0,31}")
# Users and groups of the Debian base image, from base-passwd's passwd.master
# and group.master in bookworm, plus a few that other releases add. useradd
# fails on these names, and Debian keeps the uids below 1000, and 65534.
DEBIAN_ACCOUNTS = frozenset(
    [
        "root",
        "daemon",
        "bin",
        "sys",
        "sync",
        "games",
        "man",
        "lp",
        "mail",
        "news",
        "uucp",
        "proxy",
        "www-data",
        "backup",
        "list",
        "irc",
        "gnats",
        "nobody",
        "_apt",
        "adm",
        "tty",
        "disk",
        "kmem",
        "dialout",
        "fax",
        "voice",
        "cdrom",
        "floppy",
        "tape",
        "sudo",
        "audio",
        "dip",
        "operator",
        "src",
        "shadow",
        "utmp",
        "video",
        "sasl",
        "plugdev",
        "staff",
        "users",
        "nogroup",
        "systemd-journal",
        "systemd-network",
        "systemd-timesync",
        "messagebus",
    ]
)
FIRST_USER_UID = 1000
NOBODY_UID = 65534
USERADD_FLAGS = {
    "-M": "home",
    "--no-create-home": "home",
    "-m": "home",
    "--create-home": "home",
    "-r": "system",
    "--system": "system",
    "-l": "log",
    "--no-log-init": "log",
}
USERADD_VALUES = {
    "-u": "uid",
    "--uid": "uid",
    "-s": "shell",
    "--shell": "shell",
    "-c": "comment",
    "--comment": "comment",
}
ABSOLUTE_PATH = re.compile(r"/[A-Za-z0-9_./-]*")
# useradd rejects a colon in a comment, since /etc/passwd separates fields with it.
COMMENT_WORD = re.compile(r"[A-Za-z0-9_.,@+-]+")
NUMERIC_OWNER = re.compile(r"[0-9]{1,10}(?::[0-9]{1,10})?")
CACHE_TARGETS = frozenset({"/root/.cache", "/root/.cache/pip"})
MOUNT_FIELD = re.compile(r"[a-z]+=[A-Za-z0-9_./-]+")
# The pip and python commands every official Python image has, whatever its
# version: pip3.9 or python3.9 exist only in a Python 3.9 image.
UNVERSIONED_PIP = frozenset({"pip", "pip3"})
UNVERSIONED_PYTHON = frozenset({"python", "python3"})
SUPPORTED_COMMANDS = (
    "pip install -r requirements.txt (also pip3 or python -m pip), "
    "useradd, and chown with a numeric owner"
)
# A port, or a range of them, and its protocol, as EXPOSE takes them.
EXPOSED_PORT = re.compile(
    r"(?P<first>[0-9]{1,5})(?:-(?P<last>[0-9]{1,5}))?(?:/(?:tcp|udp|sctp))?"
)
# Docker's signal names for Linux, without "SIG", and their numbers: SignalMap
# in moby/sys signal/signal_linux.go, which covers every Linux architecture
# but MIPS and SPARC, where some numbers differ.
DOCKER_SIGNALS: dict[str, int] = {
    "HUP": 1,
    "INT": 2,
    "QUIT": 3,
    "ILL": 4,
    "TRAP": 5,
    "ABRT": 6,
    "IOT": 6,
    "BUS": 7,
    "FPE": 8,
    "KILL": 9,
    "USR1": 10,
    "SEGV": 11,
    "USR2": 12,
    "PIPE": 13,
    "ALRM": 14,
    "TERM": 15,
    "STKFLT": 16,
    "CHLD": 17,
    "CLD": 17,
    "CONT": 18,
    "STOP": 19,
    "TSTP": 20,
    "TTIN": 21,
    "TTOU": 22,
    "URG": 23,
    "XCPU": 24,
    "XFSZ": 25,
    "VTALRM": 26,
    "PROF": 27,
    "WINCH": 28,
    "IO": 29,
    "POLL": 29,
    "PWR": 30,
    "SYS": 31,
    "RTMIN": 34,
    **{f"RTMIN+{offset}": 34 + offset for offset in range(1, 16)},
    **{f"RTMAX-{offset}": 64 - offset for offset in range(1, 15)},
    "RTMAX": 64,
}
LINUX_SIGNAL_NUMBERS = range(1, 65)
# The integers Go's strconv.Atoi parses on a 64-bit machine: ASCII digits
# after an optional sign, with no spaces or underscores.
GO_INTEGER = re.compile(r"[+-]?[0-9]+")
GO_INT_RANGE = range(-(2**63), 2**63)
# The line of the starter's requirements.txt for the FastAPI the grader has.
FASTAPI_PIN = f"fastapi=={importlib.metadata.version('fastapi')}"
MAX_CONTEXT_ENTRIES = 2000
MAX_DEPENDENCIES = 200
MAX_IGNORE_PATTERNS = 200
# Go's bufio.MaxScanTokenSize, the buffer of ReadAll's bufio.Scanner, which
# must also hold the \n. A line of this many bytes or more makes it fail with
# "token too long", and Docker stops the build.
MAX_IGNORE_LINE_BYTES = 64 * 1024
DOCKER_FRONTEND_V1 = re.compile(r"(docker\.io/)?docker/dockerfile:1")


class Unsupported(Exception):
    """A part of a Dockerfile the grader does not support, and why."""

    def __init__(self, reason: str, hint: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.hint = hint


@dataclass(frozen=True)
class KeptMode:
    """A file or folder of the image that has the mode of its source, as COPY keeps it.

    `source` is the path in the chapter folder ("." for the folder itself),
    and `uid` and `gid` own it in the image: root's unless --chown gives
    others, or a later RUN chown, `owner_line`, changes them.
    """

    item: Instruction
    source: str
    is_folder: bool
    uid: int
    gid: int
    owner_line: Instruction | None = None


@dataclass
class ImageFiles:
    """The paths the supported lines of a Dockerfile create, as they run.

    `folders` contains what WORKDIR and COPY made, and `files` each file a
    COPY wrote, with the file of the chapter folder (`context`) it came from.
    `kept_modes` contains the image paths whose mode a COPY without --chmod
    took from the chapter folder.
    """

    context: Path
    left_out: tuple[str, ...] = ()
    folder: str = "/"
    folders: set[str] = field(default_factory=set)
    files: dict[str, Path] = field(default_factory=dict)
    kept_modes: dict[str, KeptMode] = field(default_factory=dict)
    user_added: bool = False
    # The uid useradd gives, or None when it gives none.
    added_uid: int | None = None
    user: Instruction | None = None
    python_minor: int | None = None

    def make_folder(self, path: str) -> None:
        """Record `path` and its parents as folders, or raise Unsupported."""
        for parent in (path, *(str(part) for part in PurePosixPath(path).parents)):
            if parent in self.files:
                raise Unsupported(
                    f"{path} would be a folder, but a COPY put a file at {parent}",
                    "Give the file and the folder different names.",
                )
        self.folders.update(
            [path, *(str(part) for part in PurePosixPath(path).parents)]
        )

    def add_file(self, path: str, source: Path) -> None:
        """Record `source` copied to `path`.

        Raises Unsupported where a folder is, or for a path that Python may
        import in place of the app's source.
        """
        reject_importable_file(path)
        if path in self.folders:
            raise Unsupported(
                f"it would copy a file to {path}, which is a folder",
                "Give the file and the folder different names.",
            )
        self.make_folder(posixpath.dirname(path))
        self.files[path] = source

    def keep_mode(
        self,
        path: str,
        owner: tuple[Instruction, int, int] | None,
        source: str,
        *,
        is_folder: bool,
    ) -> None:
        """Record that `path` has the mode of `source`, or forget it under --chmod.

        `owner` is the COPY line with the uid and gid it gives, or None when
        the line has --chmod, which sets a mode that every user can read.
        """
        if owner is None:
            self.kept_modes.pop(path, None)
            return
        item, uid, gid = owner
        self.kept_modes[path] = KeptMode(item, source, is_folder, uid, gid)

    def change_owner(
        self,
        path: str,
        uid: int,
        gid: int | None,
        line: Instruction,
        *,
        recursive: bool,
    ) -> None:
        """Give `path` the owner `uid` and group `gid`, as RUN chown does.

        With `recursive` (chown -R), everything under `path` changes too. A
        `gid` of None keeps each path's group, as `chown UID PATH` does. Only
        paths whose mode COPY kept matter: the others have a mode every user
        can read.
        """
        for kept_path, kept in self.kept_modes.items():
            inside = recursive and PurePosixPath(kept_path).is_relative_to(path)
            if kept_path != path and not inside:
                continue
            self.kept_modes[kept_path] = dataclasses.replace(
                kept,
                uid=uid,
                gid=kept.gid if gid is None else gid,
                owner_line=line,
            )

    def copy_app_folder(self, target: Path) -> None:
        """Copy the files and folders under the final WORKDIR into `target`.

        That is what the container's working folder would contain, as far as
        COPY lines put it there.
        """
        self.copy_under(target, PurePosixPath(self.folder))

    def copy_image(self, root: Path) -> Path:
        """Copy every file and folder the COPY lines make under `root`.

        Returns the final WORKDIR's place under `root`.
        """
        self.copy_under(root, PurePosixPath("/"))
        return root / PurePosixPath(self.folder).relative_to("/")

    def copy_under(self, target: Path, top: PurePosixPath) -> None:
        """Copy the folders and files at or under the image path `top` into `target`."""
        for folder in sorted(self.folders):
            if PurePosixPath(folder).is_relative_to(top):
                (target / PurePosixPath(folder).relative_to(top)).mkdir(
                    parents=True, exist_ok=True
                )
        for path, source in self.files.items():
            if PurePosixPath(path).is_relative_to(top):
                shutil.copyfile(source, target / PurePosixPath(path).relative_to(top))


def reject_importable_file(path: str) -> None:
    """Raise Unsupported for an image path that Python may import as a module.

    Python's import system tries extension modules (EXTENSION_SUFFIXES, such as
    main.cpython-312-x86_64-linux-gnu.so and main.so on Linux, or .pyd on
    Windows) before main.py, then bytecode (.pyc) when there is no source.
    Python 3.12 also loads __pycache__/main.cpython-312.pyc in place of
    main.py when the pyc's header matches main.py or is an unchecked-hash
    pyc. Which of these files an import takes depends on the Python version,
    and the grader's Python need not be the image's.
    """
    reject_bytecode_folder(path)
    name = posixpath.basename(path)
    if name.endswith(BYTECODE_SUFFIX):
        raise Unsupported(
            f"it copies a file to {path}, a bytecode file. Python imports a .pyc "
            "file as a module when no source of that name is beside it, but "
            "only when the same Python version compiled it, and the grader's "
            "Python need not be the image's",
            "Copy the module's .py source instead.",
        )
    if name.endswith(EXTENSION_SUFFIXES):
        raise Unsupported(
            f"it copies a file to {path}, a name Python takes for an extension "
            "module. Python imports an extension module before a .py file of "
            "the same name, and which names it tries depends on its version "
            "(main.cpython-312-x86_64-linux-gnu.so on Python 3.12), so the "
            "image's Python may import it in place of your code while the "
            "grader's ignores it",
            "Copy only the app's .py files. If the app needs a compiled "
            "package, list it in requirements.txt.",
        )


def reject_bytecode_folder(path: str) -> None:
    """Raise Unsupported for an image path in a __pycache__ folder, or of one."""
    if BYTECODE_FOLDER not in PurePosixPath(path).parts:
        return
    raise Unsupported(
        f"it copies to {path}, and Python loads bytecode from a __pycache__ "
        "folder in place of a module's source when the file names its version "
        "(main.cpython-312.pyc for Python 3.12). So the image's Python may run "
        "other code than the grader's Python, whose version may differ",
        "Copy only source files, and nothing into a __pycache__ folder. Do you "
        "need that file at all?",
    )


def expect_supported(found: Dockerfile) -> None:
    """Fail unless the grader supports every line of the Dockerfile.

    The file must have one stage, from an official Python image, and only the
    instructions in SUPPORTED_KEYWORDS. ENV sets SUPPORTED_VARIABLES, WORKDIR
    and COPY stay inside APP_FOLDERS, and RUN lines run SUPPORTED_COMMANDS,
    all before the USER line. requirements.txt names packages the grader has,
    at versions it has.
    """
    folder_path = found.path.parent
    image = model_image(found)
    for name in ("main.py", REQUIREMENTS_FILE):
        expect_in_build_context(folder_path, name)
    expect_supported_requirements(folder_path, image.python_minor)
    expect_syntax_of_image_python(folder_path, image.python_minor)


def model_image(found: Dockerfile) -> ImageFiles:
    """Return the files the Dockerfile's lines make, or fail on an unsupported line."""
    folder_path = found.path.parent
    expect_supported_directives(found)
    image = ImageFiles(folder_path, left_out=found.left_out)
    seen_from = False
    backtick_escape = found.directives.get("escape") == "`"
    for item in found.written:
        try:
            reject_invisible(item)
            if backtick_escape and ("\\" in item.arguments or "`" in item.arguments):
                # The grader splits words as a shell does, with a backslash as
                # the escape character, so it would read this line otherwise.
                raise Unsupported(
                    "after # escape=` Docker takes a backslash as an ordinary "
                    "character and a backtick as the escape character",
                    "Write the line without \\ or `, or delete the # escape=` "
                    "line: this image needs no escape character but for "
                    "continuing a line.",
                )
            if item.keyword not in SUPPORTED_KEYWORDS:
                raise Unsupported(
                    f"{item.keyword} is not an instruction this chapter uses",
                    "The image needs only FROM, WORKDIR, ENV, COPY, RUN, USER, "
                    "EXPOSE and CMD. Can you do without this line?",
                )
            if not seen_from and item.keyword not in ("ARG", "FROM"):
                raise Unsupported(
                    "only ARG may come before the first FROM",
                    "Docker rejects any other instruction there: move it after FROM.",
                )
            if item.keyword == "FROM" and seen_from:
                raise Unsupported(
                    "a second FROM starts another stage",
                    "This chapter's image is one stage: keep one FROM line.",
                )
            if item.keyword == "ARG" and seen_from:
                raise Unsupported(
                    "an ARG after FROM is a variable for the RUN lines",
                    "Build arguments can change how RUN lines run: move the "
                    "ARG before FROM, or write its value where it is used.",
                )
            seen_from = seen_from or item.keyword == "FROM"
            validate_instruction(found, item, image)
        except Unsupported as problem:
            raise unsupported_failure(item, problem) from None
    return image


def unsupported_failure(item: Instruction, problem: Unsupported) -> CheckFailed:
    """Return the failure for a line of the Dockerfile the grader does not support."""
    return CheckFailed(
        "The Dockerfile has a line the grader does not support: "
        f"{problem.reason}. The grader builds no image, so it judges a "
        "Dockerfile only when it supports every line.",
        request=item.describe(),
        expected="only the instructions, commands and options this "
        "chapter's README lists under 'What the grader supports'",
        actual=truncate(escape_invisible(f"{item.keyword} {item.arguments}"), 160),
        hint=problem.hint,
    )


def expect_visible(item: Instruction) -> None:
    """Fail if `item` contains a character that does not show when printed."""
    try:
        reject_invisible(item)
    except Unsupported as problem:
        raise unsupported_failure(item, problem) from None


def reject_invisible(item: Instruction) -> None:
    """Raise Unsupported for the first character of `item` that does not show.

    Python's str.strip() and str.split() take \\x1c to \\x1f for whitespace,
    but BuildKit keeps them, since Go's unicode.IsSpace, with which it trims a
    line, does not. So `USER 10001\\x1f` would read as uid 10001 here, while
    the container looks up a user named "10001\\x1f". BuildKit also splits
    FROM and EXPOSE only at spaces, tabs, \\v, \\f and \\r
    (parseStringsWhitespaceDelimited in frontend/dockerfile/parser/
    line_parsers.go), where str.split() splits at other Unicode spaces too.
    """
    text = f"{item.keyword} {item.arguments}"
    position = next(
        (index for index, character in enumerate(text) if is_invisible(character)),
        None,
    )
    if position is None:
        return
    character = text[position]
    if position:
        where = f'after "{truncate(text[:position], 60)}"'
    else:
        where = "at the start of the line"
    raise Unsupported(
        f"it contains {escape_invisible(character)} (U+{ord(character):04X}), a "
        f"character that does not show when printed, {where}. Docker keeps it "
        "as part of the value, so the image would not get the value you see, "
        "and the build or the container can fail",
        f"Delete the {escape_invisible(character)}: can you retype the line in "
        "plain text? An editor that shows invisible characters helps to find it.",
    )


def expect_supported_directives(found: Dockerfile) -> None:
    """Fail on a directive Docker rejects or the grader does not model.

    Those are a repeated directive, an escape character other than a backslash
    or a backtick, a check directive, and a syntax directive other than
    dockerfile:1.
    """
    syntax = found.directives.get("syntax")
    escape = found.directives.get("escape")
    problem = None
    if found.repeated_directive is not None:
        key = found.repeated_directive
        problem = (
            f"# {key}=... twice",
            f"Docker stops the build when the {key} directive is written more "
            "than once",
        )
    elif escape is not None and escape not in ("\\", "`"):
        problem = (
            f"# escape={escape}",
            "Docker accepts only a backslash or a backtick as the escape "
            "character, and stops the build on any other",
        )
    elif "check" in found.directives:
        problem = (
            f"# check={found.directives['check']}",
            "a check directive can turn Docker's warnings into build errors",
        )
    elif syntax is not None and not DOCKER_FRONTEND_V1.fullmatch(syntax):
        problem = (
            f"# syntax={syntax}",
            "another frontend version may not have every feature the file uses",
        )
    if problem is not None:
        raise CheckFailed(
            f"The Dockerfile's parser directive is one the grader does not "
            f"support: {problem[1]}.",
            request="read the first lines of Dockerfile",
            expected="no parser directive other than # escape, or "
            "# syntax=docker/dockerfile:1",
            actual=escape_invisible(problem[0]),
            hint="Delete the directive: the image needs none.",
        )


def validate_instruction(
    found: Dockerfile, item: Instruction, image: ImageFiles
) -> None:
    """Raise Unsupported for a part of `item` the grader does not support."""
    if item.keyword == "FROM":
        image.python_minor = validate_from(found, item)
    elif item.keyword == "ARG":
        validate_arg(item)
    elif item.keyword == "ENV":
        validate_env(item)
    elif item.keyword == "EXPOSE":
        validate_expose(item)
    elif item.keyword == "WORKDIR":
        validate_workdir(item, image)
    elif item.keyword == "COPY":
        validate_copy(item, image)
    elif item.keyword == "RUN":
        if image.user is not None:
            raise Unsupported(
                f"it comes after {image.user.describe()}, so it runs as that "
                "user, who cannot install packages or add users",
                "Put every RUN line before the USER line.",
            )
        validate_run(item, image)
    elif item.keyword == "USER":
        image.user = item
    elif item.keyword == "STOPSIGNAL":
        validate_stop_signal(item)
    elif item.keyword == "CMD":
        validate_cmd(item)


def validate_from(found: Dockerfile, item: Instruction) -> int | None:
    """Raise Unsupported unless FROM names an official Python image, 3.10 or later.

    Returns the image's Python minor version, or None for the newest.
    """
    words = item.arguments.split()
    if any(word.startswith("--") for word in words):
        raise Unsupported(
            "FROM takes no options here",
            "Write FROM python:3.12-slim, as the starter does.",
        )
    if len(words) not in (1, 3) or (len(words) == 3 and words[1].lower() != "as"):
        raise Unsupported(
            "FROM takes an image, and optionally AS and a stage name",
            "Write FROM python:3.12-slim, as the starter does.",
        )
    if len(words) == 3 and not STAGE_NAME.fullmatch(words[2].lower()):
        raise Unsupported(
            f"the stage name {words[2]} is one Docker rejects: it must start with a "
            "letter and hold only letters, digits, dashes, underscores and dots",
            "Name the stage with letters, such as FROM python:3.12-slim AS app, or "
            "leave AS out.",
        )
    # As written, since Docker rejects an image name with capitals.
    written = from_image(item)[0]
    platforms = platform_arguments_used(written, found.written)
    if platforms:
        raise Unsupported(
            f"{written} uses {' and '.join(platforms)}, which BuildKit sets to "
            "the platform of the build, such as linux/amd64, and the grader "
            "cannot know that platform",
            "Write the image's tag out in full, such as FROM python:3.12-slim.",
        )
    image = expand_arguments(written, found.arguments) or written
    match = PYTHON_IMAGE.fullmatch(image)
    tag = (match.group("tag") or "latest") if match else ""
    patch = PATCH_TAG.fullmatch(tag)
    if match and patch and f"{patch['minor']}{patch['variant'] or ''}" in PYTHON_TAGS:
        raise Unsupported(
            f"{image} names a patch release, and the grader supports only tags "
            "that name a minor version, since it cannot check which patch "
            "releases Docker Hub publishes",
            f"Write FROM python:{patch['minor']}{patch['variant'] or ''}, which is the "
            "newest patch release of that minor version.",
        )
    if tag not in PYTHON_TAGS:
        raise Unsupported(
            f"{image} is not an official Debian-based Python image, 3.10 or later",
            "The grader knows what python:3.12-slim contains (Python, pip, "
            "useradd) and runs your app on Python 3.10 or later: start FROM "
            "python:3.12-slim, or another python:3.X tag from 3.10 on.",
        )
    version = tag.partition("-")[0]
    return int(version.partition(".")[2]) if "." in version else None


def validate_arg(item: Instruction) -> None:
    """Raise Unsupported unless ARG declares NAME or NAME=default words."""
    try:
        words = shlex.split(item.arguments)
    except ValueError:
        raise Unsupported("its quotes do not close", "Close each quote.") from None
    if not words or not all(
        VARIABLE_NAME.fullmatch(word.partition("=")[0]) for word in words
    ):
        raise Unsupported(
            "ARG takes NAME or NAME=default",
            "Write ARG PYTHON_TAG=3.12-slim, for example.",
        )


def validate_env(item: Instruction) -> None:
    """Raise Unsupported unless ENV sets SUPPORTED_VARIABLES to literal values."""
    if any(mark in item.arguments for mark in "$\\"):
        raise Unsupported(
            "its value uses a variable or a backslash",
            "Write the value itself.",
        )
    try:
        words = shlex.split(item.arguments)
    except ValueError:
        raise Unsupported("its quotes do not close", "Close each quote.") from None
    if not words:
        raise Unsupported("it sets nothing", "Delete the empty ENV line.")
    if "=" in words[0]:
        pairs = [word.partition("=")[::2] for word in words]
        if any("=" not in word for word in words):
            raise Unsupported(
                "it mixes NAME=value with other words",
                "Write each variable as NAME=value.",
            )
    else:
        pairs = [(words[0], item.arguments.strip()[len(words[0]) :].strip())]
    for name, value in pairs:
        pattern = SUPPORTED_VARIABLES.get(name)
        if pattern is None:
            raise Unsupported(
                f"{name} is not a variable the grader supports",
                "The grader supports only "
                f"{', '.join(SUPPORTED_VARIABLES)}. Is {name} needed in the image?",
            )
        if not pattern.fullmatch(value):
            raise Unsupported(
                f"{name}={value} is not a value the grader supports",
                f"Use a value that {name} is documented to take, such as "
                f"{'true' if pattern is SWITCH else 'the one in the README'}.",
            )


def validate_expose(item: Instruction) -> None:
    """Raise Unsupported unless EXPOSE lists ports from 1 to 65535."""
    words = item.arguments.split()
    for word in words:
        match = EXPOSED_PORT.fullmatch(word)
        ports = (
            [int(port) for port in match.group("first", "last") if port]
            if match
            else []
        )
        if not ports or not all(1 <= port <= 65535 for port in ports):
            raise Unsupported(
                f"{word} is not a port", "Write the port number: EXPOSE 8000."
            )
        if ports != sorted(ports):
            raise Unsupported(
                f"{word} is a range whose first port comes after its last",
                "Write the lower port first, as in EXPOSE 8000-8001.",
            )
    if not words:
        raise Unsupported("it names no port", "Write the port number: EXPOSE 8000.")


def validate_stop_signal(item: Instruction) -> None:
    """Raise Unsupported unless STOPSIGNAL names a Linux signal as Docker reads it."""
    text = item.arguments.strip()
    hint = (
        f"Write STOPSIGNAL SIGTERM or STOPSIGNAL {DOCKER_SIGNALS['TERM']}, or "
        "delete the line: docker stop sends SIGTERM without it."
    )
    if any(character in text for character in "$\\'\""):
        # Docker expands variables and removes quotes and backslashes first,
        # which the grader does not model for STOPSIGNAL.
        raise Unsupported(
            f"{text} is not a plain signal name or number: the grader reads "
            "STOPSIGNAL without variables, quotes or backslashes",
            hint,
        )
    number = docker_signal_number(text)
    if number is None:
        raise Unsupported(
            f"{text} is not a signal Docker knows, so the build stops: Docker "
            "reads a number only when it is written alone, as in 15, and a name "
            "only from its list of Linux signals, as in SIGTERM or TERM",
            hint,
        )
    if number not in LINUX_SIGNAL_NUMBERS:
        raise Unsupported(
            f"{text} is not a Linux signal number: Docker builds the image, but "
            "Linux signals go from 1 to 64, so docker stop could not send it",
            hint,
        )


def docker_signal_number(text: str) -> int | None:
    """Parse a STOPSIGNAL value as Docker's ParseSignal does, or return None.

    Docker tries the whole text as a Go integer first, so "015" is 15 and
    "SIG15" is no number. Otherwise it upper-cases the text, removes one "SIG"
    prefix and looks the rest up in DOCKER_SIGNALS. 0 is invalid, and any other
    integer is returned as it is, also outside the Linux signals.
    """
    if GO_INTEGER.fullmatch(text):
        number = int(text)
        if number in GO_INT_RANGE:
            return number or None
    # Go's strings.ToUpper maps each character on its own, so "ß" stays one
    # character where Python's str.upper() makes it "SS".
    upper = "".join(
        character.upper() if len(character.upper()) == 1 else character
        for character in text
    )
    return DOCKER_SIGNALS.get(upper.removeprefix("SIG"))


def stop_signal_name(number: int) -> str:
    """Return the first of Docker's names for a Linux signal number, with SIG."""
    for name, known in DOCKER_SIGNALS.items():
        if known == number:
            return f"SIG{name}"
    return f"signal {number}"


def validate_cmd(item: Instruction) -> None:
    """Raise Unsupported unless CMD runs uvicorn by name, with plain words."""
    words = exec_form(item.arguments)
    if words is None and looks_like_list(item.arguments):
        raise Unsupported(NOT_JSON_EFFECT, NOT_JSON_HINT)
    if words is None:
        words = item.arguments.split()
        if words[:1] == ["exec"]:
            words = words[1:]
        for word in words:
            if not PLAIN_WORD.fullmatch(word):
                raise Unsupported(
                    f"{truncate(word, 60)} is shell syntax the grader does not support",
                    'Write the CMD in exec form: CMD ["uvicorn", "main:app", ...].',
                )
    program = words[:1] == ["uvicorn"] or (
        words[:1] in (["python"], ["python3"]) and words[1:3] == UVICORN_MODULE
    )
    if not program:
        raise Unsupported(
            f"CMD runs {show(words[:3])}, not uvicorn by its name",
            "Start with uvicorn or python -m uvicorn, which the image has on "
            'its PATH, as in CMD ["uvicorn", "main:app", ...].',
        )
    # The grader runs the CMD on a Unix socket in place of its port, so it
    # would not see a port uvicorn rejects.
    port = option_value(words, "--port")
    if port is not None and not (port.isdigit() and 1 <= int(port) <= 65535):
        raise Unsupported(
            f"--port {port} is not a port number", 'Write "--port", "8000".'
        )


def validate_workdir(item: Instruction, image: ImageFiles) -> None:
    """Make the WORKDIR folder current, raising Unsupported outside APP_FOLDERS."""
    written = single_word(item.arguments)
    new = posixpath.normpath(posixpath.join(image.folder, written))
    if not written or "$" in written or not inside_app_folders(new):
        raise Unsupported(
            f"{written or 'nothing'} is not a folder under {', '.join(APP_FOLDERS)}",
            "Put the app in a folder of its own, such as WORKDIR /app.",
        )
    image.make_folder(new)
    image.folder = new


def inside_app_folders(path: str) -> bool:
    return any(path == top or path.startswith(top + "/") for top in APP_FOLDERS)


def validate_copy(item: Instruction, image: ImageFiles) -> None:
    """Raise Unsupported unless COPY copies chapter files into APP_FOLDERS."""
    try:
        options, paths = copy_words(item.arguments)
    except ValueError:
        raise Unsupported("its quotes do not close", "Close each quote.") from None
    if len(paths) < 2:
        raise Unsupported(
            "COPY needs at least a source and a destination",
            "Write COPY SOURCE DESTINATION, such as COPY main.py .",
        )

    for source in paths[:-1]:
        reject_url_source(source)
    for option in options:
        name = option.partition("=")[0]
        if name not in ("--chmod", "--chown") and option != "--link":
            raise Unsupported(
                f"{name} is not a COPY option this chapter uses",
                "This chapter's COPY lines copy files of the chapter folder, "
                "with no option or with --chown, --chmod or --link.",
            )
    sources = [
        context_entries(image.context, source, image.left_out) for source in paths[:-1]
    ]
    validate_copy_owner(
        options, any(len(found) > 1 or found[0][1] for found in sources)
    )

    written = paths[-1]
    destination = posixpath.normpath(posixpath.join(image.folder, written))
    if "$" in written or not inside_app_folders(destination):
        raise Unsupported(
            f"it copies to {destination}, outside {', '.join(APP_FOLDERS)}",
            "Copy into the app's folder: WORKDIR /app first, then COPY main.py .",
        )
    reject_bytecode_folder(destination)

    entries = [entry for found in sources for entry in found]
    ends_as_folder = written.endswith("/") or written == "."
    if len(entries) > 1 and not ends_as_folder:
        raise Unsupported(
            "it copies several files to a destination that does not end in /",
            "End the destination with /, as in COPY a.py b.py ./",
        )
    keep = kept_mode_owner(item, options)
    as_folder = ends_as_folder or destination in image.folders
    if not as_folder and not entries[0][1]:
        # One file, copied to the name the destination gives it.
        image.add_file(destination, image.context / entries[0][0])
        image.keep_mode(destination, keep, entries[0][0], is_folder=False)
        return
    for relative, is_folder in entries:
        if is_folder and destination not in image.folders:
            # BuildKit creates the destination with the mode of the first
            # folder copied into it, and leaves a folder that exists alone.
            image.keep_mode(destination, keep, relative, is_folder=True)
        image.make_folder(destination)
        for inside, inside_is_folder in folder_contents(
            image.context, relative, is_folder
        ):
            target = posixpath.normpath(posixpath.join(destination, inside))
            source = posixpath.normpath(posixpath.join(relative, inside))
            if not is_folder:
                source = relative
            if inside_is_folder:
                image.make_folder(target)
            else:
                image.add_file(target, image.context / source)
            # A folder inside a copied one gets its source's mode even where
            # it exists already.
            image.keep_mode(target, keep, source, is_folder=inside_is_folder)


def reject_url_source(source: str) -> None:
    """Raise Unsupported for a COPY source that is a URL.

    BuildKit's Dockerfile frontend (dockerfile2llb) rejects a COPY source that
    starts with http:// or https:// with "source can't be a URL for COPY"
    before it looks in the build context, so a folder named like the URL does
    not help.
    """
    if not is_url(source):
        return
    if source.startswith(("http://", "https://")):
        effect = (
            'BuildKit stops the build with "source can\'t be a URL for COPY", '
            "even when the build context has a folder of that name"
        )
    else:
        effect = (
            "the grader supports no source with ://, since Docker reads some "
            "of them, such as ssh:// and git:// addresses, as git repositories"
        )
    raise Unsupported(
        f"{source} is a URL, and COPY copies only files of the build context: {effect}",
        "Put the files the app needs in the chapter folder and copy them from "
        "there, as in COPY main.py .",
    )


def kept_mode_owner(
    item: Instruction, options: Sequence[str]
) -> tuple[Instruction, int, int] | None:
    """Return the COPY line with the uid and gid that own what it copies.

    None when it has --chmod. Without --chown, root owns the copies. With
    --chown=UID alone, the gid is the uid, as Docker documents for COPY.
    """
    uid = gid = 0
    for option in options:
        name, _, value = option.partition("=")
        if name == "--chmod":
            return None
        if name == "--chown":
            user, _, group = value.partition(":")
            uid = int(user)
            gid = int(group or user)
    return item, uid, gid


def validate_copy_owner(options: Sequence[str], copies_folders: bool) -> None:
    """Raise Unsupported for a --chmod or --chown value that may fail the image."""
    for option in options:
        name, _, value = option.partition("=")
        if name == "--chmod":
            # Folders need the search bit too, or no user can enter them.
            needed = 0o555 if copies_folders else 0o444
            if (
                not re.fullmatch(r"[0-7]{3,4}", value)
                or int(value, 8) & needed != needed
            ):
                raise Unsupported(
                    f"--chmod={value} is not an octal mode every user can read",
                    "Drop --chmod, or give a mode such as 644 for files and 755 "
                    "for folders.",
                )
        elif name == "--chown" and not numeric_owner(value):
            raise Unsupported(
                f"--chown={value} is not a numeric uid, or uid:gid, each at "
                f"most {MAX_UID}",
                "A name must exist in the image when the COPY runs: write "
                "the numbers, as in --chown=10001:10001.",
            )


def context_entries(
    context: Path, source: str, left_out: Sequence[str] = ()
) -> list[tuple[str, bool]]:
    """Return what a COPY source names in the chapter folder: (path, is folder).

    A pattern (* or ?) gives each entry it matches. Raises Unsupported for a
    source outside the folder, or one that names nothing there, which would
    fail the build. Also for one that would bring in a path of `left_out`,
    which the grader's copy of the folder lacks.
    """
    parts = PurePosixPath(source).parts
    if (
        not PLAIN_WORD.fullmatch(source.replace("*", "a").replace("?", "a"))
        or source.startswith("/")
        or ".." in parts
        or "**" in source
    ):
        raise Unsupported(
            f"{source} is not a plain path inside the chapter folder",
            "Name a file or folder of the chapter folder, such as main.py or .",
        )
    name = posixpath.normpath(source)
    unseen = [
        path
        for path in left_out
        if copies_path(name, path) and not dockerignored(context, path)
    ]
    if unseen:
        raise Unsupported(
            f"COPY {source} would bring {unseen[0]} into the image, and the grader "
            "leaves it out of its copy of the chapter folder (it skips caches, "
            "virtual environments, .git, links that lead out and very large "
            "files), so it cannot tell what the image would hold",
            f"List {unseen[0]} in {ignore_file_name(context)}, as most images do "
            "for __pycache__, venv and .git, or copy only what the app needs, "
            "such as COPY main.py .",
        )
    if any(mark in name for mark in "*?"):
        paths = sorted(context.glob(name))
    else:
        paths = [context / name] if (context / name).exists() else []
    kept = [
        path
        for path in paths
        if name == "."
        or not dockerignored(context, path.relative_to(context).as_posix())
    ]
    for path in kept:
        reject_link(context, path)
    entries = [
        (path.relative_to(context).as_posix() or ".", path.is_dir()) for path in kept
    ]
    if paths and not entries:
        ignore_file = ignore_file_name(context)
        first = paths[0].relative_to(context).as_posix()
        raise Unsupported(
            f"{ignore_file} line {ignoring_line(context, first)} leaves {first} "
            f"out of the build context, so COPY {source} would find nothing and "
            "the build would fail",
            f"Which files is {ignore_file} for? Delete or narrow that line, or "
            "take the file back in with a line such as !main.py after it.",
        )
    if not entries:
        hint = (
            f"Options such as {source} go right after COPY, before every path, as "
            f"in COPY {source} main.py ."
            if source.startswith("--")
            else "Is the name spelled as the file is, and not left out by "
            f"{ignore_file_name(context)}?"
        )
        raise Unsupported(
            f"{source} names nothing in the chapter folder, so the build would fail",
            hint,
        )
    return [(path, is_folder or path == ".") for path, is_folder in entries]


def copies_path(source: str, path: str) -> bool:
    """Tell whether COPY `source` brings in `path`, itself or inside a folder.

    `source` may be a pattern, whose * and ? stay within a path's part.
    """
    if source == ".":
        return True
    pattern = PurePosixPath(source).parts
    parts = PurePosixPath(path).parts
    return len(parts) >= len(pattern) and all(
        fnmatch.fnmatchcase(part, wanted)
        for part, wanted in zip(parts, pattern, strict=False)
    )


def folder_contents(
    context: Path, relative: str, is_folder: bool
) -> list[tuple[str, bool]]:
    """Return the paths a COPY of `relative` writes inside its destination.

    A file lands under its own name; a folder's contents land in the
    destination itself, as in Docker.
    """
    if not is_folder:
        return [(posixpath.basename(relative), False)]
    root = context / relative
    found: list[tuple[str, bool]] = []
    for path in root.rglob("*"):
        if len(found) >= MAX_CONTEXT_ENTRIES:
            raise Unsupported(
                f"{relative} has more than {MAX_CONTEXT_ENTRIES} entries",
                "Copy only what the app needs, such as COPY main.py .",
            )
        inside = path.relative_to(root).as_posix()
        if dockerignored(context, path.relative_to(context).as_posix()):
            continue
        reject_link(context, path)
        found.append((inside, path.is_dir()))
    return found


def reject_link(context: Path, path: Path) -> None:
    """Raise Unsupported for a symbolic link: COPY copies the link, not its file.

    The engine's copy contains the file a link leads to, so a path is also a
    link when the engine says it was one.
    """
    relative = path.relative_to(context).as_posix()
    if path.is_symlink() or relative in copied_links():
        raise Unsupported(
            f"{relative} is a symbolic link, which "
            "COPY copies as a link, not as the file it points to",
            "Put the file itself in the chapter folder.",
        )


def validate_run(item: Instruction, image: ImageFiles) -> None:
    """Raise Unsupported unless each command of a RUN line is a supported one."""
    options = RUN_OPTIONS.match(item.arguments)
    option_words = options[0].split() if options else []
    for option in option_words:
        if not cache_mount(option):
            raise Unsupported(
                f"{truncate(option, 80)} is not a RUN option this chapter uses",
                "Drop the option: only --mount=type=cache,target=/root/.cache/pip "
                "is supported.",
            )
    script = item.arguments[options.end() if options else 0 :]
    words = exec_form(script)
    if words is None:
        if not all(
            " " <= character <= "~" or character == "\t" for character in script
        ):
            raise Unsupported(
                "it contains characters other than printable ASCII, spaces and tabs",
                "Write the command in plain ASCII, on one line or continued with "
                "a backslash.",
            )
        words = script.split()
    commands: list[list[str]] = [[]]
    for word in words:
        # In exec form there is no shell, so && is a word like any other.
        if word == "&&" and exec_form(script) is None:
            commands.append([])
        elif PLAIN_WORD.fullmatch(word):
            commands[-1].append(word)
        else:
            raise Unsupported(
                f"{truncate(word, 60)} is shell syntax the grader does not support",
                "Write the commands as plain words joined with &&: no quotes, "
                "variables, patterns, redirections, ; or ||.",
            )
    for command in commands:
        if not command:
            raise Unsupported(
                "an && has no command on one side",
                "Write a command on each side of &&.",
            )
        validate_command(command, image, item)


def cache_mount(option: str) -> bool:
    """Tell whether a RUN option is a cache mount of pip's cache folder."""
    if not option.startswith("--mount="):
        return False
    parts = option.removeprefix("--mount=").split(",")
    # BuildKit reads the fields as CSV of key=value: a quote, or a field
    # without a value, is an error there.
    if any(not MOUNT_FIELD.fullmatch(part) for part in parts):
        return False
    fields = dict(part.partition("=")[::2] for part in parts)
    target = next(
        (fields.pop(key) for key in ("target", "dst", "destination") if key in fields),
        None,
    )
    fields.pop("id", None)
    if fields.pop("sharing", "shared") not in ("shared", "private", "locked"):
        return False
    return fields == {"type": "cache"} and target in CACHE_TARGETS


def validate_command(command: list[str], image: ImageFiles, item: Instruction) -> None:
    """Raise Unsupported unless a RUN line's command is in SUPPORTED_COMMANDS.

    A chown also changes the owner of the paths it names in `image`.
    """
    program, arguments = command[0], command[1:]
    if program in UNVERSIONED_PIP:
        validate_pip(arguments, image.folder)
    elif program in UNVERSIONED_PYTHON and arguments[:2] == ["-m", "pip"]:
        validate_pip(arguments[2:], image.folder)
    elif program == "useradd":
        validate_useradd(arguments, image)
    elif program == "chown":
        validate_chown(arguments, image, item)
    else:
        raise Unsupported(
            f"{truncate(shlex.join(command), 80)} is not a command the grader supports",
            f"RUN lines may run only {SUPPORTED_COMMANDS}. Which of these "
            "does the job?",
        )


def validate_pip(arguments: list[str], folder: str) -> None:
    """Raise Unsupported unless pip installs requirements.txt or its own packages.

    The -r path may be requirements.txt, ./requirements.txt or the absolute
    path of the requirements.txt in `folder`, the RUN's WORKDIR.
    """
    expected_path = posixpath.join(folder, REQUIREMENTS_FILE)

    def is_requirements(path: str) -> bool:
        return posixpath.normpath(posixpath.join(folder, path)) == expected_path

    rest = list(arguments)
    while rest and rest[0] in PIP_QUIET_OPTIONS:
        rest.pop(0)
    if rest[:1] != ["install"]:
        raise Unsupported(
            f"pip {shlex.join(arguments)} is not pip install",
            "pip's only job here is pip install -r requirements.txt.",
        )
    rest = rest[1:]
    while rest:
        word = rest.pop(0)
        if word in PIP_INSTALL_OPTIONS or word in PIP_OWN_PACKAGES:
            continue
        if word in ("-r", "--requirement"):
            if rest and is_requirements(rest[0]):
                rest.pop(0)
                continue
            named = shlex.join([word, *rest[:1]])
            raise Unsupported(
                f"pip install {named} names a file other than {expected_path}, the "
                "requirements.txt in the RUN's WORKDIR",
                f"Copy requirements.txt into WORKDIR {folder} and install it "
                "with pip install --no-cache-dir -r requirements.txt.",
            )
        option, equals, path = word.partition("=")
        if (option == "--requirement" and equals and is_requirements(path)) or (
            word.startswith("-r") and is_requirements(word[2:])
        ):
            continue
        raise Unsupported(
            f"pip install's {word} is not an option or package the grader supports",
            "Install from requirements.txt, with --no-cache-dir if you like: "
            "pip install --no-cache-dir -r requirements.txt. Packages belong in "
            "requirements.txt.",
        )


def validate_useradd(arguments: list[str], image: ImageFiles) -> None:
    """Raise Unsupported unless useradd surely creates one new user.

    One useradd per file, with a name Debian does not use, a uid from 1000 on
    if it gives one, and options that cannot clash.
    """
    hint = (
        "Create one user with a new name and uid, as in useradd --uid 10001 "
        "--no-create-home --shell /usr/sbin/nologin app."
    )
    if image.user_added:
        raise Unsupported("a second useradd", hint)
    image.user_added = True
    names: list[str] = []
    given: dict[str, str] = {}
    rest = list(arguments)
    while rest:
        word = rest.pop(0)
        option, equals, value = word.partition("=")
        if word in USERADD_FLAGS:
            kind, value = USERADD_FLAGS[word], word
        elif option in USERADD_VALUES and (equals or rest):
            kind, value = USERADD_VALUES[option], value if equals else rest.pop(0)
        elif not word.startswith("-") and USER_NAME.fullmatch(word):
            names.append(word)
            continue
        elif not word.startswith("-"):
            raise Unsupported(
                f"useradd's user name {word} is not up to 32 lowercase letters, "
                "digits, _ and -, starting with a letter or _",
                hint,
            )
        else:
            raise Unsupported(
                f"useradd's {word} is not an option the grader supports", hint
            )
        if kind in given and given[kind] != value:
            raise Unsupported(f"useradd's {word} clashes with {given[kind]}", hint)
        given[kind] = value
    uid = given.get("uid")
    problems = [
        len(names) != 1 and "useradd needs one name",
        names[:1] and names[0] in DEBIAN_ACCOUNTS and f"{names[0]} is a Debian account",
        uid is not None
        and not (
            uid.isdigit()
            and FIRST_USER_UID <= int(uid) <= MAX_UID
            and int(uid) != NOBODY_UID
        )
        and f"uid {uid} is not from {FIRST_USER_UID} to {MAX_UID}, or is nobody's",
        "shell" in given
        and not ABSOLUTE_PATH.fullmatch(given["shell"])
        and f"{given['shell']} is not a path",
        "comment" in given
        and not COMMENT_WORD.fullmatch(given["comment"])
        and "the comment is not one word of letters, digits and . , _ @ + -",
    ]
    problem = next((text for text in problems if text), None)
    if problem:
        raise Unsupported(str(problem), hint)
    image.added_uid = int(uid) if uid is not None else None


def numeric_owner(text: str) -> bool:
    """Tell whether `text` is UID or UID:GID in numbers container runtimes accept."""
    return NUMERIC_OWNER.fullmatch(text) is not None and all(
        int(part) <= MAX_UID for part in text.split(":")
    )


def validate_chown(arguments: list[str], image: ImageFiles, item: Instruction) -> None:
    """Raise Unsupported unless the command is chown [-R] UID[:GID] PATH...

    Each path must be one that WORKDIR or COPY made: chown fails on a path
    that does not exist. Then records the new owner of each path, and with -R
    of what is under it, in `image`, for the check that USER can read the copies.
    """
    rest = [word for word in arguments if word not in ("-R", "--recursive")]
    if len(rest) < 2 or not numeric_owner(rest[0]):
        raise Unsupported(
            f"chown {shlex.join(arguments)} is not chown [-R] UID[:GID] PATH, "
            f"with each id at most {MAX_UID}",
            "Write chown -R 10001:10001 /app, or use COPY --chown=10001:10001.",
        )
    for path in rest[1:]:
        target = posixpath.normpath(posixpath.join(image.folder, path))
        if path.startswith("-") or target not in image.folders | image.files.keys():
            raise Unsupported(
                f"chown's {path} is not a folder or file that WORKDIR or COPY made",
                "Change the owner of the app's folder, as in chown -R 10001 /app.",
            )
    user, _, group = rest[0].partition(":")
    recursive = len(rest) < len(arguments)
    for path in rest[1:]:
        target = posixpath.normpath(posixpath.join(image.folder, path))
        image.change_owner(
            target,
            int(user),
            int(group) if group else None,
            item,
            recursive=recursive,
        )


def expect_supported_requirements(folder: Path, minor: int | None) -> None:
    """Fail unless each line of requirements.txt is a package the grader has.

    The grader ran the app with its own packages, so the image must get the
    same: each line names an installed distribution, optionally with extras,
    and a version specifier that its installed version meets. Options,
    markers, paths and URLs could make pip install something else.
    """
    raw_text = read_learner_file(folder / REQUIREMENTS_FILE) or ""
    text = raw_text.removeprefix(BYTE_ORDER_MARK)
    # Without a byte order mark, pip obeys the first coding declaration on
    # the first two lines, split at \n alone.
    first_two = [] if text != raw_text else text.split("\n")[:2]
    declarations = [
        (number, line, codec)
        for number, line in enumerate(first_two, start=1)
        if (codec := declared_codec(line)) is not None
    ]
    for number, raw_line, codec in declarations[:1]:
        if not is_utf8(codec):
            raise CheckFailed(
                f"requirements.txt line {number} declares the encoding {codec}, "
                "so pip would read other lines than the grader.",
                request=f"read {REQUIREMENTS_FILE}",
                expected="a file in UTF-8, with no coding declaration",
                actual=f"line {number}: {truncate(raw_line, 120)}",
                hint="Delete the coding comment and save the file as UTF-8.",
            )
    for number, raw_line in enumerate(text.splitlines(), start=1):
        line = without_comment(raw_line)
        problem = None
        # pip joins a line ending in a backslash to the next, unless it is
        # all comment, and only then drops the comment.
        if raw_line.endswith("\\") and not PIP_COMMENT.match(raw_line):
            problem = "pip joins the next line to a line ending in a backslash"
        elif not line:
            continue
        problem = problem or requirement_problem(line, minor)
        if problem is not None:
            raise CheckFailed(
                f"requirements.txt line {number} could make the image's packages "
                "differ from the ones the grader ran your app with.",
                request=f"read {REQUIREMENTS_FILE}",
                expected=f"lines such as {FASTAPI_PIN}: a package the grader has, "
                "at a version it has",
                actual=f"line {number}: {truncate(raw_line, 120)}: {problem}",
                hint="Pin each package to the version in the starter's "
                "requirements.txt, and write nothing else on the line.",
            )


def read_requirements(path: Path) -> str:
    """Read a requirements file as pip does: UTF-8, less a byte order mark."""
    return (read_learner_file(path) or "").removeprefix(BYTE_ORDER_MARK)


def declared_codec(line: str) -> str | None:
    """Return the codec a requirements file's comment line declares, or None."""
    if not line.startswith("#"):
        return None
    match = PIP_CODING.search(line)
    return match.group(1) if match else None


def without_comment(line: str) -> str:
    """Return a requirements.txt line without its comment, as pip reads it."""
    return re.sub(r"(^|\s)#.*", "", line).strip()


def requirement_problem(line: str, minor: int | None) -> str | None:
    """Return why the grader does not support a requirements line, or None.

    `minor` is the image's Python 3 minor version, None for the newest.
    """
    try:
        requirement = Requirement(line)
    except InvalidRequirement:
        return "not a package name with a version"
    if requirement.url or requirement.marker:
        return "a URL or an environment marker"
    try:
        distribution = importlib.metadata.distribution(requirement.name)
    except importlib.metadata.PackageNotFoundError:
        return f"{requirement.name} is not a package the grader has"
    if not from_package_index(distribution):
        return (
            f"the grader has {requirement.name} from a folder or URL, not from "
            "the package index pip would use"
        )
    if not requirement.specifier.contains(distribution.version, prereleases=True):
        return f"the grader has {requirement.name} {distribution.version}"
    return newer_python_needed(requirement, NEWEST_MINOR if minor is None else minor)


def from_package_index(distribution: importlib.metadata.Distribution) -> bool:
    """Tell whether `distribution` was installed from a package index.

    One installed from a folder or URL records it in direct_url.json, and one
    found outside the Python environment, such as this course's own package
    read from its source folder, was not installed at all.
    """
    if distribution.read_text("direct_url.json") is not None:
        return False
    location = Path(str(distribution.locate_file(""))).resolve()
    prefixes = {Path(sys.prefix).resolve(), Path(sys.base_prefix).resolve()}
    return any(location.is_relative_to(prefix) for prefix in prefixes)


def newer_python_needed(requirement: Requirement, minor: int) -> str | None:
    """Return which package `requirement` brings in that needs a newer Python.

    The packages are those dependency_closure finds with the markers read for
    Python 3.`minor`.
    """
    version = f"3.{minor}"
    environment = {"python_version": version, "python_full_version": f"{version}.0"}
    for distribution in dependency_closure([requirement], environment):
        needs = distribution.metadata["Requires-Python"]
        if needs and not SpecifierSet(needs).contains(version, prereleases=True):
            return (
                f"{distribution.metadata['Name']} {distribution.version} needs "
                f"Python {needs}, and the image has Python {version}"
            )
    return None


def dependency_closure(
    requirements: Sequence[Requirement], environment: Mapping[str, str] | None = None
) -> list[importlib.metadata.Distribution]:
    """Return the installed distributions that `requirements` bring in.

    The walk follows each distribution's own requirements, with their
    markers read for `environment` (this Python when None) and the extras
    asked for, up to MAX_DEPENDENCIES packages. A dependency the grader does
    not have is left out.
    """
    pending = [(item.name, frozenset(item.extras)) for item in requirements]
    seen: set[str] = set()
    found = []
    while pending and len(seen) < MAX_DEPENDENCIES:
        name, extras = pending.pop()
        if canonicalize_name(name) in seen:
            continue
        seen.add(canonicalize_name(name))
        try:
            distribution = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            continue
        found.append(distribution)
        for text in distribution.requires or []:
            try:
                dependency = Requirement(text)
            except InvalidRequirement:
                continue
            marker = dependency.marker
            if marker is None or any(
                marker.evaluate({**(environment or {}), "extra": extra})
                for extra in extras or {""}
            ):
                pending.append((dependency.name, frozenset(dependency.extras)))
    return found


def link_packages(
    distributions: Sequence[importlib.metadata.Distribution], target: Path
) -> None:
    """Fill `target` with links to the files of `distributions`, as a site folder.

    Each file the distribution's RECORD lists inside its site folder gets a
    link, and each package folder its __pycache__, so Python finds the
    compiled modules. Scripts and .pth files are left out.
    """
    folders: dict[Path, Path] = {}
    for distribution in distributions:
        for file in distribution.files or []:
            if (
                file.parts[0] == ".."
                or file.suffix == ".pth"
                or "__pycache__" in file.parts
            ):
                continue
            source = Path(str(distribution.locate_file(file)))
            link = target / file
            if not source.is_file() or link.exists():
                continue
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(source)
            folders[link.parent] = source.parent
    for folder, source in folders.items():
        cache = source / "__pycache__"
        if cache.is_dir() and not (folder / "__pycache__").exists():
            (folder / "__pycache__").symlink_to(cache)


def requirements_of(folder: Path) -> list[Requirement]:
    """Return the package lines of requirements.txt in `folder`.

    A line that is not a plain requirement is left out: the checks on the
    Dockerfile reject it, and it would give the image nothing the grader can
    stand in for.
    """
    found = []
    text = read_requirements(folder / REQUIREMENTS_FILE)
    for raw_line in text.splitlines():
        line = without_comment(raw_line)
        try:
            found.append(Requirement(line))
        except InvalidRequirement:
            continue
    return found


def expect_syntax_of_image_python(folder: Path, minor: int | None) -> None:
    """Fail if main.py uses syntax or a module the image's Python does not have.

    The grader ran the app on its own Python. ast checks the grammar of an
    older version, and the imports are checked against the modules that
    Python versions between the two removed or added. A module imported by
    a name built at run time is not seen.
    """
    source = read_learner_file(folder / "main.py")
    if source is None:
        return
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return
    image = NEWEST_MINOR if minor is None else minor
    expect_image_has_modules(tree, image)
    if image >= sys.version_info.minor:
        return
    try:
        ast.parse(source, feature_version=(3, image))
    except SyntaxError as error:
        raise CheckFailed(
            f"main.py uses syntax that Python 3.{minor}, the image's Python, "
            "does not have, so the container would not start.",
            request="read main.py",
            expected=f"code that Python 3.{minor} can run",
            actual=f"line {error.lineno}: {error.msg}",
            hint="Start FROM the Python version you run the app on, such as "
            f"python:3.{sys.version_info.minor}-slim.",
        ) from None


def expect_image_has_modules(tree: ast.AST, minor: int) -> None:
    """Fail if main.py imports a standard module Python 3.`minor` does not have."""
    grader = sys.version_info.minor
    missing: dict[str, str] = {}
    for version, names in REMOVED_MODULES.items():
        if grader < version <= minor:
            missing |= dict.fromkeys(names, f"removed in Python 3.{version}")
    for version, names in ADDED_MODULES.items():
        if minor < version <= grader:
            missing |= dict.fromkeys(names, f"added in Python 3.{version}")
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            imported = [node.module]
        else:
            continue
        for name in imported:
            top = name.split(".")[0]
            if top in missing:
                raise CheckFailed(
                    f"main.py imports {top}, which the image's Python 3.{minor} "
                    f"does not have ({missing[top]}), so the container would not "
                    "start.",
                    request="read main.py",
                    expected=f"modules that Python 3.{minor} has",
                    actual=f"line {node.lineno}: import of {name}",
                    hint="Start FROM the Python version you run the app on, or "
                    "use a module that both have.",
                )


def describe_keywords(stage: Sequence[Instruction]) -> str:
    return ", ".join(item.keyword for item in stage) or "none"


# --- Rules the static checks apply -----------------------------------------


def option_value(tokens: Sequence[str], name: str) -> str | None:
    """Return the value of `--name value` or `--name=value` in `tokens`.

    Given twice, the last one counts, as in uvicorn's command line. Words are
    read as uvicorn's parser reads them: an option that takes a value takes
    the next word, even one that starts with --, so "--root-path",
    "--host=0.0.0.0" sets the root path and no host.
    """
    value = None
    index = 0
    while index < len(tokens):
        token = tokens[index]
        if token == name:
            value = tokens[index + 1] if index + 1 < len(tokens) else ""
        elif token.startswith(f"{name}="):
            value = token.partition("=")[2]
        index += option_width(token)
    return value


def option_width(token: str) -> int:
    """Return how many words `token` and its value take: 2 for `--port 8000`."""
    return 2 if token in UVICORN_VALUE_OPTIONS else 1


def expect_no_shell_change(found: Dockerfile) -> None:
    """Fail on a SHELL instruction, or an ENV that moves Python's home.

    SHELL changes what every later shell-form RUN runs in, so SHELL
    ["/bin/true"] runs nothing. PYTHONHOME points Python away from its
    library. The grader reads RUN lines as /bin/sh would run them.
    """
    last = len(found.stages) - 1
    for index in found.stage_chain(last):
        for item in found.instructions(index):
            changed = item.keyword == "SHELL" or (
                item.keyword == "ENV"
                and bool(BREAKING_PYTHON_VARIABLES & set(env_names(item.arguments)))
            )
            if changed:
                raise CheckFailed(
                    f"The Dockerfile sets {item.keyword} "
                    f"{truncate(item.arguments, 60)}, which changes how its RUN "
                    "lines or its Python run, so the grader cannot tell what they do.",
                    request=item.describe(),
                    expected="no SHELL instruction, and none of "
                    f"{', '.join(sorted(BREAKING_PYTHON_VARIABLES))}",
                    actual=f"{item.keyword} {truncate(item.arguments, 120)}",
                    hint="This image needs neither: RUN lines run in /bin/sh, and "
                    "python:3.12-slim's Python finds its own library.",
                )


def expect_dependencies_installed(found: Dockerfile) -> Instruction:
    """Return the line that installs requirements.txt, or fail if the image lacks them.

    The packages are missing when no line runs pip install -r requirements.txt,
    and the build fails when a SHELL or ENV changes how that line runs or when
    requirements.txt is not in the folder it runs in.
    """
    install = next(
        (item for item in found.stage if found.installs_dependencies(item)), None
    )
    if install is None:
        run_lines = [
            command
            for item in found.stage
            if item.keyword == "RUN"
            for command in run_commands(item.arguments)
        ]
        commands = [shlex.join(command) for command in run_lines]
        for command in run_lines:
            options = pip_install_options(command)
            if options is None or not names_requirements(options):
                continue
            option = not_installing_option(options)
            if option is not None:
                raise CheckFailed(
                    "The Dockerfile installs no dependencies for the image's "
                    f"Python: pip install -r requirements.txt runs with {option}.",
                    request="read Dockerfile",
                    expected="a RUN line with the command pip install -r "
                    "requirements.txt, without "
                    f"{', '.join(sorted(NOT_INSTALLING_OPTIONS))}",
                    actual=f"the RUN line runs {truncate(shlex.join(command), 120)}",
                    hint=f"Drop {option.partition('=')[0]}: --dry-run and --help "
                    "install nothing, and --user, --target, --prefix and --root "
                    "install where the image's Python does not look (--user goes "
                    "to the build user's home, which the USER that runs the app "
                    "cannot read).",
                )
        raise CheckFailed(
            "The Dockerfile installs no dependencies: no RUN line runs "
            "pip install -r requirements.txt.",
            request="read Dockerfile",
            expected="a RUN line with the command pip install -r requirements.txt "
            "(pip3 and python -m pip count too)",
            actual=f"the RUN lines run the commands {show(commands)}"
            if commands
            else f"no RUN line; instructions: {describe_keywords(found.stage)}",
            hint="How do FastAPI and uvicorn get into the image? Only a command "
            "that runs pip counts, not text that mentions it, such as the "
            "argument of echo.",
        )
    expect_no_shell_change(found)
    expect_requirements_in_image(found, install)
    return install


def expect_requirements_in_image(found: Dockerfile, install: Instruction) -> None:
    """Fail unless requirements.txt is where the installing RUN reads it.

    That is the folder the last WORKDIR before the RUN makes current. A COPY
    of it, or of the whole folder, brings it there when it comes before the
    RUN in its stage or in a stage it is built FROM, and no later COPY puts
    another file there. A RUN --mount of it does too. An install copied from
    another stage is not checked.
    """
    if install.keyword != "RUN":
        return
    expect_in_build_context(found.path.parent, REQUIREMENTS_FILE)
    options = RUN_OPTIONS.match(install.arguments)
    if options is not None and any(
        mounts_requirements(option) for option in options[0].split()
    ):
        return
    last = len(found.stages) - 1
    earlier = [
        item
        for index in reversed(found.stage_chain(last)[1:])
        for item in found.instructions(index)
    ]
    earlier += [item for item in found.instructions(last) if item.line < install.line]
    folder = "/"
    landed: tuple[Instruction, bool] | None = None
    for item in earlier:
        if item.keyword == "WORKDIR":
            folder = posixpath.join(folder, single_word(item.arguments))
            continue
        if item.keyword not in ("COPY", "ADD") or "--from" in item.arguments:
            continue
        for path, is_requirements in copy_writes(item, folder, REQUIREMENTS_FILE):
            if path == posixpath.normpath(posixpath.join(folder, REQUIREMENTS_FILE)):
                landed = (item, is_requirements)
    read_from = posixpath.join(posixpath.normpath(folder), REQUIREMENTS_FILE)
    if landed is not None and landed[1]:
        return
    raise CheckFailed(
        f"requirements.txt is not at {read_from} when pip installs it, so the "
        "build fails: pip reads it from the folder the RUN runs in.",
        request=install.describe(),
        expected=f"COPY requirements.txt . after WORKDIR {posixpath.normpath(folder)}"
        ", before the RUN that installs it",
        actual=f"{landed[0].describe()} puts another file there"
        if landed is not None
        else f"no COPY or ADD puts requirements.txt at {read_from} before "
        f"line {install.line}",
        hint="The build context is not in the image until a COPY puts it "
        "there: which line copies requirements.txt into the RUN's folder?",
    )


def mounts_requirements(option: str) -> bool:
    """Tell whether a RUN option binds the context's requirements.txt, or all of it."""
    if not option.startswith("--mount="):
        return False
    fields = dict(
        part.partition("=")[::2] for part in option.removeprefix("--mount=").split(",")
    )
    if fields.get("type", "bind") != "bind" or "from" in fields:
        return False
    source = fields.get("source", fields.get("src", "."))
    return posixpath.normpath(source).lstrip("/") in (".", REQUIREMENTS_FILE)


def expect_requirements_name(folder: Path, packages: Sequence[str]) -> None:
    """Fail unless requirements.txt, or a file it includes, names `packages`."""
    names: set[str] = set()
    pending = [REQUIREMENTS_FILE]
    seen: set[str] = set()
    while pending and len(seen) < MAX_REQUIREMENT_FILES:
        name = pending.pop()
        # Only files inside the chapter folder, the build's context.
        relative = PurePosixPath(name)
        if name in seen or relative.is_absolute() or ".." in relative.parts:
            continue
        seen.add(name)
        text = read_requirements(folder / name)
        for line in text.splitlines():
            words = line.split("#", 1)[0].split()
            if words[:1] in (["-r"], ["--requirement"]) and len(words) > 1:
                pending.append(words[1])
            elif words and not words[0].startswith("-"):
                match = REQUIREMENT_NAME.match(words[0])
                if match:
                    names.add(re.sub(r"[-_.]+", "-", match.group(0)).lower())
    missing = [package for package in packages if package not in names]
    if missing:
        raise CheckFailed(
            f"requirements.txt does not name {' and '.join(missing)}, so the "
            "image would not have what the CMD runs.",
            request=f"read {REQUIREMENTS_FILE}",
            expected=f"a line for each of {', '.join(packages)}",
            actual=f"names: {', '.join(sorted(names)) or 'none'}",
            hint="`uvicorn main:app` needs uvicorn and FastAPI installed in the "
            "image. Are both in requirements.txt, as the starter gives them?",
        )


def expect_main_py_in_app_folder(found: Dockerfile) -> None:
    """Fail unless a COPY puts main.py in the folder uvicorn imports it from.

    That is the final WORKDIR, or the CMD's --app-dir taken from there.
    """
    placement = found.code_placement()
    if placement is None:
        return
    folder, writes = placement
    try:
        app_dir = option_value(found.cmd_tokens(), "--app-dir")
    except CheckFailed:
        app_dir = None
    if app_dir is not None:
        if "$" in app_dir:
            return
        folder = posixpath.normpath(posixpath.join(folder, app_dir))
    expected_path = posixpath.join(folder, "main.py")
    expect_in_build_context(found.path.parent, "main.py")
    last = next(
        (write for write in reversed(writes) if write[1] == expected_path), None
    )
    if last is not None and last[2]:
        mode = option_value(last[0].arguments.split(), "--chmod")
        if mode is None or not re.fullmatch(r"[0-7]{3,4}", mode):
            return
        if int(mode, 8) & 0o444 == 0o444:
            return
        raise CheckFailed(
            "main.py is copied with a mode that not every user can read, so the "
            "container's USER may not be able to import it.",
            request=last[0].describe(),
            expected="no --chmod, or one that lets every user read (such as 644)",
            actual=f"--chmod={mode}",
            hint="Which users may read a file with that mode?",
        )
    if last is not None:
        raise CheckFailed(
            "A later COPY or ADD puts another file where main.py should be, so "
            "the container would not run your app.",
            request=last[0].describe(),
            expected=f"main.py itself at {expected_path}",
            actual=f"{last[0].describe()} writes {expected_path}",
            hint="Which line copies something else over main.py?",
        )
    places = [(item, path) for item, path, is_main in writes if is_main]
    raise CheckFailed(
        "main.py is not copied to the folder the container starts in, so "
        "`uvicorn main:app` would not find it.",
        request="read Dockerfile",
        expected=f"a COPY that puts main.py at {expected_path}",
        actual="; ".join(
            f"{item.describe()} puts it at {path}" for item, path in places
        )
        or "no COPY brings in main.py",
        hint="Which folder does the last WORKDIR make the current one when the "
        "container starts, and where does your COPY put main.py?",
    )


def expect_user_reads_copies(found: Dockerfile, uid: int, gid: int | None) -> None:
    """Fail if the USER `uid` could not read a file or enter a folder a COPY made.

    COPY without --chmod keeps each file's and folder's mode from the chapter
    folder. Files need read for that user, folders read and search. The
    owner's bits apply to the owner, the group's to a user of that group
    (`gid`, None when the grader cannot tell it), and the others' to the rest.
    """
    image = model_image(found)
    # The engine's copy, which the build context copies, has modes of its own.
    modes = original_modes() or {}
    for path, kept in sorted(image.kept_modes.items()):
        mode = modes.get(kept.source)
        if mode is None:
            mode = stat.S_IMODE((image.context / kept.source).stat().st_mode)
        if uid == kept.uid:
            bits, whose = (mode >> 6) & 0o7, "its owner"
        elif gid is not None and gid == kept.gid:
            bits, whose = (mode >> 3) & 0o7, "its group"
        else:
            bits, whose = mode & 0o7, "users other than its owner and group"
        needed = 0o5 if kept.is_folder else 0o4
        if bits & needed == needed:
            continue
        if kept.is_folder:
            kind, access, fixed_mode, chmod = "folder", "list and enter", "755", "a+rx"
        else:
            kind, access, fixed_mode, chmod = "file", "read", "644", "a+r"
        owner = "root" if kept.uid == 0 else f"uid {kept.uid}"
        ownership = f"{owner} owns it in the image"
        if kept.gid != kept.uid:
            ownership += f", with group {kept.gid}"
        if kept.owner_line is not None:
            ownership += f", after {kept.owner_line.describe()}"
        source = "the chapter folder" if kept.source == "." else kept.source
        named = source if kept.source == "." else f"the {kind} {source}"
        raise CheckFailed(
            f"The container's user (uid {uid}) could not {access} {path}, because "
            f"COPY keeps the mode of {named} ({mode:04o}), which "
            f"does not let {whose} {access} it.",
            request=kept.item.describe(),
            expected=f"a {kind} that uid {uid} may {access}: mode {fixed_mode} in "
            f"the chapter folder, or COPY --chmod={fixed_mode}",
            actual=f"{source} has mode {mode:04o} and {ownership}",
            hint=f"Who may {access} a {kind} with mode {mode:04o} that {owner} "
            f"owns? Run chmod {chmod} {kept.source} in the chapter folder, or "
            f"copy it with COPY --chmod={fixed_mode}.",
        )


def expect_in_build_context(folder: Path, name: str) -> None:
    """Fail if the ignore file leaves the file `name` out of the build context."""
    line = ignoring_line(folder, name)
    if line is not None:
        ignore_file = ignore_file_name(folder)
        raise CheckFailed(
            f"{ignore_file} leaves {name} out of the build context, so no COPY "
            "can bring it into the image.",
            request=f"read {ignore_file}",
            expected=f"no pattern in {ignore_file} that matches {name}",
            actual=f"{name} matches the pattern on line {line}",
            hint=f"{ignore_file} is for files the image does not need: which of "
            f"its lines takes {name} away?",
        )


def ignore_file_name(folder: Path) -> str:
    """Return the name of the ignore file Docker reads in `folder`.

    BuildKit reads Dockerfile.dockerignore, named after the Dockerfile, in
    place of .dockerignore when both are there.
    """
    for name in IGNORE_FILES:
        path = folder / name
        if path.exists() or path.is_symlink():
            return name
    return IGNORE_FILES[-1]


def dockerignored(folder: Path, name: str) -> bool:
    """Tell whether the ignore file in `folder` leaves the path `name` out."""
    return ignoring_line(folder, name) is not None


def ignoring_line(folder: Path, name: str) -> int | None:
    """Return the line of the ignore file that leaves the path `name` out, or None.

    Lines are patterns, matched as Docker does against the path and each of
    its parent folders; the last that matches decides, and one starting with
    `!` takes a path back in.
    """
    parts = PurePosixPath(name).parts
    candidates = ["/".join(parts[:end]) for end in range(1, len(parts) + 1)]
    line = None
    for pattern, keep, number in dockerignore_patterns(folder):
        if pattern is None or any(pattern.fullmatch(path) for path in candidates):
            line = None if keep else number
    return line


@functools.lru_cache(maxsize=4)
def dockerignore_patterns(
    folder: Path,
) -> tuple[tuple[re.Pattern[str] | None, bool, int], ...]:
    """Return the patterns of the ignore file in `folder`: (pattern, keeps, line).

    A pattern is a regular expression, or None for one that matches every
    path. The file is read once per grader run. It fails on a pattern Docker
    would reject, on one the grader cannot read as Docker does, and on more
    than MAX_IGNORE_PATTERNS patterns, because matching each file of the
    folder against them would be slow.
    """
    expect_whole_ignore_file(folder)
    ignore_file = ignore_file_name(folder)
    text = read_learner_file(folder / ignore_file) or ""
    expect_short_ignore_lines(ignore_file, text)
    patterns: list[tuple[re.Pattern[str] | None, bool, int]] = []
    for number, raw_line, read_pattern in ignore_file_patterns(text):
        # New in moby/patternmatcher's patternmatcher.go trims and cleans each
        # pattern again, "!" included, so "!/" from ReadAll becomes "!", which
        # it rejects: "illegal exclusion pattern".
        line = read_pattern.strip(GO_SPACE)
        if not line:
            continue
        line = go_clean(line)
        keep = line.startswith("!")
        if line == "!":
            raise CheckFailed(
                f"{ignore_file} line {number} is a lone !, with no pattern after "
                "it once Docker cleans the path, so Docker would stop the build "
                'there with "illegal exclusion pattern".',
                request=f"read {ignore_file}",
                expected="a pattern after each !, such as !README.md",
                actual=f"line {number}: {truncate(escape_invisible(raw_line), 120)}",
                hint="Which path should the ! on this line take back in? Docker "
                "cleans the path after it first, so !/ is a lone ! too.",
            )
        pattern = line.removeprefix("!")
        try:
            # "." matches no path, because Pattern.match compares it as a
            # string and fsutil's fs.Walk never passes the context root, ".".
            compiled = None if pattern == "**" else ignore_pattern(pattern)
        except re.error:
            raise CheckFailed(
                f"{ignore_file} line {number} is not a valid pattern, so Docker "
                "would stop the build.",
                request=f"read {ignore_file}",
                expected="patterns such as __pycache__ or *.pyc",
                actual=f"line {number}: {truncate(raw_line, 120)}",
                hint="Is every [ closed, with a valid range inside?",
            ) from None
        except UnsupportedPattern as problem:
            raise CheckFailed(
                f"{ignore_file} line {number} has a pattern the grader does not "
                f"support: {problem.reason}. Docker reads it as a Go regular "
                "expression, and the grader cannot tell which files it leaves out.",
                request=f"read {ignore_file}",
                expected="patterns of plain characters, *, ?, ** and sets such as "
                "[a-z], as the README lists",
                actual=f"line {number}: {truncate(raw_line, 120)}",
                hint=problem.hint,
            ) from None
        patterns.append((compiled, keep, number))
        if len(patterns) > MAX_IGNORE_PATTERNS:
            raise CheckFailed(
                f"{ignore_file} has more than {MAX_IGNORE_PATTERNS} patterns.",
                request=f"read {ignore_file}",
                expected=f"at most {MAX_IGNORE_PATTERNS} patterns",
                actual=f"{len(text.splitlines())} lines",
                hint="List only what the image does not need, such as "
                "__pycache__ and .venv.",
            )
    return tuple(patterns)


def expect_whole_ignore_file(folder: Path) -> None:
    """Fail unless the grader can read all of the ignore file Docker reads.

    The engine's copy of the folder lacks a file over its size limit and a
    link that leads out of the folder, and read_learner_file reads only the
    last MAX_LEARNER_FILE bytes of a file.
    """
    for name in IGNORE_FILES:
        path = folder / name
        if name in skipped_paths():
            problem = "was left out of the grader's copy of the chapter folder"
        elif path.is_file() and path.stat().st_size > MAX_LEARNER_FILE:
            problem = f"is larger than {MAX_LEARNER_FILE // 2**20} MB"
        elif path.exists() or path.is_symlink():
            return
        else:
            continue
        raise CheckFailed(
            f"{name} {problem}, so the grader cannot tell which files Docker "
            "leaves out of the build context.",
            request=f"read {name}",
            expected=f"a {name} that is a small file of this folder",
            actual=f"{name} {problem}",
            hint=f"Is {name} a link to a file outside this folder, or very large? "
            "List only what the image does not need, such as __pycache__.",
        )


def expect_short_ignore_lines(ignore_file: str, text: str) -> None:
    """Fail on a line that Docker's line reader rejects as too long."""
    for number, line in enumerate(text.split("\n"), start=1):
        # NOTE: read_learner_file decodes invalid UTF-8 as U+FFFD, three bytes
        # here, so a line with such bytes may count longer than Docker reads it.
        size = len(line.encode("utf-8"))
        if size >= MAX_IGNORE_LINE_BYTES:
            raise CheckFailed(
                f"{ignore_file} line {number} is {size} bytes long, so Docker "
                'would stop the build with "token too long".',
                request=f"read {ignore_file}",
                expected=f"lines shorter than {MAX_IGNORE_LINE_BYTES} bytes",
                actual=f"line {number}: {truncate(escape_invisible(line), 120)}",
                hint="What made this line so long? Docker reads at most "
                f"{MAX_IGNORE_LINE_BYTES - 1} bytes a line, comments included.",
            )


def ignore_file_patterns(text: str) -> list[tuple[int, str, str]]:
    """Read an ignore file's patterns as Docker does: (line number, line, pattern).

    This follows ReadAll in moby/buildkit's
    frontend/dockerfile/dockerignore/dockerignore.go. The test of
    moby/patternmatcher's ignorefile.ReadAll (ignorefile_test.go) expects the
    same "!" handling, where "!" and "! " both give "!". Lines end at \\n,
    less one \\r before it (bufio.ScanLines). A UTF-8 byte order mark is
    dropped from the first line. A line is a comment only when "#" is its
    first character, before any trimming, so " #x" is the pattern "#x". The
    rest is trimmed of Go's white space, a leading "!" is split off, and the
    path after it is trimmed, cleaned and loses one leading "/". The pattern
    keeps its "!", and may be "!" alone.
    """
    found = []
    lines = text.removeprefix(BYTE_ORDER_MARK).split("\n")
    for number, raw_line in enumerate(lines, start=1):
        line = raw_line.removesuffix("\r")
        if line.startswith("#"):
            continue
        pattern = line.strip(GO_SPACE)
        if not pattern:
            continue
        invert = pattern.startswith("!")
        if invert:
            pattern = pattern[1:].strip(GO_SPACE)
        if pattern:
            pattern = go_clean(pattern)
            if len(pattern) > 1 and pattern.startswith("/"):
                pattern = pattern[1:]
        found.append((number, line, "!" + pattern if invert else pattern))
    return found


def go_clean(path: str) -> str:
    """Clean a slash-separated path as Go's path/filepath.Clean does on Linux.

    posixpath.normpath matches it except that it keeps exactly two leading
    slashes, which Go makes one.
    """
    cleaned = posixpath.normpath(path)
    if cleaned.startswith("//"):
        cleaned = "/" + cleaned.lstrip("/")
    return cleaned


class UnsupportedPattern(Exception):
    """A .dockerignore pattern that the grader cannot read as Docker does, and why."""

    def __init__(self, reason: str, hint: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.hint = hint


def ignore_pattern(pattern: str) -> re.Pattern[str]:
    """Compile a cleaned .dockerignore pattern to match paths as Docker does.

    Docker (moby/patternmatcher, Pattern.compile) turns the pattern into a Go
    regular expression. `*` and `?` stay within a folder, and `**` spans
    folders. `.+()|{}$` are escaped, while `[`, `]`, `^` and a backslash with
    the character after it are passed on as they are. So `[!x]` is the set of `!`
    and `x`, since only `^` negates a Go set. Before that, Go's filepath.Match
    must accept the pattern. Raises re.error for a pattern Docker rejects, and
    UnsupportedPattern for Go regular expression syntax that Python's re reads
    differently: a backslash before a letter, a digit or a non-ASCII character
    (`\\w`), `[:` inside a set (`[[:alpha:]]`), and `*` or `?` inside a set.
    """
    parts: list[str] = []
    # Pattern.compile matches a pattern without regular expression syntax by
    # comparing strings: "exact", "prefix" (ends in **) or "suffix" (starts
    # with **).
    kind = "exact"
    index = 0
    while index < len(pattern):
        char = pattern[index]
        if pattern.startswith("**", index):
            starts_pattern = index == 0
            index += 2
            if pattern.startswith("/", index):
                index += 1
            if index < len(pattern):
                # Go writes (.*/)? here, so a**b matches ab and a/x/b, not axb.
                parts.append("(?:.*/)?")
                kind = "regexp"
            elif kind == "exact":
                kind = "prefix"
            else:
                parts.append(".*")
                kind = "regexp"
            if starts_pattern:
                kind = "suffix"
        elif char in "*?":
            parts.append("[^/]*" if char == "*" else "[^/]")
            kind = "regexp"
            index += 1
        elif char == "\\":
            if index + 1 == len(pattern):
                raise re.error(f"trailing backslash in {pattern!r}")
            parts.append(re.escape(plain_escape(pattern[index + 1])))
            kind = "regexp"
            index += 2
        elif char == "[":
            character_set, index = translate_set(pattern, index)
            parts.append(character_set)
            kind = "regexp"
        elif char == "]":
            parts.append(re.escape(char))
            kind = "regexp"
            index += 1
        elif char == "^":
            # A start-of-text anchor in Go and in Python alike.
            parts.append("^")
            index += 1
        else:
            parts.append(re.escape(char))
            index += 1
    return re.compile(pattern_expression(pattern, kind, "".join(parts)))


def pattern_expression(pattern: str, kind: str, regexp: str) -> str:
    """Return the expression to fullmatch for a pattern of the given kind.

    Pattern.match compares strings for the kinds that are not "regexp":
    equality, strings.HasPrefix of the text before the final **, and
    strings.HasSuffix of the text after the leading **, where **/foo also
    matches foo itself.
    """
    if kind == "exact":
        return re.escape(pattern)
    if kind == "prefix":
        return re.escape(pattern[:-2]) + "(?s:.*)"
    if kind == "suffix":
        suffix = pattern[2:]
        if suffix.startswith("/"):
            return "(?:(?s:.*)/)?" + re.escape(suffix[1:])
        return "(?s:.*)" + re.escape(suffix)
    return regexp


def plain_escape(char: str) -> str:
    """Return the escaped character, or raise UnsupportedPattern for a Go escape.

    Go's regexp reads a backslash before ASCII punctuation as that character,
    as Python's re does. Before a letter or a digit it starts a class (\\w,
    \\d, \\pL) or an escape (\\x41, \\Q) that Python reads otherwise or not
    at all, and before a non-ASCII character it is an error.
    """
    if char.isascii() and not char.isalnum():
        return char
    raise UnsupportedPattern(
        f"a backslash before {char!r}",
        f"Docker passes \\{char} to Go's regular expressions, where a backslash "
        "before a letter or a digit names a class or an escape, such as \\w for "
        "any word character. Write the characters themselves, such as main.py, "
        "or a set such as [mM]ain.py.",
    )


def translate_set(pattern: str, index: int) -> tuple[str, int]:
    """Translate the set that starts at pattern[index], a "[", to Python's re.

    Returns the Python set and the index after its "]". The set must be valid
    for Go's filepath.Match, as Docker checks it: "^" first negates, and each
    item is a character or a range a-z, with "-" and "]" escaped when they are
    the character itself. Raises re.error where filepath.Match or Go's regexp
    rejects the set.
    """
    index += 1
    negated = pattern.startswith("^", index)
    if negated:
        index += 1
    items: list[str] = []
    while True:
        if index == len(pattern):
            raise re.error(f"unclosed [ in {pattern!r}")
        if pattern[index] == "]" and items:
            return f"[{'^' if negated else ''}{''.join(items)}]", index + 1
        low, index = set_character(pattern, index)
        high = low
        if pattern.startswith("-", index):
            high, index = set_character(pattern, index + 1)
            if high < low:
                raise re.error(f"range {low}-{high} out of order in {pattern!r}")
        items.append(
            re.escape(low) if high == low else f"{re.escape(low)}-{re.escape(high)}"
        )


def set_character(pattern: str, index: int) -> tuple[str, int]:
    """Read one character of a set at pattern[index], and the index after it."""
    if index == len(pattern) or pattern[index] in "-]":
        raise re.error(f"invalid set in {pattern!r}")
    char = pattern[index]
    if char == "\\":
        if index + 1 == len(pattern):
            raise re.error(f"trailing backslash in {pattern!r}")
        return plain_escape(pattern[index + 1]), index + 2
    if pattern.startswith("[:", index):
        raise UnsupportedPattern(
            "[: inside a set",
            "Docker passes the set to Go's regular expressions, where [:alpha:] "
            "inside [...] is a POSIX class. Write the characters or a range "
            "instead, such as [a-z].",
        )
    if char in "*?":
        raise UnsupportedPattern(
            f"{char} inside a set",
            f"Docker writes {char} inside [...] as [^/], which changes where the "
            "set ends. Write * and ? outside the brackets.",
        )
    return char, index + 1


def run_commands(arguments: str) -> list[list[str]]:
    """Return the simple commands a RUN instruction surely runs, each as its words.

    Shell form is split with shlex at &&, ; and |, `sh -c "..."` is read as
    the commands inside it, and leading VAR=value assignments are dropped.
    Reading stops where running the rest depends on more than the commands
    before succeeding: at ||, & and parentheses, at a shell keyword such as
    if or while, and at exit, return or false.
    NOTE: conditions are not evaluated otherwise, so `test -f x && pip ...`
    counts as a pip command.
    """
    script = RUN_OPTIONS.sub("", arguments, count=1)
    words = exec_form(script)
    commands = [words] if words is not None else shell_commands(script)
    found = []
    for command in commands:
        while command and ENV_ASSIGNMENT.match(command[0]):
            command = command[1:]
        if not command:
            continue
        if command[0] in STOP_WORDS:
            break
        if PurePosixPath(command[0]).name in SHELLS and "-c" in command[1:-1]:
            found.extend(run_commands(command[command.index("-c") + 1]))
        else:
            found.append(command)
    return found


def shell_commands(script: str) -> list[list[str]]:
    """Split a shell command line into its simple commands, each as its words."""
    lexer = shlex.shlex(script, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    try:
        tokens = list(lexer)
    except ValueError:
        # Unbalanced quotes: /bin/sh rejects the line too, so it runs nothing.
        return []
    commands: list[list[str]] = [[]]
    for token in tokens:
        if token in UNCERTAIN_OPERATORS:
            # What follows may not run, and `cmd &` may not finish.
            if token == "&":
                commands.pop()
            break
        if token in SHELL_OPERATORS:
            commands.append([])
        else:
            commands[-1].append(token)
    return [command for command in commands if command]


def pip_install_options(command: Sequence[str]) -> list[str] | None:
    """Return the words after install in a pip install command, or None for others.

    pip may be run as pip, pip3, python -m pip or python3 -m pip.
    """
    program = PurePosixPath(command[0]).name
    if PIP_PROGRAM.fullmatch(program):
        arguments = list(command[1:])
    elif PYTHON_PROGRAM.fullmatch(program) and command[1:3] == ["-m", "pip"]:
        arguments = list(command[3:])
    else:
        return None
    # pip takes general options, such as --no-cache-dir, before its subcommand.
    subcommand = next((word for word in arguments if not word.startswith("-")), None)
    if subcommand != "install":
        return None
    return arguments[arguments.index("install") + 1 :]


def names_requirements(options: Sequence[str]) -> bool:
    """Tell whether pip install's options name requirements.txt with -r."""
    return any(
        PurePosixPath(file).name == REQUIREMENTS_FILE
        for file in requirement_files(options)
    )


def not_installing_option(options: Sequence[str]) -> str | None:
    """Return the first option that keeps pip from installing for the image's Python.

    These install nothing, or install where the image's Python does not look
    (--user goes to the build user's home, which USER cannot read).
    """
    return next(
        (
            option
            for option in options
            if option.partition("=")[0] in NOT_INSTALLING_OPTIONS
        ),
        None,
    )


def installs_requirements(command: Sequence[str]) -> bool:
    """Tell whether `command` is pip install -r requirements.txt."""
    options = pip_install_options(command)
    if options is None or not_installing_option(options) is not None:
        return False
    return names_requirements(options)


def requirement_files(options: Sequence[str]) -> list[str]:
    """Return the files named by -r, -rFILE, --requirement and --requirement=."""
    files = []
    for index, word in enumerate(options):
        if word in ("-r", "--requirement") and index + 1 < len(options):
            files.append(options[index + 1])
        elif word.startswith("--requirement="):
            files.append(word.partition("=")[2])
        elif word.startswith("-r") and not word.startswith("--") and len(word) > 2:
            files.append(word[2:])
    return files


def copies_code(item: Instruction) -> bool:
    """Tell whether a COPY or ADD brings in more than dependency manifests."""
    if item.keyword not in ("COPY", "ADD") or "--from=" in item.arguments:
        return False
    sources = copy_paths(item)[0]
    return any(DEPENDENCY_FILES.search(source) is None for source in sources)
