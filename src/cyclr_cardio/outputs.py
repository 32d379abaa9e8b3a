"""One run's output folder: all of it, or the previous one untouched.

``cyclr compare`` writes every file into a staging folder beside the target
(``.NAME.staging-PID``) and, once all are complete, swaps it with the target in one atomic step
(Linux ``renameat2(RENAME_EXCHANGE)``; elsewhere two renames, with the previous folder kept
aside until the new one is in place). A kill at any moment leaves the target holding exactly one
complete run, the previous or the new one; files of an earlier run that the new one does not
write do not survive the swap. Each folder holds ``run.json``: the run's id, command, start
time, cyclr version, and the SHA-256 of every file it wrote, so a reader can tell which run a
file belongs to and that the folder is whole.

A folder that exists but was not written by ``cyclr compare`` (no ``run.json``, and files other
than the ones it writes) is refused, so ``--out .`` can never replace a folder of the user's
own.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import datetime as dt
import hashlib
import json
import os
import shutil
import uuid
from pathlib import Path

import cyclr_cardio

__all__ = ["MANIFEST", "RunFolder", "manifest_problems"]

MANIFEST = "run.json"
#: What ``cyclr compare`` writes: a folder holding only these (an older run, from before
#: ``run.json``) is one it may replace.
OUTPUT_NAMES = frozenset({"runs.csv", "summary.csv", "grid.csv", "report.md", "lr_schedule.png",
                          "val_accuracy.png", "range_test.png", MANIFEST})
_RENAME_EXCHANGE = 2  # linux/fs.h


def _exchange(a: Path, b: Path) -> bool:
    """Swap two existing folders atomically; False where the system cannot."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd = -100
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (22, 38, 95):  # EINVAL, ENOSYS, EOPNOTSUPP: the filesystem cannot exchange
        return False
    raise OSError(err, os.strerror(err), str(b))


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def manifest_problems(folder: Path) -> list[str]:
    """What is wrong with ``folder`` as one complete run: ``[]`` when its ``run.json`` lists
    exactly the files present, each with its recorded SHA-256."""
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        files = manifest["files"]
    except (OSError, ValueError, KeyError, TypeError) as err:
        return [f"{MANIFEST}: {err}"]
    present = {p.name for p in folder.iterdir()} - {MANIFEST}
    problems = [f"{name}: not listed in {MANIFEST}" for name in sorted(present - set(files))]
    for name, digest in sorted(files.items()):
        if name not in present:
            problems.append(f"{name}: missing")
        elif _sha256(folder / name) != digest:
            problems.append(f"{name}: content differs from {MANIFEST}")
    return problems


class RunFolder:
    """The output folder of one run, staged and swapped in whole (see the module docstring).

    Args:
        target: the folder the user named (``--out``).
        command: the command line that produced the run, recorded in ``run.json``.

    Raises (on construction, before anything is trained or written):
        ValueError: ``target`` is a file, a folder not written by ``cyclr compare``, or a
            place where the staging folder cannot be made (a path under a file, a read-only
            place).
    """

    def __init__(self, target: str | os.PathLike, command: str):
        self.target = Path(target)
        if self.target.exists() and not self.target.is_dir():
            raise ValueError(f"Argument `--out` must be a folder. Received: --out={target} "
                             "(an existing file)")
        if self.target.is_dir() and not (self.target / MANIFEST).is_file() and any(
                p.name not in OUTPUT_NAMES for p in self.target.iterdir()):
            raise ValueError(f"Argument `--out` must be a new or empty folder, or one that "
                             f"`cyclr compare` wrote (it holds {MANIFEST}). Received: "
                             f"--out={target} (holds other files, which a run would replace)")
        self.run_id = f"{dt.datetime.now(dt.timezone.utc):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}"
        self.started = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
        self.command = command
        self._remove_stale_staging()
        parent = self.target.parent
        try:
            parent.mkdir(parents=True, exist_ok=True)
            self.staging = parent / f".{self.target.name}.staging-{os.getpid()}"
            shutil.rmtree(self.staging, ignore_errors=True)
            self.staging.mkdir()
        except OSError as err:
            raise ValueError(f"Argument `--out` must be a folder path cyclr can write. Received: "
                             f"--out={target} ({err.strerror}: {err.filename})") from None
        self.files: list[str] = []

    def _remove_stale_staging(self) -> None:
        """Clear what killed runs left beside the target: staging folders, and a previous run
        set aside by the two-rename swap (put back if the target is missing)."""
        parent = self.target.parent
        if not parent.is_dir():
            return
        for kind in ("previous", "staging"):
            for stale in parent.glob(f".{self.target.name}.{kind}-*"):
                pid = stale.name.rsplit("-", 1)[-1]
                if not pid.isdigit() or _alive(int(pid)):
                    continue
                if kind == "previous" and not self.target.exists():
                    os.rename(stale, self.target)
                else:
                    shutil.rmtree(stale, ignore_errors=True)

    def path(self, name: str) -> Path:
        """Where to write the output file ``name`` (in the staging folder)."""
        self.files.append(name)
        return self.staging / name

    @property
    def provenance(self) -> str:
        """One line naming this run, for the outputs that can hold one (report, figures)."""
        return (f"cyclr {cyclr_cardio.__version__} run {self.run_id}, started {self.started}: "
                f"{self.command}")

    def commit(self, seconds: dict[str, float] | None = None) -> None:
        """Write ``run.json`` (with ``seconds`` per phase, if given) and put the staged folder in
        place of the target, in one step."""
        files = {name: _sha256(self.staging / name) for name in dict.fromkeys(self.files)
                 if (self.staging / name).is_file()}
        manifest = {"run": self.run_id, "started": self.started,
                    "finished": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                    "cyclr": cyclr_cardio.__version__, "command": self.command,
                    "seconds": {k: round(v, 2) for k, v in (seconds or {}).items()},
                    "files": files}
        with open(self.staging / MANIFEST, "w", encoding="utf-8") as f:
            json.dump(manifest, f, indent=2)
            f.flush()
            os.fsync(f.fileno())
        if not self.target.exists():
            os.rename(self.staging, self.target)
            return
        if _exchange(self.staging, self.target):
            shutil.rmtree(self.staging)  # now holds the previous run
            return
        aside = self.target.parent / f".{self.target.name}.previous-{os.getpid()}"
        os.rename(self.target, aside)
        os.rename(self.staging, self.target)
        shutil.rmtree(aside)

    def discard(self) -> None:
        """Remove the staging folder; the target keeps the previous run."""
        shutil.rmtree(self.staging, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
