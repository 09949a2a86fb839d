"""Writing into a models folder so that every variant its manifest lists verifies at every
moment: a train.py killed at any point leaves a working zoo.

New files are staged in `<out>/.staging/` (the same filesystem, so a rename moves them).
They are swapped in in an order that never has the manifest list a file whose bytes are not
the ones it records:

1. the new manifest is written into the staging folder (the journal);
2. if a listed variant's files are about to change, the live manifest stops listing it;
3. the staged files are renamed into place;
4. the new manifest replaces the live one.

A kill before 4 leaves the variants being replaced unlisted, never listed and wrong. The
next writer finishes the swap from the journal if every file it lists verifies, and drops
it otherwise; it also removes the temporaries of killed runs. One writer at a time: a lock.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path

from engine.atomic import is_temporary
from engine.model import Model
from zoo.artifacts import ArtifactError, load_variant, read_verified, save_variant
from zoo.manifest import (
    DETECTOR,
    MANIFEST,
    ManifestError,
    read_manifest,
    shipped_files,
    validate_manifest,
    write_manifest,
)
from zoo.registry import Variant

try:
    import fcntl
except ImportError:  # Windows: no advisory locks; one writer is then the user's to ensure
    fcntl = None

STAGING = ".staging"
LOCK = ".train.lock"


class ZooWriteError(RuntimeError):
    """The models folder cannot be written (not a folder, not writable, in use)."""


class ZooWriter:
    """A models folder opened for writing: stage variants, then commit them together with
    the manifest. Use as a context manager; `manifest` is the manifest as committed so far."""

    def __init__(self, out: str | Path):
        self.out = Path(out)
        self.staging = self.out / STAGING
        self.recovered = False
        self.removed: list[Path] = []
        self._lock_file = None
        if self.out.exists() and not self.out.is_dir():
            raise ZooWriteError(f"{self.out} is a file, not a models folder")
        # Folders this writer makes, deepest first: removed again if nothing is committed,
        # so a run that fails before its first architecture leaves no empty models folder.
        self._made = [p for p in (self.out, *self.out.parents) if not p.exists()]
        self._committed = False
        try:
            self.out.mkdir(parents=True, exist_ok=True)
            self._lock()
        except PermissionError as e:
            raise ZooWriteError(f"cannot write to {self.out}: {e.strerror}") from None
        except OSError as e:
            raise ZooWriteError(f"cannot use {self.out} as a models folder: {e}") from None
        try:
            self._recover()
            self._clean()
            # A manifest that exists but does not read stops here: starting afresh would
            # drop every variant it lists.
            self.manifest = (read_manifest(self.out) if (self.out / MANIFEST).exists()
                             else {"variants": {}})
        except BaseException:
            self.close()
            raise

    def _lock(self) -> None:
        self._lock_file = open(self.out / LOCK, "a")  # held, and the lock with it, until close
        if fcntl is None:
            return
        try:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock_file.close()
            raise ZooWriteError(f"another train.py is writing to {self.out}; wait for it to "
                                "finish") from None

    def _recover(self) -> None:
        """Finish the swap a killed run started, if everything it swapped in is in place."""
        journal = self.staging / MANIFEST
        if journal.is_file():
            try:
                manifest = read_manifest(self.staging)
                for name, files in shipped_files(manifest).items():
                    for rel, info in files.items():
                        read_verified(self.out / rel, info, name, self.out)
            except (ManifestError, ArtifactError):
                pass  # not all of it arrived: the live manifest stands on its own
            else:
                write_manifest(self.out, manifest)
                self.recovered = True
        shutil.rmtree(self.staging, ignore_errors=True)

    def _clean(self) -> None:
        """Remove what killed writers leave: atomic_write's temporaries."""
        folders = [self.out, *(p for p in (self.out / "variants").glob("*") if p.is_dir())]
        for folder in folders:
            for path in folder.iterdir():
                if is_temporary(path):
                    with contextlib.suppress(OSError):
                        path.unlink()
                        self.removed.append(path)

    def stage(self, variant: Variant, model: Model) -> dict[str, dict]:
        """Write the variant's files into the staging folder; {path: {"bytes", "sha256"}}."""
        return save_variant(self.staging, variant, model)

    def load_staged(self, name: str, files: dict[str, dict]) -> Model:
        """A staged variant read back and verified, as it will ship."""
        return load_variant(self.staging, name, files)

    def commit(self, entries: dict[str, dict], **fields) -> dict:
        """Swap the staged files of `entries` in, with the manifest that lists them (plus
        top-level `fields`); return that manifest."""
        old = self.manifest["variants"]
        new = {**self.manifest, **fields,
               "variants": dict(sorted({**old, **entries}.items()))}
        validate_manifest(new, f"the new manifest of {self.out}")  # what readers will check
        write_manifest(self.staging, new)  # the journal
        changing = {n for n in entries if n in old and old[n]["files"] != entries[n]["files"]}
        moving = [e["files"] for e in entries.values()]
        before = {**self.manifest, "variants": {n: e for n, e in old.items()
                                                 if n not in changing}}
        if DETECTOR in fields:  # the detector's files swap in the same way
            moving.append(fields[DETECTOR]["files"])
            before.pop(DETECTOR, None)
        if changing or (DETECTOR in fields and DETECTOR in self.manifest):
            write_manifest(self.out, before)
        for files in moving:
            for rel in files:
                (self.out / rel).parent.mkdir(parents=True, exist_ok=True)
                os.replace(self.staging / rel, self.out / rel)
        write_manifest(self.out, new)
        (self.staging / MANIFEST).unlink()
        self.manifest = new
        self._committed = True
        return new

    def close(self) -> None:
        shutil.rmtree(self.staging, ignore_errors=True)
        if self._lock_file is not None:
            self._lock_file.close()  # releases the lock
            self._lock_file = None
            if self._made and not self._committed:
                with contextlib.suppress(OSError):  # rmdir stops at a folder not empty
                    (self.out / LOCK).unlink()
                    for folder in self._made:
                        folder.rmdir()

    def __enter__(self) -> ZooWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
