"""The registry: families, architectures and precisions register here; a variant is an
architecture in a precision.

Like timm's `@register_model`, adding to the zoo is one call in one module:
- a *family* (`register_family`) is a model class implementing `engine.model.Model`;
- an *architecture* (`register_architecture`) is a family plus its config, recipe and seed,
  and appears in every registered precision;
- a *precision* (`@register_precision`) stores any family's named tensors its own way,
  and appears for every architecture;
- an *ensemble* (`register_ensemble`) is a named set of variants whose calibrated
  probabilities are averaged (zoo.voting), each member reading the drawing one or more ways
  (engine.views); train.py evaluates it like a variant.
Plugins are modules or .py files named in DIGIT_ZOO_PLUGINS (or passed to `load_plugins`)
that make such calls.
"""

from __future__ import annotations

import difflib
import fnmatch
import importlib
import importlib.util
import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np

from engine.model import Model
from engine.qat import QAT
from engine.training import Recipe, init_model
from engine.views import AS_GIVEN, check_views

# A variant's name becomes a folder name (variants/<name>/) here and on the Hub, so it is
# kept to characters that cannot climb out of it or mean anything to a shell or a URL.
NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9_-]|\.(?!\.)){0,99}")


def is_valid_name(name: object) -> bool:
    """Whether `name` may be a variant's (or an architecture's or a precision's) name."""
    return isinstance(name, str) and NAME.fullmatch(name) is not None


def _check_name(kind: str, name: object) -> None:
    if not is_valid_name(name):
        raise ValueError(f"{kind} name {name!r} must be 1-100 letters, digits, '-', '_' or "
                         "'.' (no '..'), starting with a letter or digit")


class Precision:
    """How a trained float model is stored and run, whatever its family.

    `encode` turns the model's named tensors into the tensors to save (plus JSON-able
    settings); `decode` turns saved tensors back into named float tensors (and optional
    `<layer>.weight_scale` output scales) that the family builds a model from.
    """

    name: ClassVar[str]
    bits: ClassVar[int]
    experimental: ClassVar[bool] = False
    description: ClassVar[str] = ""
    # Set: fine-tune each variant from its float parent with quantisation in the loop,
    # for finetune_epochs at finetune_lr (Variant.finetune).
    qat: QAT | None = None
    finetune_epochs: ClassVar[int] = 0
    finetune_lr: ClassVar[float] = 0.0

    def encode(self, model: Model) -> tuple[dict[str, np.ndarray], dict]:
        raise NotImplementedError

    def decode(self, tensors: dict[str, np.ndarray], config: dict,
               shapes: dict[str, tuple[int, ...]]) -> dict[str, np.ndarray]:
        raise NotImplementedError


def _plain(config: dict) -> dict:
    """The config as JSON would give it back (lists, not tuples), so saved and registered
    configs compare equal."""
    return json.loads(json.dumps(config))


# With `train.py --drawings`, every architecture trained on MNIST is then fine-tuned on
# MNIST plus drawings (zoo.drawings): its recipe, shorter and gentler. Chosen on the
# held-out training images and drawings of another seed: 1 epoch at 1e-4 cost small
# networks up to 0.14 points of MNIST, 2 at 3e-5 under 0.1, for about the same gain on
# held-out drawn digits (3-6 points).
DRAWINGS_EPOCHS, DRAWINGS_LR = 2, 3e-5


@dataclass(frozen=True)
class Architecture:
    name: str
    family: str
    config: dict
    recipe: Recipe
    seed: int
    precisions: tuple[str, ...] | None  # None: every registered precision
    description: str = ""

    def __hash__(self) -> int:
        return hash(self.name)  # the registry keeps names unique

    @property
    def model_class(self) -> type[Model]:
        return family(self.family)

    @property
    def num_params(self) -> int:
        return self.model_class.count_params(self.config)

    @property
    def shape(self) -> str:
        return self.model_class.describe_shape(self.config)

    @property
    def drawings(self) -> Recipe:
        """The fine-tune on MNIST plus drawings that follows training on MNIST."""
        return self.recipe.with_(epochs=DRAWINGS_EPOCHS, lr=DRAWINGS_LR, warmup_epochs=0.0)

    def init(self, seed: int | None = None) -> Model:
        """An untrained model in the recipe's dtype, initialised as training starts it."""
        return init_model(self.model_class, self.config, self.seed if seed is None else seed,
                          self.recipe.dtype)


@dataclass(frozen=True)
class Variant:
    architecture: Architecture
    precision: Precision

    @property
    def name(self) -> str:
        return f"{self.architecture.name}-{self.precision.name}"

    @property
    def parent(self) -> str | None:
        """The variant this one is derived from: the float precision it was trained in."""
        trained = f"{self.architecture.name}-{self.architecture.recipe.dtype}"
        return None if trained == self.name else trained

    @property
    def experimental(self) -> bool:
        return self.precision.experimental

    def create(self) -> Model:
        """An untrained model in this variant's precision: initialised from the
        architecture's seed, then stored and read back as this precision stores it."""
        return self.convert(self.architecture.init())

    def convert(self, model: Model) -> Model:
        """A trained float `model` of this architecture, as this precision stores and runs
        it (in memory: what saving and loading would give)."""
        a = self.architecture
        tensors, config = self.precision.encode(model.folded())
        out = a.model_class.from_state_dict(
            a.config, self.precision.decode(tensors, config, a.model_class.shapes(a.config)))
        out.name = self.name
        return out

    @property
    def finetune(self) -> Recipe | None:
        """The quantisation-aware fine-tuning this variant gets from its float parent, if
        its precision asks for it: the architecture's recipe, shorter, gentler, and with
        the precision's fake quantisation in the loop."""
        p = self.precision
        if p.qat is None:
            return None
        return self.architecture.recipe.with_(
            epochs=p.finetune_epochs, lr=p.finetune_lr, warmup_epochs=0.0, qat=p.qat)

    def describe(self) -> dict:
        a = self.architecture
        return {"name": self.name, "architecture": a.name, "family": a.family,
                "shape": a.shape, "model_config": a.config,
                "precision": self.precision.name, "bits": self.precision.bits,
                "experimental": self.experimental, "parent": self.parent,
                "params": a.num_params, "seed": a.seed, "recipe": a.recipe.to_dict(),
                "description": " ".join(filter(None, [a.description,
                                                      self.precision.description]))}


@dataclass(frozen=True)
class Ensemble:
    name: str
    members: tuple[str, ...]  # variant names
    description: str = ""
    views: tuple[str, ...] = (AS_GIVEN,)  # engine.views: how each member reads a drawing


FAMILIES: dict[str, type[Model]] = {}
PRECISIONS: dict[str, Precision] = {}
ARCHITECTURES: dict[str, Architecture] = {}
ENSEMBLES: dict[str, Ensemble] = {}
_PLUGIN_FILES: set[Path] = set()


class UnknownVariantError(KeyError):
    def __str__(self) -> str:
        return str(self.args[0])


def register_family(name: str, model_class: type[Model] | None = None):
    """Make a model family available by name; usable as `@register_family("name")`.

    The class implements `engine.model.Model`: `shapes`, `from_state_dict`, `config`,
    `state_dict`, `classifier`, `describe_shape`, `_forward` and `_backward`.
    """
    def add(cls: type[Model]) -> type[Model]:
        if not (isinstance(cls, type) and issubclass(cls, Model)):
            raise TypeError(f"family {name!r}: {cls!r} does not implement engine.model.Model")
        if name in FAMILIES and FAMILIES[name] is not cls:
            raise ValueError(f"family {name!r} is already registered")
        FAMILIES[name] = cls
        return cls

    return add if model_class is None else add(model_class)


def family(name: str) -> type[Model]:
    if name not in FAMILIES:
        raise ValueError(f"unknown model family {name!r}; registered: {sorted(FAMILIES)}")
    return FAMILIES[name]


def register_precision(cls: type[Precision]) -> type[Precision]:
    """Class decorator: make a precision available to every architecture."""
    _check_name("precision", cls.name)
    if cls.name in PRECISIONS and type(PRECISIONS[cls.name]) is not cls:
        raise ValueError(f"precision {cls.name!r} is already registered")
    PRECISIONS[cls.name] = cls()
    return cls


def register_architecture(name: str, family_name: str, config: dict, *,
                          recipe: Recipe | None = None, seed: int = 0,
                          precisions: tuple[str, ...] | None = None,
                          description: str = "") -> Architecture:
    """Register `family_name` with this config; its variants are `<name>-<precision>`."""
    _check_name("architecture", name)
    config = _plain(config)
    family(family_name).shapes(config)  # a config the family cannot build fails here
    arch = Architecture(name, family_name, config, recipe or Recipe(), seed,
                        tuple(precisions) if precisions is not None else None, description)
    if name in ARCHITECTURES and ARCHITECTURES[name] != arch:
        raise ValueError(f"architecture {name!r} is already registered differently")
    ARCHITECTURES[name] = arch
    return arch


def register_ensemble(name: str, members: list[str] | tuple[str, ...], *,
                      views: Sequence[str] = (AS_GIVEN,), description: str = "") -> Ensemble:
    """Register the ensemble `name` of two or more variants (named; they may come from
    plugins registered later, so they are checked when it is evaluated), each member
    reading every drawing in each of `views` (engine.views) before they vote."""
    _check_name("ensemble", name)
    members = tuple(members)
    if len(members) < 2 or len(set(members)) != len(members):
        raise ValueError(f"ensemble {name!r} needs two or more distinct members, not "
                         f"{list(members)}")
    for m in members:
        _check_name("member", m)
    if name in ARCHITECTURES or any(name.startswith(f"{a}-") for a in ARCHITECTURES):
        raise ValueError(f"ensemble {name!r} would read as a variant's name")
    ens = Ensemble(name, members, description, check_views(views))
    if name in ENSEMBLES and ENSEMBLES[name] != ens:
        raise ValueError(f"ensemble {name!r} is already registered differently")
    ENSEMBLES[name] = ens
    return ens


def _matcher(pattern: str):
    """Whether a name matches any of the comma-separated shell-style patterns."""
    patterns = [p.strip() for p in pattern.split(",") if p.strip()] or ["*"]
    return lambda name: any(fnmatch.fnmatchcase(name, pat) for pat in patterns)


def ensembles(pattern: str = "*") -> list[Ensemble]:
    """Registered ensembles whose names match any comma-separated shell-style pattern."""
    matches = _matcher(pattern)
    return [e for e in ENSEMBLES.values() if matches(e.name)]


def variants(pattern: str = "*") -> list[Variant]:
    """Registered variants whose names match any comma-separated shell-style pattern."""
    matches = _matcher(pattern)
    found = []
    for arch in ARCHITECTURES.values():
        names = arch.precisions if arch.precisions is not None else tuple(PRECISIONS)
        if arch.recipe.dtype not in names:
            names = (arch.recipe.dtype, *names)
        for p in names:
            if p not in PRECISIONS:
                raise ValueError(f"{arch.name} asks for unregistered precision {p!r}")
            v = Variant(arch, PRECISIONS[p])
            if matches(v.name):
                found.append(v)
    return found


def get_variant(name: str) -> Variant:
    for v in variants():
        if v.name == name:
            return v
    close = difflib.get_close_matches(name, [v.name for v in variants()], n=3)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    raise UnknownVariantError(f"no variant named {name!r}{hint}")


def create(name: str) -> Model:
    """An untrained model of the named variant, in its precision."""
    return get_variant(name).create()


def load_plugins(specs: list[str] | str | None = None) -> None:
    """Import plugin modules (dotted names or .py paths); default: $DIGIT_ZOO_PLUGINS."""
    if specs is None:
        specs = os.environ.get("DIGIT_ZOO_PLUGINS", "")
    if isinstance(specs, str):
        specs = [s for s in specs.split(os.pathsep) if s.strip()]
    for spec in specs:
        if spec.endswith(".py"):
            path = Path(spec).expanduser().resolve()
            if not path.is_file():
                raise FileNotFoundError(f"plugin file {path} does not exist")
            if path in _PLUGIN_FILES:  # registering twice would clash with itself
                continue
            _PLUGIN_FILES.add(path)
            mod_name = f"digit_zoo_plugin_{path.stem}_{abs(hash(str(path)))}"
            module_spec = importlib.util.spec_from_file_location(mod_name, path)
            module = importlib.util.module_from_spec(module_spec)
            module_spec.loader.exec_module(module)
        else:
            try:
                importlib.import_module(spec)
            except ModuleNotFoundError as e:
                if e.name not in (spec, spec.split(".")[0]):
                    raise  # the plugin exists but imports something missing: show that
                raise FileNotFoundError(f"plugin module {spec!r} not found (give a module "
                                        "importable from here, or a path to a .py file)") from e
