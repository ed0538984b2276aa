"""Publishing an artifact on the Hub: its repository folder, and the upload (``zoo push``).

The folder holds what a pull needs and what a reader wants: the artifact, the base artifact an
adapter artifact names (at the relative path it records), the exports written beside it
(``zoo export``), and a generated ``README.md`` model card (:mod:`flexzoo.hub.card`). The artifact is
verified before anything is written, so a damaged file is never published. ``write_repository``
writes the folder (``zoo push --to-dir``); ``push`` writes it in a temporary directory and uploads it
with ``HfApi.create_repo`` and ``HfApi.upload_folder``.
"""

from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path, PurePosixPath

from flexzoo._version import __version__
from flexzoo.artifact.format import ArtifactInfo, read_artifact
from flexzoo.atomic import write_atomically
from flexzoo.errors import ArtifactError
from flexzoo.hub.artifacts import HubError
from flexzoo.hub.card import CardOptions, RepositoryFile, hub_model_card
from flexzoo.hub.references import PREFIX, HubReference
from flexzoo.hub.transfers import transferring

__all__ = ["push", "repository_files", "repository_id", "write_repository"]

README = "README.md"
_CHUNK = 2**20


def repository_id(text: str) -> str:
    """``ORG/NAME`` from ``ORG/NAME`` or ``hf-hub:ORG/NAME``; a revision belongs in ``--revision``."""
    try:
        reference = HubReference.parse(text if text.startswith(PREFIX) else PREFIX + text)
    except ValueError as exc:
        raise HubError(str(exc).replace(f"'{PREFIX}", "'", 1)) from None
    if reference.revision:
        raise HubError(f"{text!r}: give the repository as ORG/NAME and the branch as --revision {reference.revision}")
    return reference.repo_id


def _base_files(artifact: ArtifactInfo, seen: tuple[Path, ...] = ()) -> dict[str, Path]:
    """An adapter artifact's base (and its base, for a chain), keyed by path relative to the artifact."""
    if artifact.adapters is None:
        return {}
    recorded = artifact.adapters["base"]["path"]
    relative = PurePosixPath(Path(recorded).as_posix())
    if relative.is_absolute() or ".." in relative.parts:
        raise ArtifactError(f"{artifact.path}: holds LoRA adapters whose base `{recorded}` lies outside its folder, "
                            "so a repository cannot hold both at those places; publish a merged model "
                            '([train.lora] store = "merged") or keep the base beside the adapters')
    path = artifact.path.parent / relative
    if path.resolve() in seen:
        raise ArtifactError(f"{artifact.path}: its adapter bases lead back to {path}")
    base = read_artifact(path)  # verified: its weights are published too
    if base.weights_sha256 != artifact.adapters["base"]["weights_sha256"]:
        raise ArtifactError(f"{artifact.path}: the base {path} is not the one the adapters were trained on "
                            f"(weights sha256 {base.weights_sha256[:12]}…, recorded "
                            f"{artifact.adapters['base']['weights_sha256'][:12]}…)")
    deeper = _base_files(base, (*seen, artifact.path.resolve()))
    return {str(relative): path, **{str(relative.parent / name): p for name, p in deeper.items()}}


def repository_files(artifact: ArtifactInfo) -> dict[str, Path]:
    """Path in the repository -> local file: the artifact, its adapter base, and its exports found beside it."""
    from flexzoo.exporting.exporters import export_path  # the export suffixes (imports torch: push only)
    from flexzoo.manifest.validation import EXPORT_FORMATS

    files = {artifact.path.name: artifact.path, **_base_files(artifact)}
    for format in EXPORT_FORMATS:
        exported = export_path(artifact.path, format)
        if exported.is_file():
            files[exported.name] = exported
    return files


def _copy_hashed(source: Path, target: Path) -> tuple[int, str]:
    """Copy ``source`` to ``target`` atomically, hashing the bytes as they are copied; return size and sha256."""
    digest, size = hashlib.sha256(), 0

    def copy(partial: Path) -> None:
        nonlocal size
        with open(source, "rb") as reader, open(partial, "wb") as writer:
            while chunk := reader.read(_CHUNK):
                digest.update(chunk)
                writer.write(chunk)
                size += len(chunk)

    write_atomically(target, copy)
    return size, digest.hexdigest()


def _check_folder(folder: Path, wanted: set[str]) -> None:
    """Refuse a folder holding files this push would not write: they would be published with it."""
    if folder.exists() and not folder.is_dir():
        raise HubError(f"{folder} is a file; give --to-dir a folder (new, empty, or a previous push of this artifact)")
    if not folder.is_dir():
        return
    others = sorted(str(p.relative_to(folder)) for p in folder.rglob("*")
                    if p.is_file() and str(p.relative_to(folder)) not in wanted)
    if others:
        shown = ", ".join(others[:5]) + (f" and {len(others) - 5} more" if len(others) > 5 else "")
        raise HubError(f"{folder} holds files this artifact's repository would not ({shown}); give an empty or new "
                       "folder")


def write_repository(artifact: str | Path, folder: str | Path, options: CardOptions) -> list[RepositoryFile]:
    """Write the repository folder of ``artifact`` (files, then ``README.md``); return its files with hashes."""
    info = read_artifact(artifact)  # weights and metadata verified: a damaged artifact is never published
    files = repository_files(info)
    folder = Path(folder)
    _check_folder(folder, {*files, README})
    written = [RepositoryFile(repo_path, *_copy_hashed(source, folder / repo_path))
               for repo_path, source in files.items()]
    card = hub_model_card(info.info, info.weights_sha256, CardOptions(
        repo_id=options.repo_id, license=options.license, tags=options.tags, datasets=options.datasets,
        files=tuple(written)))
    write_atomically(folder / README, lambda partial: partial.write_text(str(card), encoding="utf-8"))
    return written


def _network_errors() -> tuple[type[BaseException], ...]:
    """What huggingface_hub raises when the Hub refuses or cannot be reached (HTTP errors, offline mode)."""
    from huggingface_hub.errors import HfHubHTTPError

    transport = [c for c in HfHubHTTPError.__mro__[1:] if c.__name__ == "HTTPError"]  # httpx's base error
    return (OSError, ValueError, *transport)


def push(artifact: str | Path, repo_id: str, options: CardOptions, *, revision: str | None = None,
         private: bool = False, create_pr: bool = False, token: str | None = None) -> str:
    """Upload the repository folder of ``artifact`` to ``repo_id`` (created if missing); return the commit or PR URL.

    :param revision: the branch to commit to (created from ``main`` if missing); default ``main``.
    :param create_pr: open a pull request against ``revision`` instead of committing to it.
    :param token: a Hub token; default: ``HF_TOKEN`` or the login of ``hf auth login``.
    """
    try:
        from huggingface_hub import HfApi
    except ImportError:
        raise HubError("zoo push needs huggingface_hub: pip install 'flexzoo[hub]'") from None
    repo = repository_id(repo_id)
    with tempfile.TemporaryDirectory(prefix="flexzoo-push-") as folder:
        written = write_repository(artifact, folder, options)
        api = HfApi(token=token, library_name="flexzoo", library_version=__version__)
        info = read_artifact(artifact, verify_weights=False)
        model = info.manifest["model"]
        message = f"flexzoo: {model['name']} {model.get('version') or ''} (weights sha256 {info.weights_sha256[:12]})"
        try:
            api.create_repo(repo, private=private, exist_ok=True, repo_type="model")
            if revision and revision != "main":
                api.create_branch(repo, branch=revision, exist_ok=True)
            with transferring("uploaded", f"{len(written) + 1} file(s) to {repo}") as transfer:
                commit = api.upload_folder(repo_id=repo, folder_path=folder, revision=revision, create_pr=create_pr,
                                           commit_message=message.replace("  ", " "))
                transfer.size = sum(p.stat().st_size for p in Path(folder).rglob("*") if p.is_file())
        except _network_errors() as exc:
            raise HubError(f"cannot push to {repo} (revision {revision or 'main'}): {type(exc).__name__}: {exc}; "
                           "check the network, HF_HUB_OFFLINE, and that the token may write there "
                           "(`hf auth login` or --token)") from None
    return commit.pr_url or commit.commit_url
