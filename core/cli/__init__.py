"""Command line: ``python -m core build|worker|add|remove|search|annotate|topics|models|eval|
bench|scale-*``.

Every command has ``--help``; ``--json`` prints machine-readable output on stdout, while progress
and problems go to stderr. Admin panel accounts have their own command line, ``python -m admin
users`` (``admin.cli``): ``core`` never imports ``admin``.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence

from core.cli import building, measurement, serving
from core.cli.common import CommandError, Subcommands, unknown_tokens
from core.reading.images import ImageError
from core.serving.inference import NothingRecognized
from core.serving.service import NoActiveModel
from core.settings import load_settings

# Every command, in the order ``--help`` lists them: each adds its subparser and names its
# handler.
COMMANDS: tuple[Callable[[Subcommands], None], ...] = (
    building.add_build,
    building.add_worker,
    building.add_add,
    building.add_remove,
    serving.add_search,
    serving.add_annotate,
    serving.add_topics,
    serving.add_models,
    measurement.add_bench,
    measurement.add_eval,
    measurement.add_scale_train,
    measurement.add_scale_ingest,
    measurement.add_scale_build,
    measurement.add_scale_footprint,
    measurement.add_scale_replica,
    measurement.add_scale_version,
    measurement.add_scale_query,
    measurement.add_scale_node,
    measurement.add_scale_report,
    measurement.add_bench_index,
    measurement.add_bench_live,
    measurement.add_bench_drift,
    measurement.add_bench_sample,
)


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
        return args.handler(args, settings)
    except (
        CommandError,
        NoActiveModel,
        NothingRecognized,
        ImageError,
        FileNotFoundError,
        ValueError,
    ) as error:
        _fail(args, error)
        return 2


def _fail(args: argparse.Namespace, error: Exception) -> None:
    if getattr(args, "json", False):
        payload = {"error": str(error)}
        if isinstance(error, NothingRecognized):
            payload.update(
                nothing_recognized=True, unknown=unknown_tokens(error.unknown), results=[]
            )
        print(json.dumps(payload, ensure_ascii=False))
    print(f"error: {error}", file=sys.stderr)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m core",
        description="Semantic image search and annotation with multimodal topic models.",
    )
    commands = parser.add_subparsers(required=True, metavar="COMMAND")
    for add in COMMANDS:
        add(commands)
    return parser
