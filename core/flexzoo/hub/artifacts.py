"""Pulling a flexzoo artifact shared on the Hub: ``hf-hub:ORG/NAME[@REVISION]`` to a file in the Hugging Face cache.

``flexzoo.load``, ``zoo inspect|predict|serve`` and ``[backbone] from =`` all go through
:func:`artifact_file`. The repository's ``*.safetensors`` files are pulled with
``huggingface_hub.snapshot_download`` into the library's own cache (``HF_HOME``/``HF_HUB_CACHE``),
which honours ``HF_HUB_OFFLINE``; the artifact in it is then the one file the readers verify by its own
recorded sha256 (weights and metadata), as they verify a local artifact. Nothing here imports torch;
``huggingface_hub`` is imported on first use.
"""

from __future__ import annotations

from pathlib import Path

from flexzoo._version import __version__
from flexzoo.artifact.format import SUFFIX, read_artifact
from flexzoo.errors import FlexzooError
from flexzoo.hub.digest import file_sha256
from flexzoo.hub.references import HubReference, is_hub_reference
from flexzoo.hub.scope import LockMismatch, current_scope, mismatch
from flexzoo.hub.sources import PretrainedSource, WeightsFile

__all__ = ["ARTIFACT_PATTERNS", "HubError", "artifact_file", "artifact_source", "pull_artifact"]

#: What a pull downloads of a repository: the artifact and, for an adapter artifact, its base (not the
#: exports, the README or other files a repository may hold).
ARTIFACT_PATTERNS = [f"*{SUFFIX}"]


class HubError(FlexzooError):
    """A Hub reference that cannot be pulled or holds no usable artifact; the message names repo and revision."""


def artifact_file(reference: str | Path) -> Path:
    """The local file an artifact reference names: a path as given, or a Hub artifact pulled through the cache.

    Only a ``str`` written ``hf-hub:...`` is a Hub reference; a ``Path`` is always a file.
    """
    if isinstance(reference, str) and is_hub_reference(reference):
        try:
            parsed = HubReference.parse(reference)
        except ValueError as exc:
            raise HubError(str(exc)) from None
        return pull_artifact(parsed)
    return Path(reference)


def pull_artifact(reference: HubReference) -> Path:
    """The artifact of a Hub repository, in the Hugging Face cache (downloaded there unless it already is).

    Within a build under a lock (:mod:`flexzoo.hub.scope`), the commit pulled and the file's sha256 must be
    the ones ``zoo lock`` pinned, as for pretrained weights.
    """
    folder = _snapshot(reference)
    artifact = _the_artifact(folder, reference)
    _check_lock(reference, artifact, commit=folder.name)
    return artifact


def artifact_source(text: str) -> PretrainedSource:
    """A Hub artifact reference as a source of files, so ``zoo lock``, ``zoo fetch`` and ``zoo cache verify``
    pin, download and re-hash it as they do pretrained weights (it is pulled to learn its file's name)."""
    try:
        reference = HubReference.parse(text)
    except ValueError as exc:
        raise HubError(str(exc)) from None
    artifact = _the_artifact(_snapshot(reference), reference)
    return PretrainedSource(str(reference), (WeightsFile.on_hub(reference, artifact.name),), library="flexzoo")


def _check_lock(reference: HubReference, artifact: Path, commit: str) -> None:
    scope = current_scope()
    if scope is None or scope.lock is None:
        return
    lock = scope.lock
    entries = lock.entries(repository=reference.repo_id, url="", file=artifact.name)
    if not entries:
        raise HubError(f"{_where(reference)} is not pinned by {lock.path}: run `zoo lock {scope.manifest_file}` "
                       "after changing a reference (or build with --no-lock)")
    locked = entries[0]
    if locked.commit and locked.commit != commit:
        raise LockMismatch(mismatch(lock, locked, f"revision {reference.pinned}: commit", locked.commit, commit,
                                    scope.upgrade_command))
    sha256, _ = file_sha256(artifact)
    if sha256 != locked.sha256:
        raise LockMismatch(mismatch(lock, locked, "sha256", locked.sha256, sha256, scope.upgrade_command))


def _where(reference: HubReference) -> str:
    return f"`{reference}` (repository {reference.repo_id}, revision {reference.pinned})"


def _bytes_in(folder: Path) -> int:
    """The bytes of the files in ``folder`` (a repository's blobs in the cache: what a download added)."""
    return sum(p.stat().st_size for p in folder.iterdir() if p.is_file()) if folder.is_dir() else 0


def _snapshot(reference: HubReference) -> Path:
    """``snapshot_download`` of the artifact files; its exceptions become one message naming repo and revision."""
    from flexzoo.hub.transfers import transferring  # on use: listing never pays for it

    try:
        from huggingface_hub import constants, snapshot_download
        from huggingface_hub import errors as hub_errors
    except ImportError:
        raise HubError(f"{_where(reference)}: pulling from the Hub needs huggingface_hub: "
                       "pip install 'flexzoo[hub]'") from None
    incomplete = getattr(hub_errors, "IncompleteSnapshotError", ())  # huggingface_hub >= 1.x
    blobs = Path(constants.HF_HUB_CACHE) / f"models--{reference.repo_id.replace('/', '--')}" / "blobs"
    try:
        with transferring("downloaded", f"{reference}") as transfer:
            before = _bytes_in(blobs)
            folder = Path(snapshot_download(reference.repo_id, revision=reference.revision,
                                            allow_patterns=ARTIFACT_PATTERNS, library_name="flexzoo",
                                            library_version=__version__))
            transfer.size = _bytes_in(blobs) - before
        return folder
    except hub_errors.LocalEntryNotFoundError:
        why = ("HF_HUB_OFFLINE is set" if constants.HF_HUB_OFFLINE else "the Hub cannot be reached")
        raise HubError(
            f"{_where(reference)} is not in the Hugging Face cache ({constants.HF_HUB_CACHE}) and {why}: "
            "run `zoo fetch MANIFEST` (for the manifest that names it) or `zoo inspect "
            f"{reference}` on a machine with network access, then copy its Hugging Face cache here "
            "(or point HF_HUB_CACHE at it)") from None
    except incomplete as exc:  # type: ignore[misc]
        raise HubError(f"{_where(reference)}: the cached copy is incomplete ({exc}); pull it again with network "
                       "access (unset HF_HUB_OFFLINE)") from None
    except hub_errors.RevisionNotFoundError:
        raise HubError(f"{_where(reference)}: the repository has no revision `{reference.pinned}`; name a branch, "
                       "tag or commit it has") from None
    except hub_errors.RepositoryNotFoundError:  # also a gated repository without access
        raise HubError(f"{_where(reference)}: no such repository on the Hub, or it is private or gated: check the "
                       "name, or log in (`hf auth login`, or set HF_TOKEN) with an account that may read it") from None
    except hub_errors.HfHubHTTPError as exc:
        raise HubError(f"{_where(reference)}: the Hub refused the download ({exc})") from None
    except (OSError, ValueError) as exc:  # a malformed cache, a disk error
        raise HubError(f"{_where(reference)}: cannot read or write the Hugging Face cache "
                       f"({type(exc).__name__}: {exc})") from None


def _the_artifact(folder: Path, reference: HubReference) -> Path:
    """The repository's one artifact at its top level: a flexzoo artifact that is no other's adapter base."""
    candidates = sorted(folder.glob(f"*{SUFFIX}"))
    artifacts, plain = {}, []
    for path in candidates:
        try:
            artifacts[path] = read_artifact(path, verify_weights=False)  # weights: verified where they are read
        except FlexzooError as exc:
            if "not a flexzoo artifact" not in str(exc):
                raise HubError(f"{_where(reference)}: {exc}") from None
            plain.append(path.name)
    bases = {(path.parent / info.adapters["base"]["path"]).resolve()
             for path, info in artifacts.items() if info.adapters is not None}
    main = [path for path in artifacts if path.resolve() not in bases]
    if len(main) == 1:
        return main[0]
    if not main:
        found = (f"only plain safetensors files ({', '.join(plain)}): weights to use as "
                 f"`pretrained = \"{reference}\"`, not an artifact") if plain else "no .safetensors file"
        raise HubError(f"{_where(reference)} holds no flexzoo artifact: {found}; `zoo push` publishes one")
    raise HubError(f"{_where(reference)} holds several flexzoo artifacts ({', '.join(p.name for p in main)}); "
                   "publish each in a repository of its own (`zoo push ARTIFACT REPO_ID`)")
