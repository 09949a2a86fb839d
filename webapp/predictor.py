"""Serving the zoo: load variants once, run a drawing through each, and time it.

No Gradio here: the app is a thin face on this, and tests and benchmarks use it directly.
A variant that fails to load fails alone, with its message; the rest keep answering. Each
variant loads once, in a thread of its own, so a slow first load (a Hub download) holds up
only the requests that want that variant, and those for at most `load_wait` seconds; a
failure is remembered with its reason (a Hub that could not be reached is asked again
after a minute), not retried, re-read and re-hashed on every request.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

import zoo
from engine.explain import input_times_gradient
from engine.functional import softmax
from engine.model import Model
from engine.preprocess import DrawingError, preprocess
from engine.views import AS_GIVEN, read
from webapp.canvas import to_array
from zoo.artifacts import ArtifactError
from zoo.hub import HubError, HubUnreachableError, repo_from_env
from zoo.manifest import DETECTOR, ManifestError
from zoo.report import ordered
from zoo.sources import UnavailableZoo
from zoo.voting import average

log = logging.getLogger("digit_zoo.predictor")
LOAD_WAIT = 15.0  # seconds a request waits for a variant's first load, then answers without it
RETRY_AFTER = 60.0  # seconds before a variant the Hub could not deliver is asked for again


@dataclass
class _Load:
    """One variant's load: started once, awaited by every request that wants the variant."""

    done: threading.Event = field(default_factory=threading.Event)
    model: Model | None = None
    error: Exception | None = None
    retry_at: float = math.inf  # when a failed load may be tried again

    def stale(self) -> bool:
        return self.done.is_set() and self.error is not None and time.monotonic() >= self.retry_at


def _again(e: Exception) -> Exception:
    """A fresh copy of a remembered error: raising the same object on every request would
    grow its traceback without end."""
    try:
        return type(e)(*e.args)
    except Exception:  # an exception class that cannot be rebuilt from its args
        return ArtifactError(str(e))


UNCHECKED = "Drawings are not checked for being digits"
# A detector's answers: the ten digits then "not a digit", or (as zoos before shipped) digit
# and "not a digit". The last class is the one asked about either way.
DETECTOR_CLASSES = ((11,), (2,))
NOT_A_DIGIT = ("That does not look like one digit (letters, shapes, numbers of several "
               "digits and scribbles are not); draw a single digit 0-9.")


@dataclass
class Prediction:
    status: str  # "ok", "not_a_digit", "blank", "stray", "full" or "error"
    message: str
    image: np.ndarray  # the 28x28 input the models saw
    probabilities: dict[str, list[float]] = field(default_factory=dict)
    ms: dict[str, float] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    # softmax(logits / T) with each variant's fitted temperature (its manifest entry)
    calibrated: dict[str, list[float]] = field(default_factory=dict)
    not_a_digit: float | None = None  # the detector's P(not a digit), when it ran
    unchecked: str = ""  # why the detector did not judge this drawing, for the page
    # with explain: each variant's input-times-gradient map of its answer, and the
    # preprocessing steps' images (engine.preprocess stages)
    saliency: dict[str, np.ndarray] = field(default_factory=dict)
    stages: dict[str, np.ndarray] | None = None

    def to_json(self, with_input: bool = False) -> dict:
        """The API's answer; the 28x28 input (about 10 KB of JSON) only when asked for.

        A drawing judged not one digit has no answer: its variants' readings are kept under
        "if_a_digit", a name no client takes for one, and the answer's own are empty.
        """
        readings = {"probabilities": self.probabilities,
                    "top": {n: int(np.argmax(p)) for n, p in self.probabilities.items()},
                    "calibrated": self.calibrated}
        refused = self.status == "not_a_digit"
        answer = {"status": self.status, "message": self.message,
                  **({k: {} for k in readings} if refused else readings),
                  "ms": self.ms, "errors": self.errors, "not_a_digit": self.not_a_digit}
        if refused:
            answer["if_a_digit"] = readings
        if with_input:
            answer["input"] = np.round(self.image, 3).tolist()
        if self.saliency:
            answer["saliency"] = {n: np.round(m, 5).tolist() for n, m in self.saliency.items()}
        return answer


class Predictor:
    """The zoo's variants, from a Hub repo or a local models folder, loaded on first use."""

    def __init__(self, repo: str | None = None, revision: str | None = None,
                 models_dir: str | Path | None = None, *, load_wait: float = LOAD_WAIT,
                 source: zoo.Zoo | None = None):
        """The zoo at `repo` (a Hub repo id, at `revision`), else in `models_dir`, else the
        shipped one; or `source`, a zoo already opened (a worker process serving the
        server's zoo, the same files)."""
        notices = []
        self.zoo = source
        if repo and source is None:
            try:
                self.zoo = zoo.open(repo, revision)
            except Exception as e:  # whatever the Hub did, the app starts on the shipped zoo
                notices.append(f"Could not open the Hub zoo ({e}); showing the shipped zoo.")
        if self.zoo is None:
            folder = Path(models_dir or zoo.default_models_dir())
            try:
                self.zoo = zoo.LocalZoo(folder)
            except ManifestError as e:  # an app with nothing to show still starts and says so
                self.zoo = UnavailableZoo(str(e), f"no zoo ({folder} could not be read)")
                notices.append(f"No models to show: {e}")
        self.manifest = self.zoo.manifest
        self.ensembles: dict[str, dict] = self.zoo.ensembles
        self.problems: dict[str, str] = dict(self.zoo.problems)  # invalid manifest entries
        # Without a detector a letter gets a digit for an answer: the page must say so.
        self._no_detector = self.problems.pop(DETECTOR, None)
        if self._no_detector is None and DETECTOR not in self.manifest \
                and self.manifest["variants"]:
            self._no_detector = f"{self.source} lists no not-a-digit detector"
        if self._no_detector:
            notices.append(f"{UNCHECKED}: {self._no_detector}")
        if self.problems:
            reasons = list(self.problems.values())
            more = "; ..." if len(reasons) > 3 else ""
            notices.append(f"{len(reasons)} variant(s) left out, their manifest entries being "
                           f"invalid: {'; '.join(reasons[:3])}{more}")
        self.notice = " ".join(notices)
        for line in notices:
            log.warning(line)
        self.load_wait = load_wait
        self._loads: dict[str, _Load] = {}
        self._lock = threading.Lock()  # guards _loads; never held while a variant loads
        # The not-a-digit detector loads like a variant: once, in its own thread.
        self.threshold = (self.manifest.get(DETECTOR) or {}).get("threshold")
        self._detector = self._start(DETECTOR, self._load_detector)

    @property
    def source(self) -> str:
        return self.zoo.label

    @classmethod
    def from_env(cls) -> Predictor:
        """ZOO_REPO / ZOO_REVISION select a Hub zoo; without them, the shipped models/."""
        repo, revision = repo_from_env()
        return cls(repo, revision)

    @property
    def entries(self) -> list[dict]:
        return ordered(self.manifest)

    def model(self, name: str) -> Model:
        """The loaded variant; the first call starts its load (a download, or a read, and a
        hash check) and waits for it at most `load_wait` seconds."""
        load = self._load(name)
        if not load.done.wait(self.load_wait):
            raise ArtifactError(f"{name}: still loading from {self.source} after "
                                f"{self.load_wait:g} s; it answers once it has loaded")
        if load.error is not None:
            raise _again(load.error)
        return load.model

    def _load(self, name: str) -> _Load:
        with self._lock:
            load = self._loads.get(name) if isinstance(name, str) else None
            if load is None or load.stale():
                if isinstance(name, str) and name in self.problems:
                    raise ManifestError(self.problems[name])
                if not isinstance(name, str) or name not in self.manifest["variants"]:
                    # not remembered: a request's names must not grow this table
                    raise zoo.UnknownVariantError(f"the zoo has no variant {name!r}")
                load = self._loads[name] = self._start(name)
            return load

    def _start(self, name: str, loader=None) -> _Load:
        """A load of `name` (by `loader`, else from the zoo), begun in a thread of its own."""
        load = _Load()
        threading.Thread(target=self._run, args=(name, load, loader), daemon=True,
                         name=f"digit-zoo load {name}").start()
        return load

    def _run(self, name: str, load: _Load, loader=None) -> None:
        try:
            load.model = self.zoo.load(name) if loader is None else loader()
        except Exception as e:  # remembered and reported by name, never raised here
            ours = isinstance(e, ArtifactError | ManifestError | KeyError | HubError)
            load.error = e if ours else ArtifactError(
                f"{name}: could not load ({e.__class__.__name__}: {e})")
            if isinstance(e, HubUnreachableError):
                load.retry_at = time.monotonic() + RETRY_AFTER
            log.warning("variant %s failed to load: %s", name, load.error)
        finally:
            load.done.set()

    def variant_names(self, names) -> list[str]:
        """The requested variants (or ensembles), each once: a string is one name, anything
        else must be a list of names, at most as many as the zoo holds (a request's work
        stays bounded: an ensemble's members run once however many name them)."""
        if isinstance(names, str):
            names = [names]
        if not isinstance(names, (list, tuple)) or not all(isinstance(n, str) for n in names):
            raise ValueError("variants must be a list of variant names")
        unique = list(dict.fromkeys(names))
        if len(unique) > (most := len(self.manifest["variants"]) + len(self.ensembles)):
            raise ValueError(f"at most {most} variants per request (the zoo's size), not "
                             f"{len(unique)}")
        return unique

    def predict(self, drawing, names: list[str] | str, explain: bool = False) -> Prediction:
        """Every named variant's answer for `drawing`; with `explain`, also why (each
        variant's input-times-gradient map, and the preprocessing steps)."""
        try:
            names = self.variant_names(names)
        except ValueError as e:
            return Prediction("error", f"Bad request: {e}", np.zeros((28, 28)))
        try:
            pre = preprocess(to_array(drawing), stages=explain)
        except DrawingError as e:
            return Prediction("error", f"Cannot read that image: {e}", np.zeros((28, 28)))
        except Exception as e:  # a payload no check foresaw still gets an answer, not a 500
            log.exception("preprocessing failed on a %s", type(drawing).__name__)
            return Prediction("error", f"Cannot read that image ({type(e).__name__})",
                              np.zeros((28, 28)))
        result = Prediction(pre.status, pre.message, pre.image, stages=pre.stages)
        if not pre.ok:
            return result
        x = pre.x
        result.not_a_digit, why = self._check(x)
        if why:
            result.unchecked = f"{UNCHECKED}: {why}"
        if result.not_a_digit is not None and result.not_a_digit > self.threshold:
            result.status, result.message = "not_a_digit", NOT_A_DIGIT
        # Each variant runs once, whether named or voting in a named ensemble (one whose
        # members read several views runs them itself); only the named ones get rows (and,
        # explained, a saliency map: a refused drawing's readings are no answers, so
        # nothing to explain).
        shown = [n for n in names if n not in self.ensembles]
        voters = [m for n in names if n in self.ensembles and self._views(n) == (AS_GIVEN,)
                  for m in self.ensembles[n]["members"]]
        answers = {n: self._answer(n, x, explain and n in shown and result.status == "ok")
                   for n in dict.fromkeys([*shown, *voters])}
        for name in names:
            if name in self.ensembles:
                self._vote(result, name, answers, x, explain and result.status == "ok")
                continue
            answer = answers[name]
            if isinstance(answer, str):
                result.errors[name] = answer
                continue
            result.ms[name], probs, cal, saliency = answer
            result.probabilities[name] = [float(p) for p in probs]
            result.calibrated[name] = [float(p) for p in cal]
            if saliency is not None:
                result.saliency[name] = saliency
        return result

    def _answer(self, name: str, x: np.ndarray, explain: bool) -> tuple | str:
        """(ms, probabilities, calibrated probabilities, saliency or None) of one variant
        for the input `x`, or why it has none."""
        try:
            model = self.model(name)
        except Exception as e:  # one broken variant must not take the others down
            log.warning("variant %s failed to load: %s", name, e)
            return str(e)
        try:  # a plugin family's pass can fail too: it costs that variant's row only
            start = time.perf_counter()
            logits = model.forward(x)[0]
            ms = 1000 * (time.perf_counter() - start)
            t = self.manifest["variants"][name].get("temperature", 1.0)
            saliency = input_times_gradient(model, x) if explain else None
            return ms, softmax(logits), softmax(logits / t), saliency
        except Exception as e:
            log.exception("variant %s failed to answer", name)
            return f"{name}: could not answer ({type(e).__name__}: {e})"

    def _vote(self, result: Prediction, name: str, answers: dict, x: np.ndarray,
              explain: bool) -> None:
        """The ensemble's row: its members' calibrated probabilities averaged (zoo.voting),
        each member's first averaged over the ensemble's views when it reads more than the
        drawing as given; a member that cannot answer leaves the ensemble without one. With
        `explain`, its map: the members' input-times-gradient of the ensemble's answer on
        the drawing as given, each on its calibrated scale (divided by its temperature),
        averaged."""
        members, views = self.ensembles[name]["members"], self._views(name)
        temperature = {m: self.manifest["variants"][m].get("temperature", 1.0) for m in members}
        if views == (AS_GIVEN,):  # the members' own answers are their readings
            if failed := next((m for m in members if isinstance(answers[m], str)), None):
                result.errors[name] = (f"{name}: its member {failed} has no answer "
                                       f"({answers[failed]})")
                return
            readings = [answers[m][2] for m in members]
            result.ms[name] = sum(answers[m][0] for m in members)
        else:
            readings, start = [], time.perf_counter()
            for m in members:
                try:
                    readings.append(read(self.model(m), x, temperature[m], views)[0])
                except Exception as err:  # a member's load error, or a plugin's pass
                    result.errors[name] = f"{name}: its member {m} has no answer ({err})"
                    return
            result.ms[name] = 1000 * (time.perf_counter() - start)
        vote = [float(p) for p in average(readings)]
        result.probabilities[name] = result.calibrated[name] = vote
        if explain:
            digit = int(np.argmax(vote))
            try:
                result.saliency[name] = np.mean([
                    input_times_gradient(self.model(m), x, digit) / temperature[m]
                    for m in members], axis=0).astype(np.float32)
            except Exception:  # its answer stands; only the picture of why is missing
                log.exception("ensemble %s could not be explained", name)

    def _views(self, ensemble: str) -> tuple[str, ...]:
        return tuple(self.ensembles[ensemble].get("views", [AS_GIVEN]))

    def _load_detector(self) -> Model | None:
        model = self.zoo.load_detector()
        if model is not None and \
                model.shapes(model.config())[f"{model.classifier}.bias"] not in DETECTOR_CLASSES:
            raise ArtifactError(f"{model.name}: the detector must answer 11 classes (the ten "
                                "digits, then not a digit) or 2 (digit, not a digit)")
        return model

    def not_a_digit(self, x: np.ndarray) -> float | None:
        """The detector's probability that the 28x28 input `x` is not one digit; None when
        the zoo has no detector or it could not load (the answer then goes unchecked)."""
        return self._check(x)[0]

    def _check(self, x: np.ndarray) -> tuple[float | None, str | None]:
        """(the detector's P(not a digit) for `x`, None) or (None, why it did not judge):
        a detector that fails to load does so in its thread, after the page was built, so
        each answer carries the reason."""
        if self._no_detector:
            return None, self._no_detector
        with self._lock:
            if self._detector.stale():  # the Hub was unreachable: ask again, as for variants
                self._detector = self._start(DETECTOR, self._load_detector)
            load = self._detector
        if not load.done.wait(self.load_wait):
            return None, f"the not-a-digit detector is still loading from {self.source}"
        if load.error is not None:
            return None, str(load.error)
        if load.model is None:
            return None, f"{self.source} lists no not-a-digit detector"
        try:
            probs = softmax(load.model.forward(x)[0])
        except Exception as e:
            log.exception("the not-a-digit detector failed to answer")
            return None, f"the not-a-digit detector failed ({type(e).__name__}: {e})"
        # its last class is "not a digit"; any other count is not a detector's answer
        if probs.shape not in DETECTOR_CLASSES:
            return None, f"the not-a-digit detector answered {probs.size} classes, not 11 or 2"
        return float(probs[-1]), None
