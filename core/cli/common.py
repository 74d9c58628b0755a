"""What every command shares: argument types, progress on stderr, the user-facing error."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

from core.settings import REPO_ROOT, Settings
from core.storage import database, store
from core.weights import validate_weights


class CommandError(Exception):
    """A user-facing error: printed without a traceback, exit code 2."""


SOURCE_HELP = "a built version's directory (default: the active version)"
Subcommands = argparse._SubParsersAction


def add_report_command(
    commands: Subcommands, handler: Callable, name: str, **texts: str
) -> argparse.ArgumentParser:
    """A measuring command: it writes its figures under ``--reports`` (default: the repository's
    reports/ directory)."""
    parser = commands.add_parser(name, **texts)
    parser.add_argument("--reports", type=Path, default=REPO_ROOT / "reports")
    parser.set_defaults(handler=handler)
    return parser


def modality_weights(text: str) -> dict[str, float]:
    """``--weights``: ``@text=1,@visual=0.5`` as a dict, checked like the admin pages' weights."""
    weights = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, sep, value = part.partition("=")
        if not sep:
            raise argparse.ArgumentTypeError(f"expected @modality=weight, got {part!r}")
        try:
            weights[name.strip()] = float(value)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"weight of {name} is not a number: {value!r}"
            ) from None
    try:
        validate_weights(weights)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return weights


def positive(text: str) -> int:
    """A count the user gives: a whole number, at least 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def sizes(text: str) -> tuple[int, ...]:
    """Comma-separated counts, e.g. ``100000,1000000``."""
    return tuple(positive(part) for part in text.split(","))


def progress_printer() -> Callable[[str, int, int], None]:
    """A progress bar on stderr per stage, redrawn at most twice a second."""
    last = {"stage": None, "at": 0.0}

    def report(stage: str, done: int, total: int) -> None:
        now = time.monotonic()
        if stage == last["stage"] and done < total and now - last["at"] < 0.5:
            return
        last.update(stage=stage, at=now)
        width = 30
        filled = int(width * done / max(total, 1))
        end = "\n" if done >= total else ""
        print(
            f"\r{stage:>10} [{'#' * filled}{'.' * (width - filled)}] {done}/{total}",
            end=end,
            file=sys.stderr,
            flush=True,
        )

    return report


def active_version_dir(settings: Settings) -> Path:
    """The active version's directory, or a ``CommandError`` saying to build one."""
    with database.open_database(settings.database_url)() as session:
        version = store.active_version(session)
    if version is None:
        raise CommandError("no active model version; run `python -m core build` first")
    return Path(version.artifact_dir)


def unknown_tokens(unknown: dict[str, list[str]]) -> list[str]:
    """The query's unknown tokens of every modality, as one list."""
    return [token for tokens in unknown.values() for token in tokens]
