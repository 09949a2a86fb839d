"""The registry: precisions and architectures register here, and a variant is one of each.

Like timm's `@register_model`, adding to the zoo is one call in one module: an
architecture (hidden widths, recipe, seed) registered with `register_architecture`
appears in every precision, and a precision class decorated with `@register_precision`
appears for every architecture. Plugins are modules or .py files named in
DIGIT_ZOO_PLUGINS (or passed to `load_plugins`) that make such calls.
"""

from __future__ import annotations

import difflib
import fnmatch
import importlib
import importlib.util
import itertools
import os
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np

from engine.mlp import MLP
from engine.training import Recipe, init_model

INPUT_SIZE, NUM_CLASSES = 784, 10


class Precision:
    """How a trained float model is stored and run: encode to tensors, decode to a model."""

    name: ClassVar[str]
    bits: ClassVar[int]
    experimental: ClassVar[bool] = False
    description: ClassVar[str] = ""

    def encode(self, model: MLP) -> tuple[dict[str, np.ndarray], dict]:
        """Tensors to save and the JSON-able settings `decode` needs besides them."""
        raise NotImplementedError

    def decode(self, tensors: dict[str, np.ndarray], config: dict, sizes: list[int]) -> MLP:
        raise NotImplementedError


@dataclass(frozen=True)
class Architecture:
    name: str
    hidden: tuple[int, ...]
    recipe: Recipe
    seed: int
    precisions: tuple[str, ...] | None  # None: every registered precision
    description: str = ""

    @property
    def sizes(self) -> list[int]:
        return [INPUT_SIZE, *self.hidden, NUM_CLASSES]

    @property
    def num_params(self) -> int:
        s = self.sizes
        return sum(a * b + b for a, b in itertools.pairwise(s))


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

    def create(self) -> MLP:
        """An untrained model, initialised from the architecture's seed."""
        a = self.architecture
        return init_model(a.sizes, a.seed, a.recipe.dtype)

    def describe(self) -> dict:
        a = self.architecture
        return {"name": self.name, "architecture": a.name, "hidden": list(a.hidden),
                "precision": self.precision.name, "bits": self.precision.bits,
                "experimental": self.experimental, "parent": self.parent,
                "params": a.num_params, "seed": a.seed, "recipe": a.recipe.to_dict(),
                "description": " ".join(filter(None, [a.description,
                                                      self.precision.description]))}


PRECISIONS: dict[str, Precision] = {}
ARCHITECTURES: dict[str, Architecture] = {}
_PLUGIN_FILES: set[Path] = set()


class UnknownVariantError(KeyError):
    def __str__(self) -> str:
        return str(self.args[0])


def register_precision(cls: type[Precision]) -> type[Precision]:
    """Class decorator: make a precision available to every architecture."""
    if cls.name in PRECISIONS and type(PRECISIONS[cls.name]) is not cls:
        raise ValueError(f"precision {cls.name!r} is already registered")
    PRECISIONS[cls.name] = cls()
    return cls


def register_architecture(name: str, hidden: tuple[int, ...] | list[int], *,
                          recipe: Recipe | None = None, seed: int = 0,
                          precisions: tuple[str, ...] | None = None,
                          description: str = "") -> Architecture:
    """Register an MLP with these hidden widths; its variants are `<name>-<precision>`."""
    if not hidden or any(int(h) < 1 for h in hidden):
        raise ValueError(f"{name}: hidden widths must be positive, got {hidden!r}")
    arch = Architecture(name, tuple(int(h) for h in hidden), recipe or Recipe(), seed,
                        tuple(precisions) if precisions is not None else None, description)
    if name in ARCHITECTURES and ARCHITECTURES[name] != arch:
        raise ValueError(f"architecture {name!r} is already registered differently")
    ARCHITECTURES[name] = arch
    return arch


def variants(pattern: str = "*") -> list[Variant]:
    """Registered variants whose names match any comma-separated shell-style pattern."""
    patterns = [p.strip() for p in pattern.split(",") if p.strip()] or ["*"]
    found = []
    for arch in ARCHITECTURES.values():
        names = arch.precisions if arch.precisions is not None else tuple(PRECISIONS)
        if arch.recipe.dtype not in names:
            names = (arch.recipe.dtype, *names)
        for p in names:
            if p not in PRECISIONS:
                raise ValueError(f"{arch.name} asks for unregistered precision {p!r}")
            v = Variant(arch, PRECISIONS[p])
            if any(fnmatch.fnmatchcase(v.name, pat) for pat in patterns):
                found.append(v)
    return found


def get_variant(name: str) -> Variant:
    for v in variants():
        if v.name == name:
            return v
    close = difflib.get_close_matches(name, [v.name for v in variants()], n=3)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    raise UnknownVariantError(f"no variant named {name!r}{hint}")


def create(name: str) -> MLP:
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
            importlib.import_module(spec)
