"""Folders a CMS exports into: new and changed files are ingested, a deleted file takes its articles
along. The watcher wakes a folder's poll on file events (``watchfiles``) and rescans every
``interval`` anyway (the fallback when events are unavailable, e.g. on network shares).

A poll compares each file's size and modification time (and its ``.meta.yaml`` sidecar's) with
the last scan. A file still being written is read on a later poll, so it is read once, complete:
it is settled when it was modified at least ``settle`` seconds ago, when scans ``settle`` seconds
apart found it unchanged (a clock that runs behind the file server's), or when its modification
time lies more than ``settle`` in the future. A file that a process on this machine still holds
open for writing is not settled while its writer pauses, up to ``OPEN_WRITER_PATIENCE`` unchanged
(a daemon that keeps an export open for good is still read) (Linux: ``/proc``; a writer on
another machine of a network share cannot be seen, so there ``settle`` must outlast its pauses,
or the writer writes under a hidden or temporary name and renames the finished file, which
``Loader.walk`` never lists before). The first scan that finds every file settled reads
the whole folder and removes articles from below it whose files are gone, exactly like ``newsbot
ingest --sync DIR``; after that, the state remembers which articles each file contributed."""

from __future__ import annotations

import os
import time
from pathlib import Path

from bot.sources.base import Context, Plan, SourceError
from bot.sources.config import FolderSource
from bot.sources.state import Item, SourceState
from index.loaders import Problem
from index.loaders.formats import SIDECAR_SUFFIX

OPEN_WRITER_PATIENCE = 300.0  # seconds unchanged after which a file held open for writing is read anyway


def poll_folder(ctx: Context, source: FolderSource, state: SourceState) -> Plan:
    new = state.copy()
    plan = Plan(new)
    root = source.path
    if not root.is_dir():
        raise SourceError(f"{root} is not a directory")
    wall = time.time()  # file times are wall-clock times, whatever clock the scheduler runs on
    files = {str(path): path for path in ctx.loader.walk(root)}
    ready: list[tuple[str, Path, str]] = []  # (key, path, signature) of the files that may be read
    writing: set[tuple[int, int]] | None = None  # files open for writing, looked up once a poll when needed
    for key, path in files.items():
        try:
            signature, modified, identity = _signature(path)
        except OSError:  # gone between the listing and now: the next scan sees it gone
            continue
        item = new.items.get(key)
        if item is None or item.fingerprint != signature:
            item = item or new.items.setdefault(key, Item(first_seen=ctx.now))
            if writing is None:
                writing = open_for_writing(root)
            held = identity in writing and wall - modified < max(source.settle, OPEN_WRITER_PATIENCE)
            if held or not _settled(item, signature, modified, wall, ctx.now, source.settle):
                plan.again_in = source.settle  # still being written
                continue
        ready.append((key, path, signature))
    # The sync needs every file read in one poll (what it does not see loaded, it removes), so
    # until it is done, a poll that finds every file settled reads the unchanged ones again too.
    sync = not new.synced and len(ready) == len(files)
    for key, path, signature in ready:
        item = new.items[key]
        if item.fingerprint == signature and not sync:
            continue
        if ctx.stopping.is_set():
            plan.again_in, sync = 0.0, False
            break
        results = list(ctx.loader.load_file(path))
        articles = plan.ingest(results)
        ids = [a.id for a in articles]
        if any(isinstance(r, Problem) and r.fatal for r in results):
            ids = sorted(set(ids) | set(item.article_ids))  # a record that failed keeps its old version
        else:
            for old in set(item.article_ids) - set(ids):
                plan.removals[old] = f"no longer in {key}"
        item.fingerprint, item.article_ids, item.settling = signature, ids, None
    for key in [k for k in new.items if k not in files]:
        for article_id in new.items.pop(key).article_ids:
            plan.removals[article_id] = f"{key} was deleted"
    provided = {article_id for item in new.items.values() for article_id in item.article_ids}
    plan.removals = {aid: why for aid, why in plan.removals.items() if aid not in provided}
    if sync:
        # Every file was read in this poll: articles from below the folder that none of them
        # holds (files deleted while nobody watched) go, as with ``ingest --sync``.
        plan.sync_dirs.append(root)
        new.synced = True
    return plan


def _settled(item: Item, signature: str, modified: float, wall: float, now: float, settle: float) -> bool:
    """Whether a new or changed file is done being written (see the module docstring); ``item``
    remembers the signature scans found, and since when (``now``: the scheduler's clock)."""
    if wall - modified >= settle or modified - wall > settle:
        return True
    if item.settling != signature:
        item.settling, item.settling_since = signature, now
        return False
    return now - item.settling_since >= settle


def open_for_writing(root: Path) -> set[tuple[int, int]]:
    """(device, inode) of the files below ``root`` that a process holds open for writing, as far as
    ``/proc`` shows them (another user's processes only to root; empty where there is no ``/proc``)."""
    found: set[tuple[int, int]] = set()
    prefix = str(root.resolve())
    try:
        pids = [entry for entry in os.scandir("/proc") if entry.name.isdigit()]
    except OSError:
        return found
    for pid in pids:
        try:
            fds = list(os.scandir(f"{pid.path}/fd"))
        except OSError:  # gone, or not ours to look at
            continue
        for fd in fds:
            try:
                if not os.readlink(fd.path).startswith(prefix):
                    continue
                with open(f"{pid.path}/fdinfo/{fd.name}", encoding="ascii") as info:
                    flags = next(int(line.split()[1], 8) for line in info if line.startswith("flags:"))
                if flags & (os.O_WRONLY | os.O_RDWR):
                    stat = os.stat(fd.path)
                    found.add((stat.st_dev, stat.st_ino))
            except (OSError, StopIteration, ValueError, IndexError):
                continue
    return found


def _signature(path: Path) -> tuple[str, float, tuple[int, int]]:
    """(size and mtime of the file and its sidecar, the newer mtime in seconds, the file's (device,
    inode): what ``open_for_writing`` finds)."""
    stat = path.stat()
    signature = f"{stat.st_size}:{stat.st_mtime_ns}"
    modified = stat.st_mtime
    sidecar = path.with_name(path.stem + SIDECAR_SUFFIX)
    try:
        side = sidecar.stat()
        signature += f"+{side.st_size}:{side.st_mtime_ns}"
        modified = max(modified, side.st_mtime)
    except OSError:
        pass
    return signature, modified, (stat.st_dev, stat.st_ino)
