"""Serving the zoo: load variants once, run a drawing through each, and time it.

No Gradio here: the app is a thin face on this, and tests and benchmarks use it directly.
A variant that fails to load fails alone, with its message; the rest keep answering.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

import zoo
from engine.model import Model
from engine.preprocess import DrawingError, preprocess
from zoo.canvas import to_array
from zoo.manifest import ManifestError
from zoo.report import ordered

log = logging.getLogger("digit_zoo.predictor")


@dataclass
class Prediction:
    status: str  # "ok", "blank", "stray", "full" or "error"
    message: str
    image: np.ndarray  # the 28x28 input the models saw
    probabilities: dict[str, list[float]] = field(default_factory=dict)
    ms: dict[str, float] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    def to_json(self, with_input: bool = False) -> dict:
        """The API's answer; the 28x28 input (about 10 KB of JSON) only when asked for."""
        answer = {"status": self.status, "message": self.message,
                  "probabilities": self.probabilities,
                  "top": {n: int(np.argmax(p)) for n, p in self.probabilities.items()},
                  "ms": self.ms, "errors": self.errors}
        if with_input:
            answer["input"] = np.round(self.image, 3).tolist()
        return answer


class Predictor:
    """The zoo's variants, from a Hub repo or a local models folder, loaded on first use."""

    def __init__(self, repo: str | None = None, revision: str | None = None,
                 models_dir: str | Path | None = None):
        self.notice = ""
        self.zoo = None
        if repo:
            from zoo.hub import HubError

            try:
                self.zoo = zoo.open(repo, revision)
            except (HubError, ManifestError) as e:
                self.notice = f"Could not open the Hub zoo ({e}); showing the shipped zoo."
                log.warning(self.notice)
        if self.zoo is None:
            self.zoo = zoo.LocalZoo(models_dir or zoo.default_models_dir())
        self.manifest = self.zoo.manifest
        self._models: dict[str, Model] = {}
        self._lock = threading.Lock()

    @property
    def source(self) -> str:
        return self.zoo.label

    @classmethod
    def from_env(cls) -> Predictor:
        """ZOO_REPO / ZOO_REVISION select a Hub zoo; without them, the shipped models/."""
        from zoo.hub import repo_from_env

        repo, revision = repo_from_env()
        return cls(repo, revision)

    @property
    def entries(self) -> list[dict]:
        return ordered(self.manifest)

    def model(self, name: str) -> Model:
        """The loaded variant; the first call downloads or reads and verifies it."""
        with self._lock:
            if name not in self._models:
                if name not in self.manifest["variants"]:
                    raise zoo.UnknownVariantError(f"the zoo has no variant {name!r}")
                self._models[name] = self.zoo.load(name)
            return self._models[name]

    def variant_names(self, names) -> list[str]:
        """The requested variants, each once: a string is one name, anything else must be a
        list of names, at most as many as the zoo holds (a request's work stays bounded)."""
        if isinstance(names, str):
            names = [names]
        if not isinstance(names, (list, tuple)) or not all(isinstance(n, str) for n in names):
            raise ValueError("variants must be a list of variant names")
        unique = list(dict.fromkeys(names))
        if len(unique) > len(self.manifest["variants"]):
            raise ValueError(f"at most {len(self.manifest['variants'])} variants per request "
                             f"(the zoo's size), not {len(unique)}")
        return unique

    def predict(self, drawing, names: list[str] | str) -> Prediction:
        try:
            names = self.variant_names(names)
        except ValueError as e:
            return Prediction("error", f"Bad request: {e}", np.zeros((28, 28)))
        try:
            pre = preprocess(to_array(drawing))
        except DrawingError as e:
            return Prediction("error", f"Cannot read that image: {e}", np.zeros((28, 28)))
        result = Prediction(pre.status, pre.message, pre.image)
        if not pre.ok:
            return result
        x = pre.x
        for name in names:
            try:
                model = self.model(name)
            except Exception as e:  # one broken variant must not take the others down
                log.warning("variant %s failed to load: %s", name, e)
                result.errors[name] = str(e)
                continue
            start = time.perf_counter()
            probs = model.predict_proba(x)[0]
            result.ms[name] = 1000 * (time.perf_counter() - start)
            result.probabilities[name] = [float(p) for p in probs]
        return result
