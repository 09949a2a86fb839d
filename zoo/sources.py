"""Where a zoo lives: a local models folder or a Hub repo, behind one interface.

Both give `manifest` (what was trained and measured: its valid entries), `problems` (why
each other entry cannot be used), `names` (the usable variants), `label` (where it came
from, for people) and `load(name)` (a verified, runnable model).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from engine.model import Model
from zoo.artifacts import load_variant
from zoo.manifest import DETECTOR, ManifestError, entry, read_usable

REPO_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+")


def default_models_dir() -> Path:
    """The shipped `models/` beside this package, unless ZOO_MODELS_DIR says otherwise."""
    return Path(os.environ.get("ZOO_MODELS_DIR") or Path(__file__).resolve().parent.parent
                / "models")


class LocalZoo:
    """A models folder: manifest.json and variants/<name>/ files."""

    def __init__(self, models_dir: str | Path):
        self.models_dir = Path(models_dir)
        self.manifest, self.problems = read_usable(self.models_dir)

    @property
    def names(self) -> list[str]:
        return sorted(self.manifest["variants"])

    @property
    def label(self) -> str:
        return ("the shipped zoo (models/)" if self.models_dir == default_models_dir()
                else f"local {self.models_dir}")

    def load(self, name: str) -> Model:
        if name in self.problems:
            raise ManifestError(self.problems[name])
        files = entry(self.manifest, name).get("files") or {}  # none listed: refused
        return load_variant(self.models_dir, name, files)

    def load_detector(self) -> Model | None:
        """The not-a-digit detector the manifest lists (hash-checked), or None when it
        lists none."""
        d = self.manifest.get(DETECTOR)
        if d is None:
            if DETECTOR in self.problems:
                raise ManifestError(self.problems[DETECTOR])
            return None
        return load_variant(self.models_dir, d["name"], d["files"])


class UnavailableZoo:
    """No zoo could be opened: the interface of one with nothing in it, and the reason, so
    an app can start and say why instead of failing to start."""

    def __init__(self, reason: str, label: str = "no zoo"):
        self.reason, self.label = reason, label
        self.manifest: dict = {"variants": {}}
        self.problems: dict[str, str] = {}

    @property
    def names(self) -> list[str]:
        return []

    def load(self, name: str) -> Model:
        raise ManifestError(f"no variant {name!r}: {self.reason}")

    def load_detector(self) -> None:
        return None


def open_zoo(source: str | Path | None = None, revision: str | None = None, **hub_kwargs):
    """The zoo at `source`: None for the shipped models/, a folder, or a Hub repo id
    ("namespace/name", at `revision`; `hub_kwargs` as for `zoo.hub.open_zoo`)."""
    if source is None:
        return LocalZoo(default_models_dir())
    if isinstance(source, Path) or Path(source).is_dir():
        if revision is not None or hub_kwargs:
            raise ValueError("revision and Hub options are for Hub repos, not folders")
        return LocalZoo(source)
    if REPO_ID.fullmatch(source):
        from zoo import hub  # the Hub client is only imported by those who use it

        return hub.open_zoo(source, revision, **hub_kwargs)
    raise ManifestError(f"{source!r} is neither a models folder nor a Hub repo id "
                        "(namespace/name)")
