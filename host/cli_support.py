"""The one error path of the command-line tools, and the flags-vs-checkpoint rules of --resume.

    sys.exit(run_cli(main_body, resume_hint=...))

User errors (bad values, missing or corrupt files, permissions) become one line on stderr naming
the field or file, exit status 2, no traceback; Ctrl-C prints how to resume, exit status 130.
"""

from __future__ import annotations

import argparse
import sys
import zipfile
from collections.abc import Callable, Iterable
from typing import NoReturn

from host.run_dir import DEFAULT_OUTPUT

USER_ERRORS = (
    ValueError,
    KeyError,
    FileNotFoundError,
    PermissionError,
    IsADirectoryError,
    NotADirectoryError,
    FloatingPointError,
    zipfile.BadZipFile,
    EOFError,
)
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class DefaultsHelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Appends '(default: X)' to every option whose default is a value; an unset (None) default
    is explained by the option's own help instead of a bare '(default: None)'."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default is None or "default" in (action.help or ""):
            return action.help
        return super()._get_help_string(action)


class CliParser(argparse.ArgumentParser):
    """The tools' parser: '(default: X)' in --help, and a bad flag is one line on stderr with exit
    status 2 instead of argparse's usage block."""

    def __init__(self, prog: str, description: str) -> None:
        super().__init__(prog=prog, description=description, formatter_class=DefaultsHelpFormatter)

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"error: {message} (see {self.prog} --help)\n")


def add_run_folder_args(
    group: argparse._ArgumentGroup, experiment_default: str, checkpoint: str, timm_aliases: bool = False
) -> None:
    """--output, --experiment, --resume and --overwrite, the run-folder flags both trainers share.
    experiment_default describes the run folder's default name; checkpoint is the file --resume looks
    for; timm_aliases adds timm's train.py spellings (--output-dir, --run-name)."""
    output_flags = ("--output", "--output-dir") if timm_aliases else ("--output",)
    experiment_flags = ("--experiment", "--run-name") if timm_aliases else ("--experiment",)
    group.add_argument(
        *output_flags,
        dest="output",
        default=str(DEFAULT_OUTPUT),
        help="output root; the run goes to <output>/<experiment>",
    )
    group.add_argument(
        *experiment_flags, dest="experiment", default=None, help=f"run folder name (default: {experiment_default})"
    )
    group.add_argument(
        "--resume",
        nargs="?",
        const="auto",
        default=None,
        metavar="RUN_DIR_OR_CHECKPOINT",
        help=f"continue a run with its stored settings (bare or 'auto': <output>/<experiment>/{checkpoint}, "
        f"or <output>/{checkpoint} when --output is itself a run folder)",
    )
    group.add_argument("--overwrite", action="store_true", help="replace the outputs of a previous run in that folder")


def add_keep_warmup_args(
    group: argparse._ArgumentGroup,
    start: float | None,
    end: float | None,
    parse: Callable[[str], float | None] = float,
    note: str = "",
) -> None:
    """--keep-warmup-start / --keep-warmup-end (both trainers): where in the run R_T and R_A leave 1.0 and
    where they reach their targets, as fractions; note is appended to both helps."""
    group.add_argument(
        "--keep-warmup-start",
        type=parse,
        default=start,
        help=f"fraction of the run where R_T/R_A start shrinking{note}",
    )
    group.add_argument(
        "--keep-warmup-end",
        type=parse,
        default=end,
        help=f"fraction of the run where R_T/R_A reach their targets{note}",
    )


def message_of(exc: BaseException) -> str:
    if isinstance(exc, KeyError) and exc.args:
        text = str(exc.args[0])
    elif isinstance(exc, OSError) and exc.filename and exc.strerror:
        text = f"{exc.filename}: {exc.strerror}"
    else:
        text = str(exc) or type(exc).__name__
    return " ".join(text.split())  # one line, always


def run_cli(body: Callable[[], int | None], resume_hint: Callable[[], str | None] | None = None) -> int:
    """Runs body() -> int; maps user errors and Ctrl-C to one line. `resume_hint()` -> command or None."""
    try:
        return int(body() or 0)
    except KeyboardInterrupt:
        hint = resume_hint() if resume_hint is not None else None
        print(
            f"\ninterrupted; resume with: {hint}"
            if hint
            else "\ninterrupted before the first checkpoint; nothing to resume",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED
    except USER_ERRORS as exc:
        print(f"error: {message_of(exc)}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:  # disk full, permissions on a parent, ...: still the user's environment
        print(f"error: {message_of(exc)}", file=sys.stderr)
        return EXIT_USAGE


def explicit_dests(parser: argparse.ArgumentParser, argv: list[str]) -> set[str]:
    """The dests the command line set explicitly (not by default)."""
    saved = {id(a): a.default for a in parser._actions}
    saved_defaults = dict(parser._defaults)  # set_defaults() values (e.g. a YAML file's)
    try:
        for action in parser._actions:
            action.default = argparse.SUPPRESS
        parser._defaults.clear()
        given, _ = parser.parse_known_args(argv)
    finally:
        for action in parser._actions:
            action.default = saved[id(action)]
        parser._defaults.update(saved_defaults)
    return set(vars(given))


def flag_of(dest: str) -> str:
    return "--" + dest.replace("_", "-")


def check_against_checkpoint(saved: dict, current: dict, explicit: set[str], source: str) -> None:
    """Refuses any explicit flag whose value contradicts the stored run setting it names."""
    for dest in sorted(explicit):
        if dest in saved and _normal(saved[dest]) != _normal(current.get(dest)):
            raise ValueError(
                f"{flag_of(dest)} {_show(current.get(dest))} contradicts the run being resumed "
                f"({dest}={_show(saved[dest])} in {source}); drop the flag or start a new run"
            )


def _normal(value: object) -> object:
    if isinstance(value, tuple):
        return list(value)
    if isinstance(value, float) and value.is_integer():
        return value
    return value


def _show(value: object) -> str:
    if isinstance(value, (list, tuple)):
        return ",".join(map(str, value))
    return str(value)


def shell_join(parts: Iterable[object]) -> str:
    import shlex

    return " ".join(shlex.quote(str(p)) for p in parts)
