"""Where a zoo lives, behind one interface: a local models folder, a Hub repo (zoo.hub.pull),
or none at all.

Every zoo gives `manifest` (what was trained and measured: its valid entries), `problems`
(why each other entry cannot be used), `names` (the usable variants), `label` (where it
came from, for people), `load(name)` (a verified, runnable model), `load_ensemble(name)`
(its members, voting) and `load_detector()`.
A zoo differs from another only in `_load`: where a variant's bytes come from.
"""

from __future__ import annotations

import os
from pathlib import Path

from engine.model import Model
from engine.views import AS_GIVEN
from zoo.artifacts import load_variant
from zoo.manifest import DETECTOR, ENSEMBLES, ManifestError, entry, read_usable
from zoo.voting import Vote


def default_models_dir() -> Path:
    """The shipped `models/` beside this package, unless ZOO_MODELS_DIR says otherwise."""
    return Path(os.environ.get("ZOO_MODELS_DIR") or Path(__file__).resolve().parent.parent
                / "models")


class Zoo:
    """The interface: subclasses set `manifest` and `problems` and say how to `_load`."""

    manifest: dict
    problems: dict[str, str]

    @property
    def names(self) -> list[str]:
        return sorted(self.manifest["variants"])

    @property
    def label(self) -> str:
        raise NotImplementedError

    def _load(self, name: str, files: dict) -> Model:
        """The variant `name`, its `files` checked against their manifest entries."""
        raise NotImplementedError

    def _missing(self, error: ManifestError) -> Exception:
        """What `load` raises for a name the manifest does not list."""
        return error

    def load(self, name: str) -> Model:
        if name in self.problems:
            raise ManifestError(self.problems[name])
        try:
            files = entry(self.manifest, name).get("files") or {}  # none listed: refused
        except ManifestError as e:
            raise self._missing(e) from None
        return self._load(name, files)

    @property
    def ensembles(self) -> dict[str, dict]:
        """The usable ensembles' manifest entries, by name."""
        return self.manifest.get(ENSEMBLES, {})

    def load_ensemble(self, name: str) -> Vote:
        """The ensemble `name`: each member loaded (verified) and calibrated as the
        manifest says, voting."""
        if name in self.problems:
            raise ManifestError(self.problems[name])
        if name not in self.ensembles:
            raise self._missing(ManifestError(
                f"the manifest lists no ensemble {name!r}; it has "
                f"{', '.join(sorted(self.ensembles)) or 'none'}"))
        e = self.ensembles[name]
        return Vote(name, {m: self.load(m) for m in e["members"]},
                    {m: self.manifest["variants"][m].get("temperature", 1.0)
                     for m in e["members"]}, e.get("views", [AS_GIVEN]))

    def load_detector(self) -> Model | None:
        """The not-a-digit detector the manifest lists (hash-checked), or None when it
        lists none."""
        d = self.manifest.get(DETECTOR)
        if d is None:
            if DETECTOR in self.problems:
                raise ManifestError(self.problems[DETECTOR])
            return None
        return self._load(d["name"], d["files"])


class LocalZoo(Zoo):
    """A models folder: manifest.json and variants/<name>/ files."""

    def __init__(self, models_dir: str | Path):
        self.models_dir = Path(models_dir)
        self.manifest, self.problems = read_usable(self.models_dir)

    @property
    def label(self) -> str:
        return ("the shipped zoo (models/)" if self.models_dir == default_models_dir()
                else f"local {self.models_dir}")

    def _load(self, name: str, files: dict) -> Model:
        return load_variant(self.models_dir, name, files)


class UnavailableZoo(Zoo):
    """No zoo could be opened: one with nothing in it, and the reason, so an app can start
    and say why instead of failing to start."""

    def __init__(self, reason: str, label: str = "no zoo"):
        self.reason, self._label = reason, label
        self.manifest: dict = {"variants": {}}
        self.problems: dict[str, str] = {}

    @property
    def label(self) -> str:
        return self._label

    def _missing(self, error: ManifestError) -> Exception:
        return ManifestError(f"{error}: {self.reason}")
