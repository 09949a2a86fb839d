"""Writing into a models folder so that every variant its manifest lists verifies at every
moment, and a train.py interrupted or killed at any point loses none of them.

New files are staged in `<out>/.staging/` (the same filesystem, so a rename moves them).
They are swapped in in an order that never has the manifest list a file whose bytes are not
the ones it records, and that keeps what it replaces until the new manifest is live:

1. the live manifest is copied to `.staging/old/`, then the new one written into
   `.staging/` (the journal: from here on the swap is finished or undone, never dropped);
2. if a listed variant's files are about to change, the live manifest stops listing it;
3. each changing file is moved to `.staging/old/` (the same path under it), and the staged
   one renamed into place;
4. the new manifest replaces the live one, then the journal and the old files go.

Between 2 and 4 the variants being replaced are unlisted, never listed and wrong. Ctrl-C
waits for the swap's few renames, and for a recovery's. A swap cut short otherwise (an
exception) ends in close(), a kill in the next writer to open the folder: whichever meets
the journal rolls forward if every file the swap brings verifies, staged or in place, and
back otherwise (the old files return, then the old manifest). Either way every variant
listed before is listed again, with its old files or its new ones. The next writer also
removes the temporaries of killed runs. One writer at a time: a lock.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import threading
from collections.abc import Iterator
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
    without_stale_ensembles,
    write_manifest,
)
from zoo.registry import Variant

try:
    import fcntl
except ImportError:  # Windows: no advisory locks; one writer is then the user's to ensure
    fcntl = None

STAGING = ".staging"
OLD = "old"  # in the staging folder: the manifest and files a swap replaces, until it is done
LOCK = ".train.lock"


class ZooWriteError(RuntimeError):
    """The models folder cannot be written (not a folder, not writable, in use)."""


@contextlib.contextmanager
def _sigint_held() -> Iterator[None]:
    """SIGINT (Ctrl-C) waits until the block ends: a swap is a few renames, and one cut
    short by a second Ctrl-C would leave variants unlisted until the next run."""
    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread can set a handler, and only it receives SIGINT
        return
    held = []
    previous = signal.signal(signal.SIGINT, lambda *_: held.append(True))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.SIG_DFL if previous is None else previous)
        if held:
            signal.raise_signal(signal.SIGINT)  # now handled as it would have been


def _files(manifest: dict | None) -> dict[str, dict]:
    """{path: {"bytes", "sha256"}} of every file `manifest` ships."""
    if manifest is None:
        return {}
    return {rel: info for files in shipped_files(manifest).values()
            for rel, info in files.items()}


def _brought(old: dict | None, new: dict) -> set[str]:
    """The files a swap from `old` to `new` moves in: those `new` lists and `old` does not
    list with the same bytes (a file staged again unchanged has nothing to move)."""
    before = _files(old)
    return {rel for rel, info in _files(new).items() if before.get(rel) != info}


def _without(manifest: dict, paths: set[str]) -> dict:
    """`manifest` less every entry that lists one of `paths`."""
    out = {**manifest, "variants": {n: e for n, e in manifest["variants"].items()
                                    if not paths & set(e["files"])}}
    if DETECTOR in out and paths & set(out[DETECTOR]["files"]):
        del out[DETECTOR]
    return without_stale_ensembles(out)


class ZooWriter:
    """A models folder opened for writing: stage variants, then commit them together with
    the manifest. Use as a context manager; `manifest` is the manifest as committed so far.
    `recovered` / `rolled_back`: a swap left half-done was finished / undone."""

    def __init__(self, out: str | Path):
        self.out = Path(out)
        self.staging = self.out / STAGING
        self.recovered = self.rolled_back = False
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
            self._unlock()
            raise

    @property
    def repairs(self) -> list[str]:
        """What opening the folder mended after interrupted runs, one sentence each."""
        return [line for done, line in (
            (self.recovered, f"finished the manifest update an interrupted run left in {self.out}"),
            (self.rolled_back, f"undid the manifest update an interrupted run left in {self.out} "
                               "(its new files did not all verify): the zoo is as it was before "
                               "that run"),
            (self.removed, f"removed {len(self.removed)} temporary file(s) interrupted runs "
                           f"left in {self.out}")) if done]

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
        """Finish the swap an interrupted or killed run left, if every file it brings is
        staged or in place and verifies; else undo it. Then drop the staging folder."""
        if (self.staging / MANIFEST).is_file():
            old = (read_manifest(self.staging / OLD)
                   if (self.staging / OLD / MANIFEST).is_file() else None)
            with _sigint_held():
                try:
                    new = read_manifest(self.staging)
                    self._verify(old, new)
                except (ManifestError, ArtifactError):
                    self._roll_back(old)
                    self.rolled_back = True
                else:
                    self._swap(old, new)
                    self.recovered = True
        shutil.rmtree(self.staging, ignore_errors=True)

    def _verify(self, old: dict | None, new: dict) -> None:
        """ArtifactError unless every file `new` brings (lists, and `old` does not list with
        those bytes) is staged or in place with the bytes `new` records."""
        brought = _brought(old, new)
        for name, files in shipped_files(new).items():
            for rel, info in files.items():
                if rel in brought:
                    root = self.staging if (self.staging / rel).exists() else self.out
                    read_verified(root / rel, info, name, root)

    def _swap(self, old: dict | None, new: dict) -> None:
        """Steps 2 to 4 of the swap, from wherever an interrupted run left them."""
        brought = _brought(old, new)
        changing = brought & set(_files(old))
        if changing:
            write_manifest(self.out, _without(old, changing))
        for rel in _files(new):
            staged, live, kept = self.staging / rel, self.out / rel, self.staging / OLD / rel
            if rel not in brought or not staged.exists():
                continue  # unchanged, or moved in already
            if rel in changing and live.exists() and not kept.exists():
                kept.parent.mkdir(parents=True, exist_ok=True)
                os.replace(live, kept)
            live.parent.mkdir(parents=True, exist_ok=True)
            os.replace(staged, live)
        write_manifest(self.out, new)
        self._drop_journal()

    def _roll_back(self, old: dict | None) -> None:
        """Put back the files a swap moved aside, then the manifest that lists them."""
        kept = self.staging / OLD
        backups = {p.relative_to(kept).as_posix(): p for p in kept.rglob("*")
                   if p.is_file() and p != kept / MANIFEST and not is_temporary(p)}
        if old is not None and backups:
            write_manifest(self.out, _without(old, set(backups)))
        for rel, path in backups.items():
            os.replace(path, self.out / rel)
        if old is not None:
            write_manifest(self.out, old)
        self._drop_journal()

    def _drop_journal(self) -> None:
        (self.staging / MANIFEST).unlink()  # first: without it, what is left is litter
        shutil.rmtree(self.staging / OLD, ignore_errors=True)

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
        old = self.manifest if self.manifest["variants"] else None
        # An ensemble whose member changes loses its figures until train.py measures it
        # again (its `ensembles` field, when given, is measured on these entries).
        new = without_stale_ensembles({
            **self.manifest, **fields,
            "variants": dict(sorted({**self.manifest["variants"], **entries}.items()))})
        validate_manifest(new, f"the new manifest of {self.out}")  # what readers will check
        self._verify(old, new)  # a swap that starts can finish
        with _sigint_held():
            if old is not None:
                write_manifest(self.staging / OLD, old)  # what a roll back returns to
            write_manifest(self.staging, new)  # the journal
            self._swap(old, new)
        self.manifest = new
        self._committed = True
        return new

    def close(self) -> None:
        """Finish or undo a swap an interrupt cut short, drop what is staged, unlock."""
        try:
            self._recover()
        finally:
            self._unlock()

    def _unlock(self) -> None:
        if self._lock_file is not None:
            if self._made and not self._committed:
                # unlinked while still held: a writer starting now must not lock a file
                # that is about to go
                with contextlib.suppress(OSError):
                    (self.out / LOCK).unlink()
            self._lock_file.close()  # releases the lock
            self._lock_file = None
            if self._made and not self._committed:
                with contextlib.suppress(OSError):  # rmdir stops at a folder not empty
                    for folder in self._made:
                        folder.rmdir()

    def __enter__(self) -> ZooWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
