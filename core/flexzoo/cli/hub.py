"""``zoo lock``, ``zoo fetch`` and ``zoo cache verify``: a manifest's outside files, pinned, cached and checked."""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Any

from flexzoo.cli.render import add_quiet_option, emit_json
from flexzoo.errors import FlexzooError


def register(verbs: Any) -> None:
    lock = verbs("lock", "resolve every outside file of a manifest (pretrained weights, artifacts, ONNX and data "
                 "files) to a commit and sha256, and write MANIFEST.lock beside it", cmd_lock)
    lock.add_argument("manifest")
    lock.add_argument("--upgrade", action="store_true",
                      help="resolve every reference again (default: keep what the lock already pins)")
    fetch = verbs("fetch", "download everything a manifest's build needs into the libraries' caches "
                  "(HF_HOME, TORCH_HOME), so that it builds offline (HF_HUB_OFFLINE=1)", cmd_fetch)
    fetch.add_argument("manifest", help="a manifest, or its lock")
    add_quiet_option(fetch, "download")
    cache = verbs("cache", "check the weight caches", _cache_usage, json=False)
    actions = cache.add_subparsers(dest="cache_command", metavar="ACTION", required=True)
    verify = actions.add_parser("verify", help="re-hash cached files: those a lock pins, or every file of the "
                                "caches whose name carries its hash", description="re-hash cached files")
    verify.add_argument("lock", nargs="?", help="a lock (or its manifest); none: every hash-named file of the caches")
    verify.add_argument("--json", action="store_true", help="print JSON for scripts")
    verify.set_defaults(handler=cmd_cache_verify)


def _cache_usage(args: argparse.Namespace) -> int:  # pragma: no cover - argparse requires an action
    return 2


def cmd_lock(args: argparse.Namespace) -> int:
    from flexzoo.host.registry import default_registry
    from flexzoo.hub.lock import Lock, lock_path
    from flexzoo.hub.resolve import lock_manifest
    from flexzoo.manifest.validation import load_manifest

    manifest = load_manifest(args.manifest)
    target = lock_path(manifest.file)
    previous = Lock.read(target) if target.is_file() and not args.upgrade else None
    lock = lock_manifest(manifest, default_registry(), previous)
    lock.write(target)
    if args.json:
        emit_json({"lock": str(target), "files": [vars(entry) for entry in lock.files]})
    else:
        for entry in sorted(lock.files, key=lambda e: (e.key, e.file)):
            print(f"  {entry.key:<24} {entry.where}  sha256 {entry.sha256[:16]}…")
        print(f"wrote {target} ({len(lock.files)} file(s))")
    return 0


def cmd_fetch(args: argparse.Namespace) -> int:
    from flexzoo.reporting.progress import display_of, showing

    with showing(display_of(json=args.json, quiet=args.quiet)):
        return _fetch(args)


def _fetch(args: argparse.Namespace) -> int:
    from flexzoo.host.registry import default_registry
    from flexzoo.hub.cache import fetch_file
    from flexzoo.hub.lock import Lock, lock_path
    from flexzoo.hub.resolve import environment_note, manifest_references
    from flexzoo.manifest.validation import load_manifest

    given = Path(args.manifest)
    manifest_file = given.with_name(given.name[:-len(".lock")]) if given.suffix == ".lock" else given
    manifest = load_manifest(str(manifest_file))
    lock = Lock.read(lock_path(manifest.file)) if lock_path(manifest.file).is_file() else None
    rows, total = [], 0
    for reference in manifest_references(manifest, default_registry()):
        if reference.source is None:
            continue  # a local file: nothing to download
        for file in reference.source.files:
            fetched = fetch_file(file)
            pinned = lock.entries(file.repo_id or "", file.url or "", file.filename) if lock else []
            if pinned and pinned[0].commit and pinned[0].commit != fetched.commit:
                fetch_file(file, revision=pinned[0].commit)
                print(f"zoo: warning: {file.origin} is now commit {fetched.commit}, the lock pins "
                      f"{pinned[0].commit} (fetched both); `zoo build` refuses the moved revision until "
                      f"`zoo lock --upgrade {manifest.file}`", file=sys.stderr)
            rows.append({"key": reference.key, "origin": file.origin, "path": str(fetched.path),
                         "commit": fetched.commit, "size": fetched.size})
            total += fetched.size
    if args.json:
        emit_json({"files": rows, "total_bytes": total})
        return 0
    for row in rows:
        print(f"  {row['key']:<24} {row['path']}  {_size(row['size'])}")
    print(f"{len(rows)} file(s), {_size(total)} in the caches: {environment_note()}")
    return 0


def cmd_cache_verify(args: argparse.Namespace) -> int:
    from flexzoo.hub.digest import file_sha256

    checked = _locked_files(args.lock) if args.lock else _hash_named_files()
    results = []
    for label, path, expected in checked:
        if not path.is_file():
            status, found = "missing", ""
        else:
            found, _ = file_sha256(path)
            # torch.hub's file names carry only the digest's start
            status = "ok" if found.startswith(expected) and len(expected) >= 8 else "changed"
        results.append({"file": label, "path": str(path), "status": status, "expected": expected, "found": found})
    bad = [r for r in results if r["status"] != "ok"]
    if args.json:
        emit_json({"files": results, "ok": not bad})
    else:
        for r in results:
            detail = "" if r["status"] == "ok" else (f": expected sha256 {r['expected']}, found {r['found']}"
                                                     if r["found"] else f": {r['path']} is not there")
            print(f"  {r['status']:<8} {r['file']}{detail}")
        print(f"{len(results) - len(bad)} of {len(results)} file(s) verified")
    if bad:
        raise FlexzooError(f"{len(bad)} cached file(s) differ from their sha256 or are missing: "
                           + ", ".join(r["file"] for r in bad[:5])
                           + "; delete them and run `zoo fetch` (or `zoo lock --upgrade` if the change is wanted)")
    return 0


def _locked_files(given: str) -> list[tuple[str, Path, str]]:
    from flexzoo.hub.resolve import cached_path, read_lock_or_manifest

    lock = read_lock_or_manifest(given)
    assert lock.path is not None
    base = lock.path.parent
    return [(f"{entry.key} {entry.where}", cached_path(entry, base), entry.sha256) for entry in lock.files
            if not (entry.path and Path(base / entry.path).is_dir())]


_SHA256 = re.compile(r"[0-9a-f]{64}")
_TORCH_NAME = re.compile(r"-([0-9a-f]{8,})\.")


def _hash_named_files() -> list[tuple[str, Path, str]]:
    """The Hub cache's LFS blobs (named by their sha256), and torch.hub checkpoints named ``<name>-<sha256 prefix>``."""
    from flexzoo.hub.cache import hub_cache_dir, torch_checkpoints_dir

    found = [(f"{blob.parent.parent.name} {blob.name[:12]}…", blob, blob.name)
             for blob in sorted(hub_cache_dir().glob("models--*/blobs/*")) if _SHA256.fullmatch(blob.name)]
    checked: list[tuple[str, Path, str]] = list(found)
    for checkpoint in sorted(torch_checkpoints_dir().glob("*")):
        match = _TORCH_NAME.search(checkpoint.name)
        if match and checkpoint.is_file():
            checked.append((checkpoint.name, checkpoint, match.group(1)))
    return checked


def _size(size: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024  # type: ignore[assignment]
    return f"{size} B"
