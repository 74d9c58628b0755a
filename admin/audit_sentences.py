"""The audit log in sentences of the reader's language: "renamed topic 12 from 'x' to 'y'",
"rolled back from v0003 to v0002", "added modality @source (3,201 tokens) ...".

An entry keeps what was asked and what changed as data (``admin.auth.action`` and
``audit_note``); the words come from ``interface.messages`` when the log is read. An entry this
module cannot put in a sentence (written before an action noted what it changed, or refused
before it ran) is shown as the action's name and its details.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from core.storage.admin_tables import AuditEntry
from core.storage.modality_names import DisplayName
from interface.i18n import modality_label, plural, t, t_or

Details = Mapping[str, Any]


def audit_sentence(entry: AuditEntry) -> str:
    """What the entry's user did, as one sentence; a failed action's error follows it."""
    details = entry.details or {}
    sentence = None
    if entry.action in SENTENCES and (entry.outcome != "denied" or entry.action == "sign_in"):
        try:
            sentence = SENTENCES[entry.action](details)
        except (KeyError, TypeError, ValueError, AttributeError):  # an entry of an older shape
            sentence = None
    if sentence is None:
        name = t_or(f"action_{entry.action}", entry.action)
        plain = details_text({k: v for k, v in details.items() if k != "error"})
        sentence = f"{name}: {plain}" if plain else name
    if entry.outcome == "error" and details.get("error"):
        sentence = t("audit_failed", sentence=sentence, error=details["error"])
    return sentence


def details_text(details: Mapping[str, Any] | None) -> str:
    """Details as "name: value" pairs, lists and maps written out plainly."""

    def plain(value: Any) -> str:
        if isinstance(value, Mapping):
            return ", ".join(f"{key}={plain(item)}" for key, item in value.items())
        if isinstance(value, list | tuple):
            return ", ".join(plain(item) for item in value)
        return str(value)

    return "; ".join(f"{key}: {plain(value)}" for key, value in (details or {}).items())


def _status(status: str) -> str:
    return t_or(f"topic_{status}", status)


def _label(label: str | None) -> str:
    return t_or(f"label_{label}", label) if label else t("label_none")


def _then(details: Details) -> str:
    return t("audit_goes_live") if details.get("activate") else t("audit_waits")


def _number(value: float) -> str:
    return f"{value:g}"


def _edit_topic(details: Details) -> str:
    topic = details["topic"]
    # What changed is noted as {"from": ..., "to": ...}; what did not is the argument as given.
    label, status = details.get("label"), details.get("status")
    parts = []
    if isinstance(label, Mapping):
        parts.append(t("audit_renamed_topic", topic=topic, old=label["from"], new=label["to"]))
    if isinstance(status, Mapping):
        parts.append(
            t(
                "audit_topic_status",
                topic=topic,
                old=_status(status["from"]),
                new=_status(status["to"]),
            )
        )
    if isinstance(details.get("note"), Mapping):
        parts.append(t("audit_topic_note", topic=topic))
    if not parts:
        parts.append(t("audit_topic_unchanged", topic=topic))
    return t("audit_in_version", what="; ".join(parts), version=details["version"])


def _set_topic_statuses(details: Details) -> str:
    status = _status(details["status"])
    changed = details["changed"]
    if not changed:
        return t("audit_statuses_unchanged", status=status, version=details["version"])
    topics = ", ".join(
        t("audit_topic_was", topic=index, old=_status(old)) for index, old in changed
    )
    return t("audit_statuses", topics=topics, status=status, version=details["version"])


def _activate(details: Details) -> str:
    if details["from"] is None:
        return t("audit_activated_first", new=details["to"])
    return t("audit_activated", new=details["to"], old=details["from"])


def _roll_back(details: Details) -> str | None:
    if details["to"] is None:
        return None
    return t("audit_rolled_back", old=details["from"], new=details["to"])


def _live_weights(details: Details) -> str:
    changes = details["weights"]
    if not changes:
        return t("audit_weights_unchanged", version=details["version"])
    listed = ", ".join(
        f"{modality_label(name, {}, staff=True)} {_number(change['from'])} → "
        f"{_number(change['to'])}"
        for name, change in changes.items()
    )
    return t("audit_weights", version=details["version"], changes=listed)


def _start_build(details: Details) -> str:
    collection = details.get("collection") or t("audit_configured_collection")
    return t("audit_build", collection=collection, job=details["job"])


def _start_retrain(details: Details) -> str:
    changes = ", ".join(f"{key} = {value}" for key, value in (details.get("changes") or {}).items())
    return t(
        "audit_retrain",
        parent=details["parent"],
        changes=t("audit_with", changes=changes) if changes else "",
        job=details["job"],
        then=_then(details),
    )


def _start_add_modality(details: Details) -> str:
    modality = details["modality"]
    named = "name_en" in details  # entries written before names existed have none
    names = {modality: DisplayName(details["name_en"], details["name_ru"])} if named else {}
    return t(
        "audit_add_modality",
        modality=modality_label(modality, names, staff=True),
        tokens=plural("audit_tokens", details["tokens"]),
        parent=details["parent"],
        how=t("audit_retrain_all") if details["retrain"] else t("audit_frozen"),
        job=details["job"],
        then=_then(details),
    )


def _start_reindex(details: Details) -> str:
    weights = ", ".join(f"{name} {_number(weight)}" for name, weight in details["weights"].items())
    return t(
        "audit_reindex", parent=details["parent"], weights=weights, job=details["job"],
        then=_then(details),
    )  # fmt: skip


def _label_document(details: Details) -> str:
    return t(
        "audit_labelled",
        document=details["doc_id"],
        new=_label(details["label"]),
        old=_label(details["from"]),
    )


def _apply_junk_filter(details: Details) -> str:
    return t(
        "audit_junk_filter",
        hidden=plural("audit_documents", details["report"]),
        before=details["hidden_before"],
    )


def _sign_in(details: Details) -> str:
    if reason := details.get("reason"):
        reason = t_or(f"audit_reason_{reason.replace(' ', '_')}", reason)
        return t("audit_sign_in_refused", reason=reason)
    return t("audit_signed_in")


SENTENCES: dict[str, Callable[[Details], str | None]] = {
    "edit_topic": _edit_topic,
    "set_topic_statuses": _set_topic_statuses,
    "activate": _activate,
    "roll_back": _roll_back,
    "delete_version": lambda d: t("audit_deleted_version", version=d["version_name"]),
    "apply_live_weights": _live_weights,
    "start_build": _start_build,
    "queue_photos": lambda d: t(
        "audit_queued_photos", photos=plural("audit_photos", d["photos"]), job=d["job"]
    ),
    "take_down_document": lambda d: t("audit_took_down", document=d["doc_id"], reason=d["reason"]),
    "take_down": lambda d: t("audit_took_down", document=d["document"], reason=d["reason"]),
    "start_retrain": _start_retrain,
    "start_add_modality": _start_add_modality,
    "start_reindex": _start_reindex,
    "cancel_job": lambda d: t("audit_cancelled_job", job=d["job_id"]),
    "label_document": _label_document,
    "clear_document_label": lambda d: t(
        "audit_cleared_label", document=d["doc_id"], old=_label(d["from"])
    ),
    "start_junk_filter_training": lambda d: t("audit_junk_training", job=d["job"]),
    "apply_junk_filter": _apply_junk_filter,
    "unhide_all": lambda d: t(
        "audit_unhid", documents=plural("audit_documents", d["hidden_before"])
    ),
    "add_user": lambda d: t("audit_added_user", name=d["name"], role=t(f"role_{d['role']}")),
    "reset_user": lambda d: t("audit_reset_user", name=d["name"], role=t(f"role_{d['role']}")),
    "set_role": lambda d: t(
        "audit_set_role", name=d["name"], old=t(f"role_{d['from']}"), new=t(f"role_{d['to']}")
    ),
    "remove_user": lambda d: t("audit_removed_user", name=d["name"], role=t(f"role_{d['role']}")),
    "sign_in": _sign_in,
    "sign_out": lambda d: t("audit_signed_out", sessions=plural("audit_sessions", d["sessions"])),
    "session_expired": lambda d: t(
        "audit_session_expired", sessions=plural("audit_sessions", d["sessions"])
    ),
}
