"""Chapter 11's Dockerfile reader, case by case.

The calibration mutants grade whole Dockerfiles through the grader. These
tests pin down how single constructs are read: ARG values in FROM lines, and
the CMD, USER and ENTRYPOINT a stage inherits from the stage it is built FROM.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import json
import re
import shutil
import signal
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from packaging.requirements import Requirement

from apigrade.checks import MAX_LEARNER_FILE, CheckFailed
from apigrade.server import GRADER_DIR_VARIABLE, SKIPPED_FILE
from tests.conftest import ROOT

sys.path.insert(0, str(ROOT / "graders"))
grader = importlib.import_module("test_11_deployment")
rules = importlib.import_module("chapter11_dockerfile")

SOLUTION_DIR = ROOT / "solutions" / "11_deployment"
SOLUTION = (SOLUTION_DIR / "Dockerfile").read_text()


def read(text: str) -> Any:
    """Read `text` as the Dockerfile of the solution's folder."""
    return rules.read_dockerfile(SOLUTION_DIR / "Dockerfile", text)


@pytest.mark.parametrize(
    ("text", "values", "expected"),
    [
        ("python:${V}-slim", {"V": "3.12"}, "python:3.12-slim"),
        ("python:$V", {"V": "3.12"}, "python:3.12"),
        ("${V}", {}, ""),
        ("${V:-base}", {"V": None}, "base"),
        ("${V:-base}", {"V": ""}, "base"),
        ("${V-base}", {"V": ""}, ""),
        ("${V-base}", {}, "base"),
        ("${V:+set}", {"V": "1"}, "set"),
        ("${V:+set}", {"V": ""}, ""),
        ("${V+set}", {"V": ""}, "set"),
        ("${A:-${B}}", {"B": "b"}, "b"),
        ("${V#3}", {"V": "3.12"}, None),
        ("${V}", {"V": rules.UNREADABLE}, None),
        ("${V:+set}", {"V": rules.UNREADABLE}, None),
        ("${V+set}", {"V": rules.UNREADABLE}, "set"),
    ],
)
def test_expand_arguments(
    text: str, values: dict[str, str | None], expected: str | None
) -> None:
    assert rules.expand_arguments(text, values) == expected


def test_argument_default_uses_earlier_argument() -> None:
    dockerfile = read("ARG A=base\nARG B=${A}-x C\nFROM python\n")
    platforms = dict.fromkeys(rules.PLATFORM_ARGUMENTS, rules.UNREADABLE)
    assert dockerfile.arguments == {**platforms, "A": "base", "B": "base-x", "C": None}


def test_argument_declared_again_keeps_its_value() -> None:
    dockerfile = read("ARG A=base\nARG A TARGETOS\nFROM python\n")
    assert dockerfile.arguments["A"] == "base"
    assert dockerfile.arguments["TARGETOS"] == rules.UNREADABLE


@pytest.mark.parametrize(
    ("text", "used"),
    [
        ("FROM python:3.12-slim${TARGETARCH:+-x}\n", ["TARGETARCH"]),
        ("FROM python:3.12-slim$BUILDOS\n", ["BUILDOS"]),
        ("ARG TARGETOS\nFROM python:3.12-slim${TARGETOS+}\n", ["TARGETOS"]),
        ("ARG V=${TARGETVARIANT}\nFROM python:3.12-slim${V}\n", ["TARGETVARIANT"]),
        (
            "ARG V=-$BUILDARCH$TARGETARCH\nARG W=$V\nFROM python$W\n",
            ["BUILDARCH", "TARGETARCH"],
        ),
        ("ARG TARGETARCH=amd64\nFROM python:3.12-slim${TARGETARCH:+-x}\n", []),
        ("FROM python:3.12-slim\nARG TARGETARCH\n", []),
    ],
)
def test_from_using_platform_argument_fails(text: str, used: list[str]) -> None:
    dockerfile = read(text + 'CMD ["uvicorn", "main:app"]\n')
    assert (
        rules.platform_arguments_used(
            rules.from_image(dockerfile.stage[0])[0], dockerfile.written
        )
        == used
    )
    if not used:
        return
    with pytest.raises(CheckFailed) as failure:
        _ = dockerfile.cmd
    assert f"A FROM line uses {' and '.join(used)}" in failure.value.feedback()
    assert "platform of the build" in failure.value.feedback()


def test_stage_named_through_argument_passes_on_its_entrypoint() -> None:
    text = (
        "ARG STAGE=base\n"
        "FROM python:3.12-slim AS base\n"
        'ENTRYPOINT ["sleep", "infinity"]\n'
        "FROM ${STAGE}\n"
        'CMD ["uvicorn", "main:app"]\n'
    )
    assert read(text).entrypoint.arguments == '["sleep", "infinity"]'


def test_from_ignores_arguments_declared_in_a_stage() -> None:
    text = (
        "FROM python:3.12-slim AS base\n"
        'ENTRYPOINT ["sleep", "infinity"]\n'
        "ARG STAGE=base\n"
        "FROM ${STAGE:-python:3.12-slim}\n"
        'CMD ["uvicorn", "main:app"]\n'
    )
    assert read(text).entrypoint is None


@pytest.mark.parametrize("line", ["FROM ${STAGE#b}", "FROM ${UNSET}", "FROM ${BROKEN}"])
def test_unreadable_from_fails_with_its_line(line: str) -> None:
    text = f'ARG BROKEN=${{X/a/b}}\nFROM python AS base\n{line}\nCMD ["x"]\n'
    with pytest.raises(CheckFailed) as failure:
        _ = read(text).entrypoint
    assert "line 3" in (failure.value.request or "")


@pytest.mark.parametrize(
    ("tokens", "expected"),
    [
        (["uvicorn", "main:app", "--host", "0.0.0.0"], "0.0.0.0"),
        (["uvicorn", "main:app", "--host=1.2.3.4", "--host", "0.0.0.0"], "0.0.0.0"),
        # A tester's bypass: uvicorn takes the word after --root-path as its
        # value, so this CMD listens on 127.0.0.1.
        (
            ["uvicorn", "--host", "127.0.0.1", "--root-path", "--host=0.0.0.0"],
            "127.0.0.1",
        ),
        (["uvicorn", "--root-path", "--host", "0.0.0.0"], None),
    ],
)
def test_option_value_reads_words_as_uvicorn(
    tokens: list[str], expected: str | None
) -> None:
    assert rules.option_value(tokens, "--host") == expected


def test_user_and_cmd_come_from_the_base_stage() -> None:
    text = (
        "FROM python:3.12-slim AS base\n"
        "USER 10001\n"
        'CMD ["uvicorn", "main:app"]\n'
        "FROM base\n"
        "COPY main.py .\n"
    )
    dockerfile = read(text)
    assert dockerfile.user.arguments == "10001"
    assert dockerfile.cmd.arguments == '["uvicorn", "main:app"]'
    # The reader reads every stage, but the checks support one stage only.
    with pytest.raises(CheckFailed, match="a second FROM starts another stage"):
        grader.test_dockerfile_runs_as_non_root(dockerfile)


def test_entrypoint_clears_the_cmd_it_inherits() -> None:
    text = 'FROM python AS base\nCMD ["a"]\nFROM base\nENTRYPOINT []\n'
    assert read(text).cmd is None


@pytest.mark.parametrize("user", ["10001", "10001:10001", "10001:0"])
def test_numeric_user_passes(user: str) -> None:
    grader.test_dockerfile_runs_as_non_root(
        read(SOLUTION.replace("USER 10001", f"USER {user}"))
    )


@pytest.mark.parametrize(
    ("user", "phrase"),
    [
        ("app", "names a user"),
        ("APP:app", "names a user"),
        ("root", "runs as root"),
        ("0", "runs as root"),
        ("000:10001", "runs as root"),
        ("${RUNAS}", "through a variable"),
        ("\N{ARABIC-INDIC DIGIT ONE}", "names a user"),
        ("10001:nosuchgroup", "cannot start with"),
        ("4294967296", "cannot start with"),
        # str.strip() would read these as 10001, 0 and 10001:10001, but
        # Docker keeps the \x1f in the user's name.
        ("10001\x1f", "it contains \\x1f"),
        ("0\x1f", "it contains \\x1f"),
        ("10001:10001\x1f", "it contains \\x1f"),
    ],
)
def test_user_check_says_why_it_refuses_a_user(user: str, phrase: str) -> None:
    with pytest.raises(CheckFailed) as failure:
        grader.test_dockerfile_runs_as_non_root(
            read(SOLUTION.replace("USER 10001", f"USER {user}"))
        )
    assert phrase in failure.value.summary


# Dockerfiles that Docker reads differently from a plain line-by-line reading.
# Each is the solution's Dockerfile with one edit, and the last USER in effect
# for Docker, or None for none.
USER_CASES = [
    ("continued_mid_word", ("USER 10001\n", "USER 10001\nUS\\\nER 0\n"), "0"),
    ("tab_after_keyword", ("USER 10001\n", "USER 10001\nUSER\t0\n"), "0"),
    ("carriage_return_in_comment", ("USER 10001\n", "# user\rUSER 10001\n"), None),
    ("line_separator_in_comment", ("USER 10001\n", "# user\u2028USER 10001\n"), None),
    (
        "word_before_heredoc",
        ("USER 10001\n", "USER 10001\nRUN echo a<<EOF\nUSER 0\n"),
        "0",
    ),
    (
        "heredoc_with_stripped_tabs",
        ("USER 10001\n", "RUN cat <<-EOT\n\tUSER 10001\n\tEOT\n"),
        None,
    ),
    ("line_ends_in_crlf", ("USER 10001\n", "USER 10001\r\n"), "10001"),
    # BuildKit reads no heredoc in an instruction in JSON form, so "<<EOF"
    # there is a path and the lines after it are instructions.
    (
        "heredoc_word_in_json_copy",
        ("USER 10001\n", 'USER 10001\nCOPY ["main.py", "<<EOF"]\nUSER 0\nEOF\n'),
        "0",
    ),
    (
        "heredoc_word_in_json_copy_after_flag",
        (
            "USER 10001\n",
            'USER 10001\nCOPY --chown=1 ["main.py", "<<EOF"]\nUSER 0\nEOF\n',
        ),
        "0",
    ),
    (
        "heredoc_word_in_json_run",
        ("USER 10001\n", 'USER 10001\nRUN ["cat", "<<EOF"]\nUSER 0\nEOF\n'),
        "0",
    ),
]


@pytest.mark.parametrize(
    ("edit", "user"),
    [case[1:] for case in USER_CASES],
    ids=[case[0] for case in USER_CASES],
)
def test_reader_finds_the_user_docker_finds(
    edit: tuple[str, str], user: str | None
) -> None:
    found = read(SOLUTION.replace(*edit)).user
    assert (found.arguments if found else None) == user


def test_directive_after_an_unknown_one_is_ignored() -> None:
    text = "# foo=bar\n# escape=`\nFROM python\nRUN true \\\nUSER 0\n"
    assert read(text).user is None


def test_escape_directive_after_byte_order_mark_counts() -> None:
    text = "\ufeff# escape=`\nFROM python\nRUN true `\nUSER 0\n"
    assert read(text).user is None


def test_cmd_continued_mid_keyword_is_the_last_cmd() -> None:
    text = SOLUTION + 'CM\\\nD ["uvicorn", "main:app", "--reload"]\n'
    assert read(text).cmd.arguments == '["uvicorn", "main:app", "--reload"]'


@pytest.mark.parametrize(
    "line", ["ENV UVICORN_RELOAD=true", "ENV UVICORN_UDS /tmp/app.sock"]
)
def test_uvicorn_variable_in_env_fails_the_cmd(line: str) -> None:
    text = SOLUTION.replace("WORKDIR /app\n", f"WORKDIR /app\n{line}\n")
    with pytest.raises(CheckFailed) as failure:
        read(text).require_cmd()
    assert "UVICORN_" in failure.value.summary


ONBUILD_BASE = (
    "FROM python:3.12-slim AS base\n"
    "USER 10001\n"
    'CMD ["uvicorn", "main:app", "--workers", "2"]\n'
)


@pytest.mark.parametrize(
    ("trigger", "attribute", "arguments"),
    [
        ("ONBUILD USER 0", "user", "0"),
        ('ONBUILD CMD ["uvicorn", "main:app", "--reload"]', "cmd", None),
        ('ONBUILD ENTRYPOINT ["sleep", "infinity"]', "entrypoint", None),
    ],
)
def test_onbuild_trigger_runs_in_child_stage(
    trigger: str, attribute: str, arguments: str | None
) -> None:
    dockerfile = read(f"{ONBUILD_BASE}{trigger}\nFROM base\n")
    found = getattr(dockerfile, attribute)
    assert found.arguments == (arguments or trigger.split(" ", 2)[2])
    # The stage with the ONBUILD line does not run its own trigger.
    assert getattr(read(f"{ONBUILD_BASE}{trigger}\n"), attribute) != found


@pytest.mark.parametrize(
    ("line", "passes"),
    [
        ("STOPSIGNAL SIGTERM", True),
        ("STOPSIGNAL 2", True),
        ("STOPSIGNAL 015", True),
        ("STOPSIGNAL +15", True),
        ("STOPSIGNAL term", True),
        ("STOPSIGNAL sigint", True),
        ("STOPSIGNAL SIGKILL", False),
        ("STOPSIGNAL 9", False),
        ("STOPSIGNAL 10", False),
    ],
)
def test_stop_signal_must_start_a_graceful_shutdown(line: str, passes: bool) -> None:
    text = SOLUTION.replace("EXPOSE 8000\n", f"EXPOSE 8000\n{line}\n")
    if passes:
        grader.test_dockerfile_limits_graceful_shutdown(read(text))
        return
    with pytest.raises(CheckFailed, match="changes the signal docker stop sends"):
        grader.test_dockerfile_limits_graceful_shutdown(read(text))


@pytest.mark.parametrize(
    ("value", "sent"),
    [
        ("015", signal.SIGTERM),
        ("+2", signal.SIGINT),
        ("sigterm", signal.SIGTERM),
        ("KILL", signal.SIGKILL),
        ("6", signal.SIGABRT),
        ("SIG15", signal.SIGTERM),
    ],
)
def test_stop_signal_sent_by_docker_stop(value: str, sent: signal.Signals) -> None:
    text = SOLUTION.replace("EXPOSE 8000\n", f"EXPOSE 8000\nSTOPSIGNAL {value}\n")
    assert grader.docker_stop_signal(read(text)) == sent


@pytest.mark.parametrize(
    ("value", "number"),
    [
        ("15", 15),
        ("015", 15),
        ("+15", 15),
        ("-1", -1),
        ("SIGTERM", 15),
        ("sigterm", 15),
        ("Term", 15),
        ("SIGRTMIN+1", 35),
        ("rtmax-1", 63),
        ("CLD", 17),
        ("0", None),
        ("-0", None),
        ("SIG15", None),
        ("SIGSIGTERM", None),
        ("SIG_IGN", None),
        ("SIG_DFL", None),
        ("SIG_BLOCK", None),
        ("SIG_UNBLOCK", None),
        ("SIG_SETMASK", None),
        ("1_5", None),
        (" 15", None),
        ("\u0661\u0665", None),  # Arabic-Indic digits 1 and 5
        ("99999999999999999999", None),
        ("SIG TERM", None),
    ],
)
def test_docker_signal_number(value: str, number: int | None) -> None:
    assert rules.docker_signal_number(value) == number


@pytest.mark.parametrize(
    ("directive", "passes"),
    [
        ("# syntax=docker/dockerfile:1", True),
        ("# syntax=docker.io/docker/dockerfile:1.7-labs", True),
        ("# syntax=example/frontend:latest", False),
    ],
)
def test_syntax_directive_must_name_dockers_frontend(
    directive: str, passes: bool
) -> None:
    text = f"{directive}\n{SOLUTION}"
    dockerfile = read(text)
    if passes:
        rules.require_dockerfile(dockerfile)
        return
    with pytest.raises(CheckFailed, match="frontend other than Docker's own"):
        rules.require_dockerfile(dockerfile)


@pytest.mark.parametrize(
    ("edit", "passes"),
    [
        (("COPY main.py .", "COPY . ."), True),
        (("COPY main.py .", "COPY main.py /app/main.py"), True),
        (("COPY main.py .", "COPY *.py ./"), True),
        (("WORKDIR /app", "WORKDIR /srv\nWORKDIR app"), True),
        (("COPY main.py .", "COPY main.py /srv/"), False),
        (("COPY main.py .", "COPY main.py code/"), False),
        (('"main:app",', '"main:app", "--app-dir", "/srv",'), False),
    ],
)
def test_main_py_must_land_where_uvicorn_imports_it(
    edit: tuple[str, str], passes: bool
) -> None:
    dockerfile = read(SOLUTION.replace(*edit))
    if passes:
        rules.expect_main_py_in_app_folder(dockerfile)
        return
    with pytest.raises(CheckFailed, match=r"main\.py is not copied to the folder"):
        rules.expect_main_py_in_app_folder(dockerfile)


def test_url_source_writes_nothing_for_copy_only() -> None:
    # BuildKit stops the build on COPY of a URL, so main.py is not replaced.
    # ADD fetches the URL and writes main.py over the app.
    copy = read(
        SOLUTION.replace("COPY main.py .", "COPY main.py .\nCOPY http://x/main.py .")
    )
    rules.expect_main_py_in_app_folder(copy)
    add = read(
        SOLUTION.replace("COPY main.py .", "COPY main.py .\nADD http://x/main.py .")
    )
    with pytest.raises(CheckFailed, match="A later COPY or ADD puts another file"):
        rules.expect_main_py_in_app_folder(add)


def test_requirements_must_be_copied_before_the_install() -> None:
    found = read(SOLUTION.replace("COPY requirements.txt .\n", ""))
    install = next(item for item in found.stage if found.installs_dependencies(item))
    with pytest.raises(
        CheckFailed, match=r"is not at /app/requirements\.txt when pip installs it"
    ):
        rules.expect_requirements_in_image(found, install)
    mounted = SOLUTION.replace("COPY requirements.txt .\n", "").replace(
        "RUN pip", "RUN --mount=type=bind,source=requirements.txt,target=r.txt pip"
    )
    found = read(mounted)
    install = next(item for item in found.stage if found.installs_dependencies(item))
    rules.expect_requirements_in_image(found, install)


@pytest.mark.parametrize(
    ("option", "named"),
    [("--user", "--user"), ("--target=/opt/deps", "--target=/opt/deps"), ("-h", "-h")],
)
def test_install_for_another_place_names_its_option(option: str, named: str) -> None:
    """pip install with --user and the like reports the option, not a missing line."""
    found = read(SOLUTION.replace("pip install", f"pip install {option}"))

    with pytest.raises(CheckFailed) as failure:
        rules.expect_dependencies_installed(found)

    feedback = failure.value.feedback()
    assert f"runs with {named}." in feedback
    assert f"Drop {named.partition('=')[0]}:" in feedback


def test_missing_install_says_no_line_runs_pip() -> None:
    found = read(SOLUTION.replace("RUN pip install", "RUN pip download"))

    with pytest.raises(CheckFailed, match="no RUN line runs pip install"):
        rules.expect_dependencies_installed(found)


@pytest.mark.parametrize(
    ("files", "missing"),
    [
        ({"requirements.txt": "fastapi==1\nuvicorn[standard]==2\n"}, None),
        ({"requirements.txt": "-r base.txt\nfastapi\n", "base.txt": "Uvicorn\n"}, None),
        ({"requirements.txt": "fastapi==1\n# uvicorn==2\n"}, "uvicorn"),
        ({"requirements.txt": "-r ../outside.txt\nfastapi\n"}, "uvicorn"),
        ({}, "fastapi and uvicorn"),
    ],
)
def test_requirements_must_name_what_the_cmd_runs(
    tmp_path: Path, files: dict[str, str], missing: str | None
) -> None:
    (tmp_path / "outside.txt").write_text("uvicorn\n")
    folder = tmp_path / "chapter"
    folder.mkdir()
    for name, text in files.items():
        (folder / name).write_text(text)
    if missing is None:
        rules.expect_requirements_name(folder, ("fastapi", "uvicorn"))
        return
    with pytest.raises(CheckFailed, match=f"does not name {missing}"):
        rules.expect_requirements_name(folder, ("fastapi", "uvicorn"))


# A tester's Dockerfiles whose images would not work, each the solution with
# one edit, and the check that must refuse it.
BROKEN_IMAGES = [
    (
        "pip_only_if_true_fails",
        ("RUN pip install", "RUN true || pip install"),
        "test_dockerfile_installs_dependencies_first",
    ),
    (
        "exit_before_pip",
        ("RUN pip install", "RUN exit 0; pip install"),
        "test_dockerfile_installs_dependencies_first",
    ),
    (
        "pip_dry_run",
        ("pip install --no-cache-dir", "pip install --dry-run"),
        "test_dockerfile_installs_dependencies_first",
    ),
    (
        "mount_of_another_file",
        (
            "COPY requirements.txt .\nRUN pip",
            "RUN --mount=type=bind,source=fake.txt,target=requirements.txt pip",
        ),
        "test_dockerfile_installs_dependencies_first",
    ),
    (
        "workdir_from_variable",
        ("COPY main.py .\n", "COPY main.py .\nENV D=/elsewhere\nWORKDIR $D\n"),
        "test_dockerfile_installs_dependencies_first",
    ),
    (
        "later_copy_over_main_py",
        ("COPY main.py .\n", "COPY main.py .\nCOPY broken.py main.py\n"),
        "test_dockerfile_installs_dependencies_first",
    ),
    (
        "add_over_main_py",
        (
            "COPY main.py .\n",
            "COPY main.py .\nADD https://example.invalid/broken.py main.py\n",
        ),
        "test_dockerfile_installs_dependencies_first",
    ),
    (
        "workers_given_again",
        ('"--workers", "4",', '"--workers", "4", "--workers", "1",'),
        "test_production_command_option_values",
    ),
    (
        "graceful_limit_given_again",
        ('"8"]', '"8", "--timeout-graceful-shutdown=60"]'),
        "test_dockerfile_limits_graceful_shutdown",
    ),
    (
        "shell_that_runs_nothing",
        ("RUN pip install", 'SHELL ["/bin/true"]\nRUN pip install'),
        "test_dockerfile_installs_dependencies_first",
    ),
    (
        "install_without_network",
        ("RUN pip install", "RUN --network=none pip install"),
        "test_dockerfile_installs_dependencies_first",
    ),
    (
        "install_into_another_folder",
        ("pip install --no-cache-dir", "pip install --target /nowhere"),
        "test_dockerfile_installs_dependencies_first",
    ),
    (
        "main_py_unreadable",
        ("COPY main.py .", "COPY --chmod=000 main.py ."),
        "test_dockerfile_installs_dependencies_first",
    ),
    (
        "main_py_excluded",
        ("COPY main.py .", "COPY --exclude=main.py . ."),
        "test_dockerfile_installs_dependencies_first",
    ),
    (
        "python_home_moved",
        ("WORKDIR /app\n", "WORKDIR /app\nENV PYTHONHOME=/nowhere\n"),
        "test_dockerfile_installs_dependencies_first",
    ),
    (
        "hash_seed_python_refuses",
        ("WORKDIR /app\n", "WORKDIR /app\nENV PYTHONHASHSEED=bogus\n"),
        "test_dockerfile_installs_dependencies_first",
    ),
    (
        "port_docker_run_does_not_forward",
        ('"--port", "8000"', '"--port", "1"'),
        "test_dockerfile_binds_all_interfaces",
    ),
    (
        "unix_socket_in_cmd",
        ('"8"]', '"8", "--uds", "/tmp/x.sock"]'),
        "test_dockerfile_binds_all_interfaces",
    ),
]


@pytest.mark.parametrize(
    ("edit", "check"),
    [case[1:] for case in BROKEN_IMAGES],
    ids=[case[0] for case in BROKEN_IMAGES],
)
def test_broken_image_fails_its_check(
    tmp_path: Path, edit: tuple[str, str], check: str
) -> None:
    assert edit[0] in SOLUTION
    folder = tmp_path / "11_deployment"
    shutil.copytree(ROOT / "solutions" / "11_deployment", folder)
    path = folder / "Dockerfile"
    path.write_text(SOLUTION.replace(*edit))
    dockerfile = rules.read_dockerfile(path, path.read_text())
    if check == "test_production_command_option_values":
        assert rules.option_value(dockerfile.cmd_tokens(), "--workers") == "1"
        return
    with pytest.raises(CheckFailed):
        getattr(grader, check)(dockerfile)


@pytest.mark.parametrize("ignore_file", [".dockerignore", "Dockerfile.dockerignore"])
@pytest.mark.parametrize(
    "ignore",
    [
        "main.py",
        "*.py",
        "*\n!Dockerfile",
        # Docker drops a byte order mark, and reads " #" as a pattern.
        "\ufeffmain.py",
        " #/../main.py",
    ],
)
def test_dockerignore_that_drops_main_py_fails(
    tmp_path: Path, ignore: str, ignore_file: str
) -> None:
    folder = tmp_path / "11_deployment"
    shutil.copytree(ROOT / "solutions" / "11_deployment", folder)
    (folder / ignore_file).write_text(ignore + "\n")
    path = folder / "Dockerfile"
    dockerfile = rules.read_dockerfile(path, path.read_text())
    with pytest.raises(CheckFailed, match=rf"^{re.escape(ignore_file)} leaves"):
        grader.test_dockerfile_installs_dependencies_first(dockerfile)


def test_dockerfile_named_ignore_file_replaces_the_other(tmp_path: Path) -> None:
    folder = tmp_path / "11_deployment"
    shutil.copytree(ROOT / "solutions" / "11_deployment", folder)
    (folder / ".dockerignore").write_text("main.py\n")
    (folder / "Dockerfile.dockerignore").write_text("__pycache__\n")
    path = folder / "Dockerfile"
    dockerfile = rules.read_dockerfile(path, path.read_text())
    for check in STATIC_CHECKS:
        getattr(grader, check)(dockerfile)


def test_solution_dockerfile_passes_its_static_checks() -> None:
    path = ROOT / "solutions" / "11_deployment" / "Dockerfile"
    dockerfile = rules.read_dockerfile(path, path.read_text())
    for check in (
        "test_dockerfile_installs_dependencies_first",
        "test_dockerfile_binds_all_interfaces",
        "test_dockerfile_limits_graceful_shutdown",
        "test_dockerfile_runs_as_non_root",
        "test_dockerfile_cmd_in_exec_form",
        "test_dockerfile_has_no_reload",
    ):
        getattr(grader, check)(dockerfile)


def test_deeply_nested_variable_is_refused_at_once() -> None:
    # A tester's FROM line, 50000 variables deep, kept the reader busy for
    # minutes before the limits.
    text = "${X:-" * 50000 + "python:3.12-slim" + "}" * 50000
    assert rules.expand_arguments(text, {"X": None}) is None


STATIC_CHECKS = (
    "test_dockerfile_installs_dependencies_first",
    "test_dockerfile_binds_all_interfaces",
    "test_dockerfile_limits_graceful_shutdown",
    "test_dockerfile_runs_as_non_root",
    "test_dockerfile_cmd_in_exec_form",
    "test_dockerfile_has_no_reload",
)


def chapter_with(tmp_path: Path, edits: dict[str, tuple[str, str]]) -> Any:
    """Copy the solution, apply `edits` (file: (old, new)), and read its Dockerfile."""
    folder = tmp_path / "11_deployment"
    shutil.copytree(ROOT / "solutions" / "11_deployment", folder)
    for name, (old, new) in edits.items():
        path = folder / name
        text = path.read_text()
        assert old in text, (name, old)
        path.write_text(text.replace(old, new))
    path = folder / "Dockerfile"
    return rules.read_dockerfile(path, path.read_text())


# Dockerfiles a learner may write that the grader supports: each passes every
# static check, as the solution does.
SUPPORTED = {
    "solution": {},
    "pip_cache_mount": {
        "Dockerfile": ("RUN pip", "RUN --mount=type=cache,target=/root/.cache/pip pip")
    },
    "pip_upgraded_first": {
        "Dockerfile": ("RUN pip", "RUN python -m pip install --upgrade pip && pip")
    },
    "run_in_exec_form": {
        "Dockerfile": (
            "RUN pip install --no-cache-dir -r requirements.txt",
            'RUN ["pip", "install", "--no-cache-dir", "-r", "requirements.txt"]',
        )
    },
    "owner_of_app_folder": {
        "Dockerfile": (
            "RUN useradd --uid 10001 --no-create-home --shell /usr/sbin/nologin app\n"
            "USER 10001",
            "RUN useradd -r -u 10001 -m app && chown -R 10001:10001 /app\n"
            "USER 10001:10001",
        )
    },
    "newer_python_and_settings": {
        "Dockerfile": (
            "FROM python:3.12-slim\n",
            "FROM python:3.13-slim-bookworm AS app\nEXPOSE 8000/tcp 9000-9001\n"
            'ENV PIP_DISABLE_PIP_VERSION_CHECK=on APP_NAME="My service"\n',
        )
    },
    "copy_with_owner": {
        "Dockerfile": (
            "COPY main.py .",
            "COPY --chown=10001:10001 --chmod=644 main.py .",
        )
    },
    "requirements_with_extras": {
        "requirements.txt": ("uvicorn==0.54.0", "Uvicorn[standard]>=0.54,<1")
    },
    "requirements_with_byte_order_mark": {
        "requirements.txt": ("fastapi", "\ufefffastapi")
    },
    "comment_ending_in_backslash": {
        "requirements.txt": ("fastapi", "# pinned below \\\nfastapi")
    },
    "requirements_named_with_dot": {
        "Dockerfile": ("-r requirements.txt", "-r ./requirements.txt")
    },
    "requirements_named_by_absolute_path": {
        "Dockerfile": ("-r requirements.txt", "--upgrade -r /app/requirements.txt")
    },
}


def chapter_lacking(tmp_path: Path, copy: str, ignore: str | None) -> Any:
    """Return the solution with COPY `copy`, whose copy lacks its venv and cache."""
    dockerfile = chapter_with(tmp_path, {"Dockerfile": ("COPY main.py .", copy)})
    if ignore is not None:
        (dockerfile.path.parent / ".dockerignore").write_text(ignore)
    return rules.read_dockerfile(
        dockerfile.path,
        dockerfile.path.read_text(),
        left_out=("venv", "pkg/__pycache__"),
    )


@pytest.mark.parametrize(
    ("copy", "unseen"),
    [("COPY . .", "venv"), ("COPY * ./", "venv"), ("COPY venv/ ./", "venv")],
)
def test_copy_of_what_the_grader_lacks_fails(
    tmp_path: Path, copy: str, unseen: str
) -> None:
    # A tester's bypass: venv/main.py, which the grader's copy leaves out,
    # would replace the app in the image after COPY . .
    dockerfile = chapter_lacking(tmp_path, copy, None)
    with pytest.raises(CheckFailed) as failure:
        rules.expect_supported(dockerfile)
    assert f"would bring {unseen} into the image" in failure.value.feedback()


@pytest.mark.parametrize(
    ("copy", "ignore"),
    [("COPY . .", "venv\n**/__pycache__\n"), ("COPY main.py ./", None)],
)
def test_ignored_left_out_path_passes(
    tmp_path: Path, copy: str, ignore: str | None
) -> None:
    rules.expect_supported(chapter_lacking(tmp_path, copy, ignore))


@pytest.mark.parametrize("edits", SUPPORTED.values(), ids=SUPPORTED.keys())
def test_supported_dockerfile_passes_static_checks(
    tmp_path: Path, edits: dict[str, tuple[str, str]]
) -> None:
    dockerfile = chapter_with(tmp_path, edits)
    for check in STATIC_CHECKS:
        getattr(grader, check)(dockerfile)


# Dockerfiles whose image the grader cannot tell from the text, most of them
# from hostile testers; each fails every static check, naming its problem.
UNSUPPORTED = {
    "file_removed_after_copy": (
        ("USER 10001", "RUN rm main.py\nUSER 10001"),
        "rm main.py is not a command",
    ),
    "package_uninstalled": (
        ("USER 10001", "RUN pip uninstall -y uvicorn\nUSER 10001"),
        "is not pip install",
    ),
    "path_without_python": (
        ("WORKDIR /app\n", "WORKDIR /app\nENV PATH=/nowhere\n"),
        "PATH",
    ),
    "pip_target_variable": (
        ("WORKDIR /app\n", "WORKDIR /app\nENV PIP_TARGET=/tmp\n"),
        "PIP_TARGET is not a variable",
    ),
    "bad_encoding": (
        ("WORKDIR /app\n", "WORKDIR /app\nENV PYTHONIOENCODING=bogus\n"),
        "PYTHONIOENCODING",
    ),
    "docs_switch_unreadable": (
        ("WORKDIR /app\n", "WORKDIR /app\nENV DOCS_ENABLED=maybe\n"),
        "DOCS_ENABLED=maybe is not a value",
    ),
    "argument_in_stage": (
        ("WORKDIR /app\n", "WORKDIR /app\nARG PIP_PREFIX=/tmp\n"),
        "an ARG after FROM",
    ),
    "old_python": (("python:3.12-slim", "python:3.9-slim"), "is not an official"),
    # BuildKit sets TARGETARCH without an ARG line.
    "python_tag_from_platform": (
        ("python:3.12-slim", "python:3.12-slim${TARGETARCH:+-nosuchvariant}"),
        "uses TARGETARCH, which BuildKit sets to the platform of the build",
    ),
    "alpine_python": (("python:3.12-slim", "python:3.12-alpine"), "is not an official"),
    "other_image": (("python:3.12-slim", "debian:bookworm"), "is not an official"),
    "capital_image_name": (
        ("python:3.12-slim", "Python:3.12-slim"),
        "is not an official",
    ),
    "image_by_digest": (
        ("python:3.12-slim", "python:3.12-slim@sha256:" + "0" * 64),
        "is not an official",
    ),
    "platform_option": (
        ("FROM python", "FROM --platform=linux/arm64 python"),
        "FROM takes no options",
    ),
    "instruction_before_from": (
        ("FROM python", "RUN true\nFROM python"),
        "only ARG may come before",
    ),
    "second_stage": (
        ("EXPOSE 8000", "FROM python:3.12-slim\nEXPOSE 8000"),
        "a second FROM",
    ),
    "add_instead_of_copy": (("COPY main.py .", "ADD main.py ."), "ADD is not"),
    "shell_changed": (("RUN pip", 'SHELL ["/bin/true"]\nRUN pip'), "SHELL is not"),
    "healthcheck_that_kills": (
        ("EXPOSE 8000", "HEALTHCHECK CMD kill 1\nEXPOSE 8000"),
        "HEALTHCHECK is not",
    ),
    "onbuild_trigger": (("EXPOSE 8000", "ONBUILD RUN true\nEXPOSE 8000"), "ONBUILD"),
    "or_operator": (("RUN pip install", "RUN true || pip install"), "|| is shell"),
    "exit_first": (("RUN pip install", "RUN exit 0; pip install"), "0; is shell"),
    "pipe": (("-r requirements.txt", "-r requirements.txt | true"), "| is shell"),
    "variable_in_run": (("RUN pip install", "RUN $PIP install"), "$PIP is shell"),
    "quoted_words": (("-r requirements.txt", '-r "requirements.txt"'), "is shell"),
    "heredoc_run": (
        ("RUN pip install --no-cache-dir -r requirements.txt", "RUN <<EOF\ntrue\nEOF"),
        "<<EOF is shell",
    ),
    "echoed_install": (("RUN pip", "RUN echo pip"), "echo pip install"),
    "dry_run": (("--no-cache-dir -r", "--dry-run -r"), "--dry-run is not"),
    "install_elsewhere": (("--no-cache-dir -r", "--target /x -r"), "--target is not"),
    "old_uvicorn_in_run": (("--no-cache-dir -r", "uvicorn==0.1 -r"), "uvicorn==0.1"),
    "another_requirements_file": (
        ("-r requirements.txt", "-r fake.txt"),
        "pip install -r fake.txt names a file other than",
    ),
    "pip_of_another_python": (
        ("RUN pip install", "RUN pip3.9 install"),
        "pip3.9 install",
    ),
    "python_of_another_version": (
        ("RUN pip install", "RUN python3.9 -m pip install"),
        "python3.9 -m pip",
    ),
    "cache_sharing_unknown": (
        ("RUN pip", "RUN --mount=type=cache,target=/root/.cache/pip,sharing=bogus pip"),
        "sharing=bogus",
    ),
    "cache_field_without_value": (
        ("RUN pip", "RUN --mount=type=cache,target=/root/.cache/pip,sharing pip"),
        "--mount=type=cache",
    ),
    "cache_field_with_quote": (
        ("RUN pip", 'RUN --mount=type=cache,target=/root/.cache/pip,id=a"b pip'),
        "--mount=type=cache",
    ),
    "exec_form_and_and": (
        (
            "RUN pip install --no-cache-dir -r requirements.txt",
            'RUN ["pip", "install", "-r", "requirements.txt", "&&", "true"]',
        ),
        "&& is shell syntax",
    ),
    "no_network": (("RUN pip", "RUN --network=none pip"), "--network=none"),
    "bind_mount_of_another_file": (
        (
            "RUN pip",
            "RUN --mount=type=bind,source=fake.txt,target=requirements.txt pip",
        ),
        "--mount=type=bind",
    ),
    "cache_over_site_packages": (
        ("RUN pip", "RUN --mount=type=cache,target=/usr/local/lib/python3.12 pip"),
        "--mount=type=cache",
    ),
    "duplicate_uid_zero": (
        ("useradd --uid 10001", "useradd --non-unique --uid 0"),
        "--non-unique is not an option",
    ),
    "home_in_app_folder": (
        ("useradd --uid 10001", "useradd --home-dir /app --uid 10001"),
        "--home-dir is not an option",
    ),
    "apt_get": (
        (
            "WORKDIR /app\n",
            "WORKDIR /app\nRUN apt-get update && apt-get install -y curl\n",
        ),
        "apt-get update is not a command",
    ),
    "label": (("EXPOSE 8000", "LABEL version\nEXPOSE 8000"), "LABEL is not"),
    "port_not_a_number": (("EXPOSE 8000", "EXPOSE http"), "http is not a port"),
    "port_out_of_range": (("EXPOSE 8000", "EXPOSE 70000"), "70000 is not a port"),
    "signal_unknown": (
        ("EXPOSE 8000", "STOPSIGNAL FOO\nEXPOSE 8000"),
        "FOO is not a signal Docker knows",
    ),
    "signal_number_with_prefix": (
        ("EXPOSE 8000", "STOPSIGNAL SIG15\nEXPOSE 8000"),
        "SIG15 is not a signal Docker knows",
    ),
    "signal_handler_constant": (
        ("EXPOSE 8000", "STOPSIGNAL SIG_IGN\nEXPOSE 8000"),
        "SIG_IGN is not a signal Docker knows",
    ),
    "signal_zero": (
        ("EXPOSE 8000", "STOPSIGNAL 0\nEXPOSE 8000"),
        "0 is not a signal Docker knows",
    ),
    "signal_number_past_linux": (
        ("EXPOSE 8000", "STOPSIGNAL 65\nEXPOSE 8000"),
        "65 is not a Linux signal number",
    ),
    "signal_in_quotes": (
        ("EXPOSE 8000", 'STOPSIGNAL "SIGTERM"\nEXPOSE 8000'),
        "without variables, quotes or backslashes",
    ),
    "cmd_from_missing_path": (
        ('CMD ["uvicorn",', 'CMD ["/nowhere/uvicorn",'),
        "not uvicorn by its name",
    ),
    "cmd_with_other_python": (
        ('CMD ["uvicorn",', 'CMD ["python3.9", "-m", "uvicorn",'),
        "not uvicorn by its name",
    ),
    "cmd_with_shell_syntax": (
        (
            '"--timeout-graceful-shutdown", "8"]',
            '"--timeout-graceful-shutdown", "8"]\nCMD uvicorn main:app; true',
        ),
        "main:app; is shell syntax",
    ),
    "pip_timeout_zero": (
        ("WORKDIR /app\n", "WORKDIR /app\nENV PIP_DEFAULT_TIMEOUT=0\n"),
        "PIP_DEFAULT_TIMEOUT=0 is not a value",
    ),
    "colon_in_user_comment": (
        ("--no-create-home", "--no-create-home --comment a:b"),
        "the comment is not one word",
    ),
    "port_uvicorn_rejects": (
        ('"8000", "--workers"', '"web", "--workers"'),
        "--port web",
    ),
    "env_without_value": (
        ("WORKDIR /app\n", "WORKDIR /app\nENV PYTHONUNBUFFERED\n"),
        "PYTHONUNBUFFERED= is not a value",
    ),
    "workdir_without_folder": (
        ("WORKDIR /app\n", "WORKDIR /app\nWORKDIR\n"),
        "nothing is",
    ),
    "copy_of_missing_file": (
        ("COPY main.py .", "COPY main.py missing.py ./"),
        "missing.py names nothing",
    ),
    "copy_of_pattern_matching_nothing": (
        ("COPY main.py .", "COPY main.py *.txt.bak ./"),
        "names nothing",
    ),
    "several_files_to_one_name": (
        ("COPY main.py .", "COPY main.py requirements.txt /app/code.py"),
        "does not end in /",
    ),
    "folder_under_a_file": (
        (
            "COPY main.py .",
            "COPY main.py .\nCOPY main.py /app/x\nWORKDIR /app/x/y\nWORKDIR /app",
        ),
        "a COPY put a file at /app/x",
    ),
    "file_over_a_folder": (
        ("WORKDIR /app\n", "WORKDIR /app/main.py\nWORKDIR /app\n"),
        "/app/main.py, which is a folder",
    ),
    "chown_to_a_name": (
        (
            "--shell /usr/sbin/nologin app",
            "--shell /usr/sbin/nologin app && chown -R app /app",
        ),
        "is not chown [-R] UID",
    ),
    "chown_of_missing_path": (
        (
            "--shell /usr/sbin/nologin app",
            "--shell /usr/sbin/nologin app && chown -R 10001 /app/data",
        ),
        "/app/data is not a folder or file",
    ),
    "copy_owner_by_name": (
        ("COPY main.py .", "COPY --chown=app main.py ."),
        "--chown=app",
    ),
    "folder_copied_unsearchable": (
        ("COPY main.py .", "COPY --chmod=644 . ."),
        "--chmod=644",
    ),
    "second_useradd": (
        (
            "--shell /usr/sbin/nologin app",
            "--shell /usr/sbin/nologin app && useradd other",
        ),
        "a second useradd",
    ),
    "capital_in_user_name": (("nologin app", "nologin App"), "user name App is not"),
    "debian_account_name": (
        ("nologin app", "nologin daemon"),
        "daemon is a Debian account",
    ),
    "uid_of_debian": (("--uid 10001", "--uid 33"), "uid 33 is not from 1000"),
    "home_options_clash": (
        ("--no-create-home", "--no-create-home --create-home"),
        "clashes with",
    ),
    "mode_taken_away": (
        ("USER 10001", "RUN chmod 000 /app/main.py\nUSER 10001"),
        "chmod 000",
    ),
    "run_after_user": (
        ("EXPOSE 8000", "RUN useradd --uid 10002 other\nEXPOSE 8000"),
        "comes after line",
    ),
    "workdir_on_path": (("WORKDIR /app", "WORKDIR /usr/local/bin"), "is not a folder"),
    "workdir_in_home": (("WORKDIR /app", "WORKDIR /home/app"), "is not a folder"),
    "workdir_climbs_out": (("WORKDIR /app", "WORKDIR /app/../usr"), "is not a folder"),
    "copy_over_uvicorn": (
        ("COPY main.py .", "COPY main.py .\nCOPY main.py /usr/local/bin/uvicorn"),
        "outside",
    ),
    "copy_before_workdir": (
        ("WORKDIR /app\n", "COPY main.py .\nWORKDIR /app\n"),
        "copies to /,",
    ),
    "copy_from_image": (
        ("COPY main.py .", "COPY --from=python:3.11 /usr/local /usr/local"),
        "--from is not a COPY option",
    ),
    "copy_keeps_parents": (("COPY main.py .", "COPY --parents main.py ."), "--parents"),
    "copy_unreadable": (
        ("COPY main.py .", "COPY --chmod=600 main.py ."),
        "--chmod=600",
    ),
    "copy_from_outside": (("COPY main.py .", "COPY ../main.py ."), "not a plain path"),
    # A tester's findings: ids past what container runtimes accept, and a
    # port range written backwards, which Docker rejects.
    "copy_owner_too_large": (
        ("COPY main.py .", "COPY --chown=9999999999:9999999999 main.py ."),
        "each at most 2147483647",
    ),
    "chown_owner_too_large": (
        ("USER 10001", "RUN chown -R 9999999999 /app\nUSER 10001"),
        "with each id at most 2147483647",
    ),
    "port_range_backwards": (
        ("EXPOSE 8000", "EXPOSE 8000-7000"),
        "first port comes after its last",
    ),
    # A tester's finding: Python reads this list, Docker's JSON reader does not.
    "cmd_list_with_trailing_comma": (
        ('"--timeout-graceful-shutdown", "8"]', '"--timeout-graceful-shutdown", "8",]'),
        "a list that is not valid JSON",
    ),
    "patch_release_tag": (
        ("FROM python:3.12-slim", "FROM python:3.12.7-slim"),
        "Write FROM python:3.12-slim",
    ),
    "requirements_of_another_folder": (
        ("-r requirements.txt", "-r /code/requirements.txt"),
        "names a file other than /app/requirements.txt",
    ),
    "copy_heredoc": (
        ("COPY main.py .", "COPY <<EOF main.py\nprint()\nEOF"),
        "not a plain path",
    ),
    # A tester's findings: characters that do not show when printed, which
    # Python's strip() and split() take for whitespace and Docker keeps.
    "from_ends_in_control_character": (
        ("FROM python:3.12-slim\n", "FROM python:3.12-slim\x1f\n"),
        "it contains \\x1f (U+001F)",
    ),
    "user_ends_in_control_character": (
        ("USER 10001\n", "USER 10001\x1f\n"),
        "line 21: USER 10001\\x1f",
    ),
    "expose_ends_in_control_character": (
        ("EXPOSE 8000\n", "EXPOSE 8000\x1c\n"),
        "it contains \\x1c (U+001C)",
    ),
    "stop_signal_ends_in_control_character": (
        ("EXPOSE 8000\n", "EXPOSE 8000\nSTOPSIGNAL SIGTERM\x1f\n"),
        "STOPSIGNAL SIGTERM\\x1f",
    ),
    "expose_ports_split_by_no_break_space": (
        ("EXPOSE 8000\n", "EXPOSE 8000\xa08001\n"),
        "it contains \\xa0 (U+00A0), a character that does not show when printed, "
        'after "EXPOSE 8000"',
    ),
    "cmd_word_with_zero_width_space": (
        ('"--workers", "4"', '"--workers\u200b", "4"'),
        "it contains \\u200b (U+200B)",
    ),
    "env_value_with_control_character": (
        ("WORKDIR /app\n", "WORKDIR /app\nENV APP_NAME=demo\x1f\n"),
        "ENV APP_NAME=demo\\x1f",
    ),
    "keyword_ends_in_control_character": (
        ("USER 10001\n", "USER\x1f 10001\n"),
        "it contains \\x1f (U+001F)",
    ),
    "run_with_control_character": (
        ("-r requirements.txt", "-r requirements.txt\x1f"),
        "requirements.txt\\x1f",
    ),
    # COPY takes no URL, though ADD does.
    "copy_from_http_url": (
        ("COPY main.py .", "COPY main.py .\nCOPY http://x/main.py ."),
        "source can't be a URL for COPY",
    ),
    "copy_from_https_url_among_files": (
        ("COPY main.py .", "COPY main.py https://x/extra.txt ./"),
        "https://x/extra.txt is a URL",
    ),
    "copy_from_git_url": (
        ("COPY main.py .", "COPY main.py .\nCOPY ssh://x/repo.git /opt/repo/"),
        "as git repositories",
    ),
    # A tester's findings: lines Docker rejects or reads otherwise.
    "stage_name_with_symbols": (
        ("FROM python:3.12-slim\n", "FROM python:3.12-slim AS 9st@ge!\n"),
        "the stage name 9st@ge! is one Docker rejects",
    ),
    "copy_option_after_a_source": (
        ("COPY main.py .", "COPY main.py --link ."),
        "--link names nothing in the chapter folder",
    ),
    "copy_option_after_a_source_hint": (
        ("COPY main.py .", "COPY main.py --link ."),
        "go right after COPY, before every path, as in COPY --link main.py .",
    ),
    # Characters str.isprintable() takes for printable that show as nothing.
    "user_ends_in_grapheme_joiner": (
        ("USER 10001\n", "USER 10001\u034f\n"),
        "it contains \\u034f (U+034F)",
    ),
    "user_ends_in_hangul_filler": (
        ("USER 10001\n", "USER 10001\u3164\n"),
        "it contains \\u3164 (U+3164)",
    ),
    "expose_ends_in_variation_selector": (
        ("EXPOSE 8000\n", "EXPOSE 8000\ufe0f\n"),
        "it contains \\ufe0f (U+FE0F)",
    ),
    "arg_default_in_single_quotes": (
        (
            "FROM python:3.12-slim\n",
            "ARG TAG=3.12-slim\nARG IMAGE_TAG='$TAG'\nFROM python:$IMAGE_TAG\n",
        ),
        "FROM python:$IMAGE_TAG",
    ),
    "arg_default_with_escaped_dollar": (
        (
            "FROM python:3.12-slim\n",
            "ARG TAG=3.12-slim\nARG IMAGE_TAG=\\$TAG\nFROM python:$IMAGE_TAG\n",
        ),
        "FROM python:$IMAGE_TAG",
    ),
}


def test_escape_invisible_shows_each_character() -> None:
    text = "USER 10001\x1f\t\xa0\u200bé"
    assert rules.escape_invisible(text) == "USER 10001\\x1f\t\\xa0\\u200bé"


def test_describe_escapes_invisible_characters() -> None:
    item = rules.Instruction(7, "RUN", "pip install -r requirements.txt\x1f")
    assert item.describe() == "line 7: RUN pip install -r requirements.txt\\x1f"


@pytest.mark.parametrize(
    ("edit", "phrase"), UNSUPPORTED.values(), ids=UNSUPPORTED.keys()
)
def test_unsupported_dockerfile_fails_static_checks(
    tmp_path: Path, edit: tuple[str, str], phrase: str
) -> None:
    dockerfile = chapter_with(tmp_path, {"Dockerfile": edit})
    with pytest.raises(
        CheckFailed, match="a line the grader does not support"
    ) as failure:
        rules.expect_supported(dockerfile)
    assert phrase in failure.value.feedback(), failure.value.feedback()
    for check in STATIC_CHECKS:
        with pytest.raises(CheckFailed):
            getattr(grader, check)(dockerfile)


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("uvicorn==0.1.0", "the grader has uvicorn 0.54.0"),
        ("uvicorn<0.50", "the grader has uvicorn 0.54.0"),
        ("-e .", "not a package name"),
        ("--index-url http://127.0.0.1:9/simple", "not a package name"),
        ("-r other.txt", "not a package name"),
        ("./wheels/uvicorn.whl", "not a package name"),
        ("uvicorn @ file:///tmp/uvicorn", "a URL or an environment marker"),
        ('uvicorn==0.54.0; python_version < "3"', "a URL or an environment marker"),
        ("uvicorn==0.54.0 \\", "pip joins the next line"),
        # A tester's bypass: pip joins the next line into the comment, so the
        # line after it installs nothing.
        ("uvicorn==0.54.0 # pinned \\", "pip joins the next line"),
        ("no-such-package-for-this-course==1.0", "is not a package the grader has"),
        ("apigrade==0.1.0", "from a folder or URL"),
    ],
)
def test_unsupported_requirements_line_fails(
    tmp_path: Path, line: str, problem: str
) -> None:
    dockerfile = chapter_with(
        tmp_path, {"requirements.txt": ("uvicorn==0.54.0", f"uvicorn==0.54.0\n{line}")}
    )
    with pytest.raises(CheckFailed, match="could make the image's packages") as failure:
        rules.expect_supported(dockerfile)
    assert problem in failure.value.feedback(), failure.value.feedback()


@pytest.mark.parametrize(
    "first_lines",
    ["# -*- coding: cp500 -*-", "# packages\n# vim: fileencoding=latin-1"],
)
def test_coding_declaration_in_requirements_fails(
    tmp_path: Path, first_lines: str
) -> None:
    dockerfile = chapter_with(
        tmp_path, {"requirements.txt": ("fastapi", f"{first_lines}\nfastapi")}
    )
    with pytest.raises(CheckFailed, match="declares the encoding"):
        rules.expect_supported(dockerfile)


@pytest.mark.parametrize(
    "first_lines",
    [
        "# -*- coding: utf-8 -*-",
        "# packages\n# packages\n# coding: cp500",
        "\ufeff# coding: cp500",
    ],
)
def test_requirements_pip_reads_as_utf8_pass(tmp_path: Path, first_lines: str) -> None:
    dockerfile = chapter_with(
        tmp_path, {"requirements.txt": ("fastapi", f"{first_lines}\nfastapi")}
    )
    rules.expect_supported(dockerfile)


def test_app_folder_holds_what_copy_puts_in_workdir(tmp_path: Path) -> None:
    dockerfile = chapter_with(
        tmp_path, {"Dockerfile": ("COPY main.py .", "COPY main.py .\nCOPY . /srv/all/")}
    )
    image = rules.model_image(dockerfile)
    target = tmp_path / "image"
    target.mkdir()
    image.copy_app_folder(target)
    assert sorted(path.name for path in target.iterdir()) == [
        "main.py",
        "requirements.txt",
    ]
    source = (tmp_path / "11_deployment" / "main.py").read_text()
    assert (target / "main.py").read_text() == source


@pytest.mark.parametrize(
    ("patterns", "path", "ignored"),
    [
        ("sub", "sub/helpers.py", True),
        ("sub\n!sub/helpers.py", "sub/helpers.py", False),
        ("**/secret.py", "sub/deeper/secret.py", True),
        ("*.py", "sub/helpers.py", False),
        ("*.py", "main.py", True),
        ("s?b/*", "sub/helpers.py", True),
        ("[a-r]*", "sub", False),
        ("[^a-r]*", "sub/helpers.py", True),
        ("sub/\\*", "sub/*", True),
        ("sub/\\*", "sub/helpers.py", False),
        # ReadAll drops a byte order mark from the first line only.
        ("\ufeffsub", "sub/helpers.py", True),
        ("__pycache__\n\ufeffsub", "sub/helpers.py", False),
        # A comment starts with # before any trimming, and the rest is trimmed.
        ("# sub", "sub/helpers.py", False),
        (" #/../sub", "sub/helpers.py", True),
        ("\t sub \t", "sub/helpers.py", True),
        # Lines end at \n, less one \r, so \v does not start a new line.
        ("sub\r", "sub/helpers.py", True),
        ("*\n#\v!main.py", "main.py", True),
        # Go's TrimSpace does not trim \x1c, which Python's str.strip does.
        ("main.py\n!\x1cmain.py", "main.py", True),
        ("*\n! //main.py", "main.py", False),
        # "." and "!." match no path, since Docker never matches the root.
        (".", "main.py", False),
        ("./", "sub/helpers.py", False),
        ("main.py\n!.", "main.py", True),
        ("*\n!sub/..", "main.py", True),
    ],
)
def test_dockerignore_reads_patterns_as_docker(
    tmp_path: Path, patterns: str, path: str, ignored: bool
) -> None:
    (tmp_path / ".dockerignore").write_text(patterns + "\n")
    assert rules.dockerignored(tmp_path, path) is ignored


# What Docker's Pattern.compile (moby/patternmatcher) makes of each pattern:
# the Go regular expression, or a plain string comparison, and whether it
# matches the path.
@pytest.mark.parametrize(
    ("pattern", "path", "matches"),
    [
        # Only ^ negates a Go set, so [!x] is the set of ! and x.
        ("[!x]ain.py", "main.py", False),
        ("[!x]ain.py", "xain.py", True),
        ("[!x]ain.py", "!ain.py", True),
        ("[!a-r]*", "sub", False),
        ("[^x]ain.py", "main.py", True),
        ("[a-c]x", "bx", True),
        ("[\\]]", "]", True),
        ("[.]py", ".py", True),
        ("[.]py", "apy", False),
        ("[/]", "/", True),
        ("main\\.py", "main.py", True),
        ("main\\*", "main*", True),
        ("main\\*", "main.py", False),
        # ^ is a start-of-text anchor once the pattern is a regular expression,
        # and a plain character when Docker compares strings.
        ("^main.py", "main.py", False),
        ("^main.py", "^main.py", True),
        ("*^main.py", "main.py", True),
        ("*^main.py", "x^main.py", False),
        ("main.py]", "main.py]", True),
        # ** not at the end becomes (.*/)?, so it ends at a /.
        ("a**b", "ab", True),
        ("a**b", "ax/b", True),
        ("a**b", "axb", False),
        ("a/**", "a/b/c", True),
        ("a/**", "a", False),
        ("**/foo", "foo", True),
        ("**/foo", "a/b/foo", True),
        ("**/foo", "afoo", False),
        ("**foo", "afoo", True),
        ("**/*.py", "a/b.py", True),
        ("*.py", "a/b.py", False),
    ],
)
def test_ignore_pattern_matches_as_docker(
    pattern: str, path: str, matches: bool
) -> None:
    assert bool(rules.ignore_pattern(pattern).fullmatch(path)) is matches


@pytest.mark.parametrize(
    ("pattern", "reason"),
    [
        ("\\wain.py", "a backslash before 'w'"),
        ("\\x6dain.py", "a backslash before 'x'"),
        ("[\\d]ain.py", "a backslash before 'd'"),
        ("[[:alpha:]]ain.py", "[: inside a set"),
        ("[*]ain.py", "* inside a set"),
        ("[?]ain.py", "? inside a set"),
    ],
)
def test_go_only_ignore_pattern_is_unsupported(
    tmp_path: Path, pattern: str, reason: str
) -> None:
    (tmp_path / ".dockerignore").write_text("# caches\n" + pattern + "\n")
    with pytest.raises(CheckFailed, match=r"line 2 has a pattern") as failure:
        rules.dockerignored(tmp_path, "main.py")
    assert reason in failure.value.summary


@pytest.mark.parametrize("pattern", ["[z-a]", "[]a]", "[-a]", "[a-]", "[a", "a\\"])
def test_ignore_pattern_docker_rejects_is_invalid(pattern: str) -> None:
    with pytest.raises(re.error):
        rules.ignore_pattern(pattern)


# patternmatcher.New cleans each pattern, "!" included, and rejects a lone "!".
@pytest.mark.parametrize("line", ["!", "! ", "!/", "!//", "!/..", " ! / "])
def test_dockerignore_lone_exclamation_fails(tmp_path: Path, line: str) -> None:
    (tmp_path / ".dockerignore").write_text("__pycache__\n" + line + "\n")
    with pytest.raises(CheckFailed, match=r"line 2 is a lone !") as failure:
        rules.dockerignored(tmp_path, "main.py")
    assert "Docker would stop the build there" in failure.value.summary
    assert "illegal exclusion pattern" in failure.value.summary


# Go's bufio.Scanner takes lines of at most 65535 bytes, \r included.
@pytest.mark.parametrize(("size", "fails"), [(65535, False), (65536, True)])
def test_dockerignore_long_line(tmp_path: Path, size: int, fails: bool) -> None:
    line = "#" + "x" * (size - 2) + "\r"
    (tmp_path / ".dockerignore").write_text("__pycache__\n" + line + "\nsub\n")
    if not fails:
        assert rules.dockerignored(tmp_path, "sub") is True
        return
    with pytest.raises(CheckFailed, match="line 2 is 65536 bytes long") as failure:
        rules.dockerignored(tmp_path, "sub")
    assert "token too long" in failure.value.summary


def test_dockerignore_over_read_limit_fails(tmp_path: Path) -> None:
    # main.py on line 1, then comments past the bytes the grader reads.
    comments = ("#" * 999 + "\n") * (MAX_LEARNER_FILE // 1000 + 1)
    (tmp_path / ".dockerignore").write_text("main.py\n" + comments)
    with pytest.raises(CheckFailed, match=r"^\.dockerignore is larger than 4 MB"):
        rules.dockerignored(tmp_path, "main.py")


@pytest.mark.parametrize("skipped", [".dockerignore", "Dockerfile.dockerignore"])
def test_dockerignore_left_out_of_copy_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, skipped: str
) -> None:
    grader_folder = tmp_path / "grader"
    grader_folder.mkdir()
    (grader_folder / SKIPPED_FILE).write_text(json.dumps([skipped]))
    monkeypatch.setenv(GRADER_DIR_VARIABLE, str(grader_folder))
    folder = tmp_path / "chapter"
    folder.mkdir()
    if skipped == "Dockerfile.dockerignore":
        # Docker reads the Dockerfile.dockerignore in place of this one.
        (folder / ".dockerignore").write_text("__pycache__\n")
    with pytest.raises(CheckFailed, match=rf"^{re.escape(skipped)} was left out"):
        rules.dockerignored(folder, "main.py")


def test_dockerignore_pattern_docker_rejects_fails(tmp_path: Path) -> None:
    (tmp_path / ".dockerignore").write_text("[z-a]\n")
    with pytest.raises(CheckFailed, match="line 1 is not a valid pattern"):
        rules.dockerignored(tmp_path, "main.py")


def test_copy_of_ignored_file_names_ignore_line(tmp_path: Path) -> None:
    dockerfile = chapter_with(
        tmp_path, {"Dockerfile": ("COPY main.py .", "COPY main.py .\nCOPY sub/ sub/")}
    )
    folder = tmp_path / "11_deployment"
    (folder / "sub").mkdir()
    (folder / ".dockerignore").write_text("__pycache__\nsub\n")
    with pytest.raises(CheckFailed) as failure:
        rules.expect_supported(dockerfile)
    assert ".dockerignore line 2 leaves sub out" in failure.value.summary
    assert "names nothing" not in failure.value.summary


# COPY keeps the mode of each file and folder it copies. When no engine ran the
# grader, it reads the modes of the folder it is given.
@pytest.mark.parametrize(
    ("copy", "user", "modes", "readable"),
    [
        ("COPY main.py .", "USER 10001", {"main.py": 0o600}, False),
        ("COPY main.py .", "USER 10001", {"main.py": 0o604}, True),
        ("COPY --chmod=644 main.py .", "USER 10001", {"main.py": 0o600}, True),
        ("COPY --chown=10001 main.py .", "USER 10001", {"main.py": 0o600}, True),
        ("COPY --chown=20000 main.py .", "USER 10001", {"main.py": 0o600}, False),
        # The owner's bits apply to the owner, even where the others' allow more.
        ("COPY --chown=10001 main.py .", "USER 10001", {"main.py": 0o044}, False),
        # Root's group: useradd gives 10001 a group of its own, USER 10001:0 not.
        ("COPY main.py .", "USER 10001", {"main.py": 0o640}, False),
        ("COPY main.py .", "USER 10001:0", {"main.py": 0o640}, True),
        (
            "COPY --chown=0:10001 main.py .",
            "USER 10001:10001",
            {"main.py": 0o640},
            True,
        ),
        # A new folder gets its source's mode; one that exists keeps its own.
        ("COPY . /srv/code/", "USER 10001", {".": 0o700}, False),
        ("COPY . /srv/code/", "USER 10001", {".": 0o711}, False),
        ("COPY . .", "USER 10001", {".": 0o700}, True),
        ("COPY --chmod=755 . /srv/code/", "USER 10001", {".": 0o700}, True),
        # RUN chown gives USER the file, whose owner's bits then apply.
        (
            "COPY main.py .\nRUN chown 10001 main.py",
            "USER 10001",
            {"main.py": 0o064},
            False,
        ),
        (
            "COPY main.py .\nRUN chown 10001 main.py",
            "USER 10001",
            {"main.py": 0o600},
            True,
        ),
        (
            "COPY main.py .\nRUN chown 0:10001 main.py",
            "USER 10001:10001",
            {"main.py": 0o604},
            False,
        ),
        (
            "COPY main.py .\nRUN chown 0:10001 main.py",
            "USER 10001:10001",
            {"main.py": 0o640},
            True,
        ),
        # chown UID keeps the group that --chown gave.
        (
            "COPY --chown=0:10001 main.py .\nRUN chown 20000 main.py",
            "USER 10001:10001",
            {"main.py": 0o640},
            True,
        ),
        # -R changes the folder and what is under it; without -R only the folder.
        (
            "COPY . /srv/code/\nRUN chown -R 10001 /srv/code",
            "USER 10001",
            {".": 0o075},
            False,
        ),
        (
            "COPY . /srv/code/\nRUN chown -R 10001 /srv",
            "USER 10001",
            {".": 0o075},
            False,
        ),
        (
            "COPY . /srv/code/\nRUN chown 10001 /srv/code",
            "USER 10001",
            {".": 0o075},
            False,
        ),
        (
            "COPY . /srv/code/\nRUN chown -R 10001 /srv/code",
            "USER 10001",
            {"main.py": 0o064},
            False,
        ),
        (
            "COPY . /srv/code/\nRUN chown 10001 /srv/code",
            "USER 10001",
            {"main.py": 0o064},
            True,
        ),
        # A COPY after the chown makes root the owner again.
        (
            "COPY main.py .\nRUN chown 10001 main.py\nCOPY main.py .",
            "USER 10001",
            {"main.py": 0o064},
            True,
        ),
    ],
)
def test_user_reads_what_copy_keeps(
    tmp_path: Path, copy: str, user: str, modes: dict[str, int], readable: bool
) -> None:
    folder = tmp_path / "11_deployment"
    shutil.copytree(ROOT / "solutions" / "11_deployment", folder)
    path = folder / "Dockerfile"
    text = path.read_text().replace("COPY main.py .", copy)
    path.write_text(text.replace("USER 10001", user))
    dockerfile = rules.read_dockerfile(path, path.read_text())
    for name, mode in modes.items():
        (folder / name).chmod(mode)
    try:
        if readable:
            grader.test_dockerfile_runs_as_non_root(dockerfile)
        else:
            with pytest.raises(CheckFailed, match="The container's user"):
                grader.test_dockerfile_runs_as_non_root(dockerfile)
    finally:
        for name in modes:
            (folder / name).chmod(0o755)


def test_ignored_folder_is_not_in_app_folder(tmp_path: Path) -> None:
    dockerfile = chapter_with(tmp_path, {"Dockerfile": ("COPY main.py .", "COPY . .")})
    folder = tmp_path / "11_deployment"
    (folder / "sub").mkdir()
    (folder / "sub" / "helpers.py").write_text("")
    (folder / ".dockerignore").write_text("sub\n")
    target = tmp_path / "image"
    target.mkdir()
    rules.model_image(dockerfile).copy_app_folder(target)
    assert not (target / "sub").exists()
    assert (target / "main.py").is_file()


@pytest.mark.parametrize(
    ("file", "copy", "phrase"),
    [
        (
            "main.cpython-312-x86_64-linux-gnu.so",
            "COPY main.py main.cpython-312-x86_64-linux-gnu.so ./",
            "/app/main.cpython-312-x86_64-linux-gnu.so, a name Python takes for "
            "an extension module",
        ),
        ("lib/helpers.abi3.so", "COPY lib/ ./lib/", "/app/lib/helpers.abi3.so"),
        ("helpers.pyd", "COPY . .", "/app/helpers.pyd"),
        ("helpers.pyc", "COPY main.py helpers.pyc ./", "a bytecode file"),
        ("main.bin", "COPY main.bin main.pyc", "/app/main.pyc, a bytecode file"),
        (
            "cache/main.bin",
            "COPY cache/main.bin __pycache__/main.cpython-312.pyc",
            "it copies to /app/__pycache__/main.cpython-312.pyc",
        ),
        ("cache/x.txt", "COPY cache/ __pycache__/", "it copies to /app/__pycache__"),
    ],
)
def test_copy_python_may_import_is_unsupported(
    tmp_path: Path, file: str, copy: str, phrase: str
) -> None:
    dockerfile = chapter_with(
        tmp_path, {"Dockerfile": ("COPY main.py .", f"COPY main.py .\n{copy}")}
    )
    path = dockerfile.path.parent / file
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"not a module\n")
    with pytest.raises(CheckFailed) as failure:
        rules.expect_supported(dockerfile)
    assert "a line the grader does not support" in failure.value.feedback()
    assert phrase in failure.value.feedback()


def test_copy_of_file_named_like_module_passes(tmp_path: Path) -> None:
    edit = ("COPY main.py .", "COPY main.py notes.so.txt pyc/ ./")
    dockerfile = chapter_with(tmp_path, {"Dockerfile": edit})
    (dockerfile.path.parent / "notes.so.txt").write_text("notes\n")
    (dockerfile.path.parent / "pyc").mkdir()
    (dockerfile.path.parent / "pyc" / "readme.txt").write_text("text\n")
    rules.expect_supported(dockerfile)


def test_linked_source_is_unsupported(tmp_path: Path) -> None:
    dockerfile = chapter_with(tmp_path, {})
    folder = tmp_path / "11_deployment"
    (folder / "main.py").rename(folder / "real.py")
    (folder / "main.py").symlink_to("real.py")
    with pytest.raises(CheckFailed, match=r"main\.py is a symbolic link"):
        rules.expect_supported(dockerfile)


def test_too_many_workers_fail_the_production_command() -> None:
    found = read(SOLUTION.replace('"--workers", "4"', '"--workers", "100000000"'))
    with pytest.raises(CheckFailed, match="the grader accepts at most 64"):
        grader.production_command(found, Path("app.sock"))


@pytest.mark.parametrize("host", ["0", "::"])
def test_other_spelling_of_all_interfaces_says_why(host: str) -> None:
    found = read(SOLUTION.replace('"0.0.0.0"', f'"{host}"'))
    with pytest.raises(CheckFailed, match="not the address the grader supports"):
        grader.test_dockerfile_binds_all_interfaces(found)


def test_fastapi_run_cmd_says_to_call_uvicorn() -> None:
    found = read(
        SOLUTION.replace('"uvicorn", "main:app"', '"fastapi", "run", "main.py"')
    )
    with pytest.raises(CheckFailed, match="does not start uvicorn") as failure:
        grader.production_command(found, Path("app.sock"))
    assert "fastapi-cli" in failure.value.feedback()


@dataclass
class FakeDistribution:
    """Just what dependency_closure reads of an installed distribution."""

    name: str
    needs: str
    requires: list[str]
    version: str = "1.0"

    @property
    def metadata(self) -> dict[str, str]:
        return {"Name": self.name, "Requires-Python": self.needs}


def test_python_older_than_a_package_needs_fails(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    installed = {
        "top": FakeDistribution(
            "top", ">=3.10", ["deep>=1", 'old; python_version < "3.11"']
        ),
        "deep": FakeDistribution("deep", ">=3.13", []),
        "old": FakeDistribution("old", "<3", []),
    }

    def distribution(name: str) -> FakeDistribution:
        if name not in installed:
            raise importlib.metadata.PackageNotFoundError(name)
        return installed[name]

    monkeypatch.setattr(rules.importlib.metadata, "distribution", distribution)
    problem = rules.newer_python_needed(Requirement("top"), 12)
    assert problem == "deep 1.0 needs Python >=3.13, and the image has Python 3.12"
    assert rules.newer_python_needed(Requirement("top"), 13) is None
    # The marker brings "old" in for Python 3.10 only.
    assert "old 1.0 needs Python <3" in rules.newer_python_needed(
        Requirement("top"), 10
    )


@pytest.mark.skipif(
    sys.version_info >= (3, 13), reason="this Python has no cgi module either"
)
def test_module_the_image_python_lacks_fails(tmp_path: Path) -> None:
    dockerfile = chapter_with(
        tmp_path,
        {
            "Dockerfile": ("python:3.12-slim", "python:3.13-slim"),
            "main.py": ("import os\n", "import os\nimport cgi\n"),
        },
    )
    with pytest.raises(CheckFailed) as failure:
        rules.expect_supported(dockerfile)
    assert "imports cgi" in failure.value.feedback()
    assert "removed in Python 3.13" in failure.value.feedback()


def test_absolute_app_dir_moves_under_the_image_copy() -> None:
    root = Path("/grader/image")
    argv = ["python", "--app-dir", "/srv/code", "--app-dir=/opt/x", "--app-dir", "sub"]
    assert grader.relocate_app_dir(argv, root) == [
        "python",
        "--app-dir",
        "/grader/image/srv/code",
        "--app-dir=/grader/image/opt/x",
        "--app-dir",
        "sub",
    ]


@pytest.mark.parametrize(
    ("directives", "edit", "problem"),
    [
        ("# escape=`", ("", ""), None),
        ("# escape=`", ("COPY main.py .", "COPY main`\n.py ."), None),
        ("# escape=`", ("COPY main.py .", r"COPY main\.py ."), "takes a backslash"),
        ("# escape=`", ("COPY main.py .", "COPY main``.py ."), "takes a backslash"),
        ("# escape=\\", ("COPY main.py .", r"COPY main\.py ."), None),
        ("# escape=x", ("", ""), "only a backslash or a backtick"),
        ("# escape=`\n# escape=`", ("", ""), "written more than once"),
        (
            "# syntax=docker/dockerfile:1\n# SYNTAX=docker/dockerfile:1",
            ("", ""),
            "more",
        ),
    ],
)
def test_escape_directive_read_as_docker_reads_it(
    directives: str, edit: tuple[str, str], problem: str | None
) -> None:
    """Check a backtick escape, a bad escape and a repeated directive as Docker does."""
    found = read(f"{directives}\n{SOLUTION.replace(*edit)}")

    if problem is None:
        rules.model_image(found)
        return
    with pytest.raises(CheckFailed) as failure:
        rules.model_image(found)
    assert problem in failure.value.feedback()


# Options that turn requests away fail the production check before any run;
# the words after other options, and larger queues, do not.
@pytest.mark.parametrize(
    ("options", "message"),
    [
        ('"--limit-concurrency", "2"', "caps concurrent connections"),
        ('"--limit-concurrency=1000"', "caps concurrent connections"),
        ('"--limit-max-requests", "10000"', "makes each worker exit"),
        ('"--backlog", "16"', "shortens the queue"),
        ('"--backlog", "-1"', "shortens the queue"),
        ('"--backlog", "2048"', None),
        ('"--backlog=4096"', None),
        ('"--root-path", "--limit-concurrency"', None),
        ('"--limit-max-requests-jitter", "5"', None),
        ('"--h11-max-incomplete-event-size", "1"', "reject request heads"),
        ('"--h11-max-incomplete-event-size=300"', "reject request heads"),
        ('"--h11-max-incomplete-event-size", "16384"', None),
        ('"--h11-max-incomplete-event-size", "65536"', None),
    ],
)
def test_service_limits_in_cmd(
    tmp_path: Path, options: str, message: str | None
) -> None:
    dockerfile = chapter_with(
        tmp_path,
        {
            "Dockerfile": (
                '"--timeout-graceful-shutdown", "8"',
                f'"--timeout-graceful-shutdown", "8", {options}',
            )
        },
    )
    if message is None:
        grader.expect_no_service_limit(dockerfile)
    else:
        with pytest.raises(CheckFailed, match=message):
            grader.expect_no_service_limit(dockerfile)


@pytest.mark.parametrize("word", ["true", "false", "yes", "no", "on", "off"])
def test_docs_word_written_in_mixed_case(word: str) -> None:
    for _ in range(20):
        mixed = grader.mixed_case(word)
        assert mixed.lower() == word
        assert mixed not in (word, word.upper(), word.title())


def test_docs_word_without_two_letters_is_kept() -> None:
    assert grader.mixed_case("1") == "1"
    assert grader.mixed_case("0") == "0"


def test_every_docs_word_is_drawn() -> None:
    expected = {
        ("true", True),
        ("false", False),
        ("1", True),
        ("0", False),
        ("yes", True),
        ("no", False),
        ("on", True),
        ("off", False),
    }
    drawn = grader.draw_docs_words()
    assert len(drawn) == len(expected)
    assert {(word.lower(), served) for word, served in drawn} == expected


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        ("IMAGE_TAG='$TAG'", True),
        ("IMAGE_TAG=\\$TAG", True),
        ('IMAGE_TAG="\\$TAG"', True),
        ('IMAGE_TAG="$TAG"', False),
        ("A='x' B=$C", False),
        ("IMAGE_TAG=$TAG", False),
    ],
)
def test_dollar_kept_as_text(text: str, kept: bool) -> None:
    assert rules.keeps_dollar(text) is kept


@pytest.mark.parametrize("name", ["app", "Build-1", "a.b_c"])
def test_valid_stage_name_passes(tmp_path: Path, name: str) -> None:
    dockerfile = chapter_with(
        tmp_path,
        {
            "Dockerfile": (
                "FROM python:3.12-slim\n",
                f"FROM python:3.12-slim AS {name}\n",
            )
        },
    )
    rules.expect_supported(dockerfile)
