"""Configuration in one place: environment variables, then an optional TOML file, then defaults.

Every variable starts with ``TOPICSEARCH_``; the file named by ``TOPICSEARCH_CONFIG`` (if any) holds
the same keys in lower case without the prefix. Environment variables win over the file.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
BUILTIN_COLLECTION = REPO_ROOT / "data" / "collection"
ENV_PREFIX = "TOPICSEARCH_"

# New builds' image backbone: EfficientNet-Lite0 named 16 of 20 photos from outside every
# collection against SqueezeNet's 13, with higher annotation F1 (reports/eval.md, "Backbones"),
# at 39 ms per photo against 21.
DEFAULT_BACKBONE = "efficientnet_lite0"


@dataclass(frozen=True)
class Settings:
    """Where things live and which backbone to use; model parameters live in ``ModelParams``."""

    data_dir: Path = REPO_ROOT / "var"
    database_url: str = ""
    backbone: str = DEFAULT_BACKBONE
    inception_weights: Path = field(default_factory=lambda: REPO_ROOT / "var" / "inception_v3.h5")
    collection: Path = BUILTIN_COLLECTION

    def __post_init__(self) -> None:
        if not self.database_url:
            object.__setattr__(
                self, "database_url", f"sqlite:///{self.data_dir / 'metadata.sqlite3'}"
            )

    @property
    def models_dir(self) -> Path:
        return self.data_dir / "models"

    @property
    def cache_dir(self) -> Path:
        return self.data_dir / "cache"

    @property
    def uploads_dir(self) -> Path:
        """Photos uploaded on the admin page "Add photos", until the job worker adds them."""
        return self.data_dir / "uploads"


def load_settings(environ: dict[str, str] | None = None) -> Settings:
    """Settings from ``environ`` (default: ``os.environ``) and the optional config file."""
    env = dict(os.environ if environ is None else environ)
    values: dict[str, str] = {}
    config_file = env.get(ENV_PREFIX + "CONFIG")
    if config_file:
        with open(config_file, "rb") as handle:
            values.update({k.lower(): str(v) for k, v in tomllib.load(handle).items()})
    for key, value in env.items():
        if key.startswith(ENV_PREFIX) and key != ENV_PREFIX + "CONFIG":
            values[key[len(ENV_PREFIX) :].lower()] = value
    known = {f.name: f for f in fields(Settings)}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ValueError(f"unknown setting(s) {unknown}; known: {sorted(known)}")
    kwargs: dict[str, object] = {}
    for name, value in values.items():
        kwargs[name] = value if name in ("database_url", "backbone") else Path(value)
    if "data_dir" in kwargs and "inception_weights" not in kwargs:
        kwargs["inception_weights"] = Path(kwargs["data_dir"]) / "inception_v3.h5"  # type: ignore[arg-type]
    return Settings(**kwargs)  # type: ignore[arg-type]
