"""The content-addressed, resumable artifact cache: `ROOT/<kind>/<key>/`, whole or absent.

One cache for the whole tool: the pipeline's runner keeps each step's artifact here
(pipeline/runner.py) and training keeps its checkpoints and per-training results here
(train/transfer.py), each under the key of what it depends on.

An artifact is written into a fresh `.tmp-*` directory of its kind; when its files are
complete, `artifact.json` is written and synced there and the directory is renamed to its
key. So an artifact directory exists whole or not at all: killing the process at any point
(Ctrl-C, SIGKILL) leaves at most a `.tmp-*` directory, which is never read and which the next
holder of the lock deletes. One process at a time per cache (an exclusive lock).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from fixynn.errors import FixynnError

ARTIFACT_JSON = "artifact.json"
TMP_PREFIX = ".tmp-"
LOCK = ".lock"
log = logging.getLogger("fixynn.store")


def content_key(doc: Any) -> str:
    """sha256 of a JSON-able document (keys sorted): the key of what depends on it."""
    return hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()


class Store:
    """Artifacts under `root`, addressed by (kind, key)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self._held = False

    def path(self, kind: str, key: str) -> Path:
        return self.root / kind / key

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the cache's lock; then every `.tmp-*` left in it is stale and is removed.

        Re-entrant for this object, so a caller can hold it across several users."""
        if self._held:
            yield
            return
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / LOCK, "w") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError as exc:
                raise FixynnError(
                    f"{self.root.parent}: another `fixynn run` or `fixynn transfer` is using "
                    "this output directory; wait for it or pass a different --out"
                ) from exc
            self._remove_stale_temps()
            self._held = True
            try:
                yield
            finally:
                self._held = False

    def _remove_stale_temps(self) -> None:
        for tmp in self.root.glob(f"*/{TMP_PREFIX}*"):
            log.info("removing unfinished artifact %s", tmp)
            shutil.rmtree(tmp, ignore_errors=True)

    def load(self, kind: str, key: str) -> dict[str, Any] | None:
        """The `artifact.json` document of a finished artifact, or None when there is none
        (or it is unreadable: then it is deleted, to be redone)."""
        path = self.path(kind, key)
        try:
            return json.loads((path / ARTIFACT_JSON).read_text())
        except FileNotFoundError:
            return None
        except (OSError, json.JSONDecodeError):
            # Only a crash of the disk itself can get here (the directory is renamed into
            # place after artifact.json is synced); redo the work rather than trust it.
            log.warning("unreadable artifact %s, redoing it", path)
            shutil.rmtree(path, ignore_errors=True)
            return None

    def work_dir(self, kind: str) -> Path:
        """A fresh temporary directory to build an artifact of `kind` in."""
        (self.root / kind).mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix=TMP_PREFIX, dir=self.root / kind))

    def seal(self, work: Path, kind: str, key: str, doc: dict[str, Any]) -> Path:
        """Write `doc` as `work`'s artifact.json (synced), then rename `work` to its key."""
        with open(work / ARTIFACT_JSON, "w") as f:
            json.dump(doc, f, indent=1, sort_keys=True, default=str)
            f.flush()
            os.fsync(f.fileno())
        final = self.path(kind, key)
        os.replace(work, final)  # final cannot exist: the lock holder found it absent
        return final

    def put(self, kind: str, key: str, doc: dict[str, Any],
            write: Callable[[Path], None] | None = None) -> Path:
        """A new artifact: `write(dir)` puts its files in, `doc` becomes its artifact.json;
        on any exception (Ctrl-C included) nothing is left behind."""
        work = self.work_dir(kind)
        try:
            if write is not None:
                write(work)
            return self.seal(work, kind, key, doc)
        except BaseException:
            shutil.rmtree(work, ignore_errors=True)
            raise
