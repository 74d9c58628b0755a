"""The commands that ask the active version: ``search``, ``annotate``, ``topics`` and ``models``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from core.cli.common import (
    CommandError,
    Subcommands,
    modality_weights,
    positive,
    progress_printer,
    unknown_tokens,
)
from core.serving.answers import AnnotationRequest, SearchRequest
from core.serving.engine import Query
from core.serving.service import Service
from core.settings import Settings
from core.storage import database, store


def _query(args: argparse.Namespace) -> Query:
    image = None
    if getattr(args, "image", None) is not None:
        if not args.image.is_file():
            raise CommandError(f"image file not found: {args.image}")
        image = args.image.read_bytes()
    query = Query(text=getattr(args, "text", "") or "", image=image)
    if query.is_empty():
        raise CommandError("give a text, an --image, or both")
    return query


def add_search(commands: Subcommands) -> None:
    """``search``: best documents for a text, a photo or both."""
    parser = commands.add_parser(
        "search",
        help="search by text, photo or both",
        description="Best documents for a query by the model version's ranking (query "
        "likelihood with topic smoothing, or L1 between topic vectors); says how well the query "
        "fits the model and marks weak hits.",
    )
    parser.add_argument("text", nargs="?", default="", help="query text")
    parser.add_argument("--image", type=Path, help="query photo")
    parser.add_argument(
        "--like", metavar="DOC_ID", help="documents like this one (by its topic vector)"
    )
    parser.add_argument(
        "--weights", type=modality_weights, help="e.g. @text=1,@visual=0.5 (0 = off)"
    )
    parser.add_argument("-k", type=positive, default=10, help="number of results")
    parser.add_argument("--json", action="store_true")
    parser.set_defaults(handler=_search)


def _search(args: argparse.Namespace, settings: Settings) -> int:
    if args.like is not None:
        if args.text or args.image is not None:
            raise CommandError("--like takes no text or --image: the document is the query")
        try:
            result = Service(settings).more_like(
                args.like, SearchRequest(k=args.k, weights=args.weights)
            )
        except ValueError as error:
            raise CommandError(str(error)) from None
    else:
        result = Service(settings).search(SearchRequest(_query(args), args.k, args.weights))
    payload = {
        "model_version": result.model_version,
        "ranking": result.ranking,
        "recognized": result.query.recognized,
        "unknown": unknown_tokens(result.query.unknown),
        "fit": result.fit.to_dict() if result.fit else None,
        "results": [
            {
                "id": h.id,
                "text": h.text,
                "tags": h.tags,
                "image": h.image,
                "distance": round(h.distance, 6),
                "matched": h.matched,
                "weak": h.weak,
            }
            for h in result.hits
        ],
    }
    if args.json:
        print(json.dumps(payload, ensure_ascii=False, indent=2))
        return 0
    if payload["unknown"]:
        print(f"unknown to the model: {', '.join(payload['unknown'])}")
    if result.fit is not None:
        print(("WARNING: " if result.fit.weak else "") + result.fit.describe())
    for rank, hit in enumerate(result.hits, start=1):
        mark = "weak " if hit.weak else "     "
        found = f"  (contains: {', '.join(hit.matched)})" if hit.matched else ""
        print(
            f"{rank:>3}. {mark}{hit.distance:.3f}  {hit.id}  {hit.text[:70]}  "
            f"#{' #'.join(hit.tags)}{found}"
        )
    return 0


def add_annotate(commands: Subcommands) -> None:
    """``annotate``: words and hashtags for a photo."""
    parser = commands.add_parser(
        "annotate",
        help="words and hashtags for a photo",
        description="Top tokens of a modality by p(w|d) = phi @ theta of the query.",
    )
    parser.add_argument("image", type=Path, help="photo to annotate")
    parser.add_argument("--text", default="", help="optional text to go with the photo")
    parser.add_argument("--modality", action="append", help="modality (repeatable)")
    parser.add_argument("-k", type=positive, default=10)
    parser.add_argument(
        "--exclude-query-tokens", action="store_true", help="leave out tokens already in the query"
    )
    parser.add_argument("--json", action="store_true")
    parser.set_defaults(handler=_annotate)


def _annotate(args: argparse.Namespace, settings: Settings) -> int:
    version, annotations = Service(settings).annotate(
        AnnotationRequest(
            _query(args), args.modality, args.k, exclude_query_tokens=args.exclude_query_tokens
        )
    )
    payload = {
        "model_version": version,
        "annotations": {
            modality: [{"token": a.token, "display": a.display, "p": round(a.p, 6)} for a in items]
            for modality, items in annotations.items()
        },
    }
    if args.json:
        print(json.dumps(payload, ensure_ascii=False, indent=2))
        return 0
    for modality, items in annotations.items():
        print(f"{modality}: " + ", ".join(f"{a.display} ({a.p:.3f})" for a in items))
    return 0


def add_topics(commands: Subcommands) -> None:
    """``topics``: the active version's topics."""
    parser = commands.add_parser(
        "topics",
        help="topics of the active version",
        description="Topics with their top terms per modality.",
    )
    parser.add_argument("--json", action="store_true")
    parser.add_argument("-n", type=positive, default=8, help="terms per modality to show")
    parser.set_defaults(handler=_topics)


def _topics(args: argparse.Namespace, settings: Settings) -> int:
    sessions = database.open_database(settings.database_url)
    with sessions() as session:
        version = store.active_version(session)
        if version is None:
            raise CommandError("no active model version: run `python -m core build`")
        topics = [
            {
                "index": t.index,
                "name": t.name,
                "label": t.label,
                "status": t.status,
                "terms": _terms_by_modality(t.terms, args.n),
            }
            for t in store.version_topics(session, version.id)
        ]
        name = version.name
    if args.json:
        print(json.dumps({"model_version": name, "topics": topics}, ensure_ascii=False, indent=2))
        return 0
    for topic in topics:
        print(f"[{topic['index']}] {topic['label']} ({topic['status']})")
        for modality, terms in topic["terms"].items():
            print(f"    {modality}: {', '.join(t['display'] for t in terms)}")
    return 0


def _terms_by_modality(terms, limit: int) -> dict[str, list[dict]]:
    grouped: dict[str, list[dict]] = {}
    for term in sorted(terms, key=lambda t: (t.modality, t.rank)):
        bucket = grouped.setdefault(term.modality, [])
        if len(bucket) < limit:
            bucket.append(
                {"term": term.term, "display": term.display, "p": round(term.probability, 6)}
            )
    return grouped


def add_models(commands: Subcommands) -> None:
    """``models``: list or activate model versions."""
    parser = commands.add_parser(
        "models",
        help="list or activate model versions",
        description="Model versions in the metadata database.",
    )
    model_commands = parser.add_subparsers(required=True, metavar="ACTION")
    listing = model_commands.add_parser("list", help="list versions")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(handler=_models_list)
    activate = model_commands.add_parser("activate", help="make a ready version active")
    activate.add_argument("version", help="version id or name (e.g. 3 or v0003)")
    activate.add_argument("--json", action="store_true")
    activate.set_defaults(handler=_models_activate)
    drift = model_commands.add_parser(
        "drift",
        help="how the additions fit the active version, and whether a retrain is due",
        description="The additions to the live collection against the active version's "
        "training documents, their fit over time and the retrain rule (core/serving/drift.py).",
    )
    drift.add_argument("--json", action="store_true")
    drift.set_defaults(handler=_models_drift)


def _models_list(args: argparse.Namespace, settings: Settings) -> int:
    sessions = database.open_database(settings.database_url)
    with sessions() as session:
        active = store.active_version(session)
        rows = [
            _version_row(v, active.id if active else None) for v in store.list_versions(session)
        ]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    for row in rows:
        mark = "*" if row["active"] else " "
        print(
            f"{mark} {row['id']:>4} {row['name']}  {row['status']:<9} {row['created_at']}  "
            f"{row['documents']} docs, {row['topics']} topics"
        )
    return 0


def _models_activate(args: argparse.Namespace, settings: Settings) -> int:
    sessions = database.open_database(settings.database_url)
    key = int(args.version) if args.version.isdigit() else args.version
    with sessions() as session:
        version = store.get_version(session, key)
    if version is None:
        raise CommandError(f"no model version {args.version!r}")
    if version.status == "ready":
        from core.building.additions import read_additions_into

        # every add reads its documents into every ready version; this covers a version that
        # became ready while an add was running
        read_additions_into(settings, version.id, progress_printer())
    with sessions() as session:
        store.activate_version(session, version.id)
    name = version.name
    if args.json:
        print(json.dumps({"active": name}))
    else:
        print(f"activated {name}")
    return 0


def _models_drift(args: argparse.Namespace, settings: Settings) -> int:
    from core.serving.drift import drift_report

    service = Service(settings)
    active = service.active()
    with service.sessions() as session:
        report = drift_report(active, session)
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
        return 0
    print("\n".join(report.lines()))
    return 0


def _version_row(version, active_id: int | None) -> dict:
    return {
        "id": version.id,
        "name": version.name,
        "status": version.status,
        "active": version.id == active_id,
        "created_at": version.created_at.isoformat(),
        "documents": version.num_documents,
        "topics": version.num_topics,
        "artifact_dir": version.artifact_dir,
    }
