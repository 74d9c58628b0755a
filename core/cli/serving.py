"""The commands that ask the active version: ``search``, ``annotate``, ``topics`` and ``models``."""

from __future__ import annotations

import argparse
import json

from core.cli.common import CommandError, _flat
from core.serving.engine import Query
from core.serving.service import Service
from core.settings import Settings
from core.storage import store


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


def _search(args: argparse.Namespace, settings: Settings) -> int:
    if args.like is not None:
        if args.text or args.image is not None:
            raise CommandError("--like takes no text or --image: the document is the query")
        try:
            result = Service(settings).more_like(args.like, args.k, args.weights)
        except ValueError as error:
            raise CommandError(str(error)) from None
    else:
        result = Service(settings).search(_query(args), args.k, args.weights)
    payload = {
        "model_version": result.model_version,
        "ranking": result.ranking,
        "recognized": result.query.recognized,
        "unknown": _flat(result.query.unknown),
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


def _annotate(args: argparse.Namespace, settings: Settings) -> int:
    version, annotations = Service(settings).annotate(
        _query(args), args.modality, args.k, exclude_query_tokens=args.exclude_query_tokens
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


def _topics(args: argparse.Namespace, settings: Settings) -> int:
    sessions = store.open_database(settings.database_url)
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


def _models_list(args: argparse.Namespace, settings: Settings) -> int:
    sessions = store.open_database(settings.database_url)
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
    sessions = store.open_database(settings.database_url)
    key = int(args.version) if args.version.isdigit() else args.version
    with sessions() as session:
        version = store.get_version(session, key)
        if version is None:
            raise CommandError(f"no model version {args.version!r}")
        store.activate_version(session, version.id)
        name = version.name
    if args.json:
        print(json.dumps({"active": name}))
    else:
        print(f"activated {name}")
    return 0
