"""FolderWatcher on ``watchfiles`` (the Rust ``notify`` crate: inotify on Linux, FSEvents on
macOS, ReadDirectoryChangesW on Windows): a folder source's folder is watched, recursively,
so a change is synced seconds after it happens instead of at the next scheduled scan.

One thread per folder, each with its own watch: adding or removing a source never restarts
another's watch (no window where changes are missed), and a folder that vanishes, becomes
unreadable or exhausts the kernel's watches stops only its own. Such a folder is reported
as changed once (the run it triggers records the reason in the source's status), and its
watch is tried again every ``retry_seconds`` while the source exists.

Changes the folder's scan would not see are ignored here too: hidden files and folders,
and paths that resolve out of the folder (links). A burst is grouped by ``watchfiles``
itself: a folder's changes are reported once it has been quiet for ``debounce_ms`` (or
after ten times that under a constant stream), so fifty files written at once give one
report.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path

from ragd.domain.models import utcnow

log = logging.getLogger("ragd.sources")

RETRY_SECONDS = 30.0
"""How long a folder whose watch failed waits before it is tried again."""
CHECK_MS = 1000
"""How often an idle watch checks that its folder is still there (and its stop signal)."""
JOIN_SECONDS = 5.0


def unwatchable(path: str, roots: list[Path] | None = None) -> str | None:
    """Why this folder cannot be watched now, or ``None``. With ``roots``, a folder outside
    them is refused (they may have changed since the source was saved: its run says so)."""
    p = Path(path)
    if roots is not None and not any(p == r or p.is_relative_to(r) for r in roots):
        return f"{path} is outside the allowed roots (RAGD_SOURCES_FOLDER_ROOTS)"
    try:
        if not p.exists():
            return f"folder {path} not found"
        if not p.is_dir():
            return f"{path} is not a folder"
    except OSError as exc:
        return f"cannot read {path}: {exc.strerror or exc}"
    if not os.access(p, os.R_OK | os.X_OK):
        return f"cannot read {path}: permission denied"
    return None


def counts(root: Path, path: str) -> bool:
    """Whether a change at ``path`` is one the folder's scan would see (or the folder
    itself going away)."""
    p = Path(path)
    if p == root:
        return True
    try:
        rel = p.relative_to(root)
    except ValueError:
        return False
    if any(part.startswith(".") for part in rel.parts):
        return False
    try:
        return p.resolve().is_relative_to(root)  # a link out of the folder is not the source's
    except (OSError, RuntimeError):
        return True  # cannot tell (a loop, a race with a delete): let the scan decide


def _identity(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


class _Watch:
    """One folder's watch, on a thread of its own."""

    def __init__(self, key: str, path: str, owner: WatchfilesWatcher) -> None:
        self.key = key
        self.path = path
        self.owner = owner
        self.stop_event = threading.Event()
        self.error: str | None = None
        self.thread = threading.Thread(target=self._run, name=f"ragd-watch-{key[:8]}", daemon=True)

    @property
    def alive(self) -> bool:
        return self.thread.is_alive()

    def _run(self) -> None:
        from watchfiles import watch

        root = Path(self.path)
        identity = _identity(self.path)
        debounce = self.owner.debounce_ms
        try:
            for batch in watch(
                self.path,
                watch_filter=None,
                step=debounce,
                debounce=debounce * 10,
                stop_event=self.stop_event,
                rust_timeout=max(CHECK_MS, debounce),
                yield_on_timeout=True,
                raise_interrupt=False,
                ignore_permission_denied=True,
            ):
                if any(counts(root, path) for _, path in batch):
                    self.owner.report(self.key)
                reason = unwatchable(self.path)
                if reason is None and _identity(self.path) != identity:
                    reason = f"folder {self.path} was replaced"
                if reason is not None:
                    self._fail(reason)
                    return
        except Exception as exc:  # an OS limit, the folder gone as the watch began, ...
            self._fail(f"cannot watch {self.path}: {exc}")

    def _fail(self, reason: str) -> None:
        if self.stop_event.is_set():
            return  # stopped on purpose: whatever happened meanwhile is not a failure
        self.error = reason
        log.warning("source %s: %s; watched again in %.0fs", self.key, reason, RETRY_SECONDS)
        self.owner.report(self.key)  # its run records the reason in the source's status


class WatchfilesWatcher:
    def __init__(
        self,
        *,
        debounce_ms: int,
        roots: list[str] | None = None,
        retry_seconds: float = RETRY_SECONDS,
    ) -> None:
        self.debounce_ms = debounce_ms
        self.roots = None if roots is None else [Path(r).resolve() for r in roots]
        self.retry_seconds = retry_seconds
        self._watches: dict[str, _Watch] = {}
        self._failed: dict[str, tuple[str, str, float]] = {}
        """key -> (path, reason, when to try again: ``time.monotonic()``)."""
        self._changed: dict[str, datetime] = {}
        self._lock = threading.Lock()

    def report(self, key: str) -> None:
        with self._lock:
            self._changed[key] = utcnow()

    def watch(self, folders: Mapping[str, str]) -> dict[str, str]:
        now = time.monotonic()
        stopped: list[_Watch] = []
        for key, w in list(self._watches.items()):
            if folders.get(key) == w.path and w.alive:
                continue
            del self._watches[key]
            if not w.alive and w.error is not None:
                self._failed[key] = (w.path, w.error, now + self.retry_seconds)
            w.stop_event.set()
            stopped.append(w)
        for key in [k for k, (p, _, _) in self._failed.items() if folders.get(k) != p]:
            del self._failed[key]  # removed or moved: a new path gets a fresh try
        errors: dict[str, str] = {}
        for key, path in folders.items():
            if key in self._watches:
                continue
            failed = self._failed.get(key)
            if failed is not None and now < failed[2]:
                errors[key] = failed[1]
                continue
            reason = unwatchable(path, self.roots)
            if reason is not None:
                if failed is None:
                    log.warning("source %s: %s; not watched", key, reason)
                    self.report(key)  # once: its run records the reason in the status
                self._failed[key] = (path, reason, now + self.retry_seconds)
                errors[key] = reason
                continue
            if failed is not None:
                log.info("source %s: watching %s again", key, path)
                self.report(key)  # changes while it was not watched: a run catches up
                del self._failed[key]
            w = _Watch(key, path, self)
            w.thread.start()
            self._watches[key] = w
        for w in stopped:
            w.thread.join(JOIN_SECONDS)
        return errors

    def changed(self) -> dict[str, datetime]:
        with self._lock:
            out, self._changed = self._changed, {}
        return out

    def close(self) -> None:
        watches = list(self._watches.values())
        self._watches.clear()
        for w in watches:
            w.stop_event.set()
        for w in watches:
            w.thread.join(JOIN_SECONDS)
