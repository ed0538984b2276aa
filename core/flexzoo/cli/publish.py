"""``zoo push ARTIFACT REPO_ID``: publish an artifact on the Hugging Face Hub, with a generated model card."""

from __future__ import annotations

import argparse
from typing import Any

from flexzoo.cli.render import add_quiet_option, emit_json
from flexzoo.errors import FlexzooError


def register(verbs: Any) -> None:
    push = verbs("push", "publish an artifact on the Hugging Face Hub with a generated model card (README.md), "
                 "or write that repository folder (--to-dir)", cmd_push)
    push.add_argument("artifact")
    push.add_argument("repo_id", nargs="?", metavar="REPO_ID", help="ORG/NAME on the Hub (optional with --to-dir)")
    push.add_argument("--to-dir", metavar="DIR", help="write the repository folder to DIR and upload nothing")
    push.add_argument("--revision", metavar="BRANCH", help="branch to commit to (created if missing; default: main)")
    push.add_argument("--private", action="store_true", help="create the repository private")
    push.add_argument("--create-pr", action="store_true", help="open a pull request instead of committing")
    push.add_argument("--token", help="Hub token (default: $HF_TOKEN or the login of `hf auth login`)")
    push.add_argument("--license", metavar="ID", help="the card's licence, a Hub licence id such as apache-2.0 "
                      "(default: other, stated as unstated)")
    push.add_argument("--tag", dest="tags", action="append", default=[], metavar="TAG", help="extra tag (repeatable)")
    push.add_argument("--dataset", dest="datasets", action="append", default=[], metavar="ORG/NAME",
                      help="a Hub dataset the model was trained on (repeatable)")
    add_quiet_option(push, "upload")


def cmd_push(args: argparse.Namespace) -> int:
    from flexzoo.hub.card import CardOptions
    from flexzoo.hub.push import push, repository_id, write_repository

    if args.repo_id is None and args.to_dir is None:
        raise FlexzooError("zoo push needs REPO_ID (ORG/NAME), or --to-dir DIR to write the folder without uploading")
    repo = repository_id(args.repo_id) if args.repo_id else "ORG/NAME"
    options = CardOptions(repo_id=repo, license=args.license, tags=tuple(args.tags), datasets=tuple(args.datasets))
    if args.to_dir:
        files = write_repository(args.artifact, args.to_dir, options)
        if args.json:
            emit_json({"folder": args.to_dir, "files": [vars(f) for f in files]})
        else:
            for file in files:
                print(f"  {file.path:<40} {file.size:>12,} bytes  sha256 {file.sha256}")
            print(f"wrote {args.to_dir} (README.md and {len(files)} file(s)); `hf upload {repo} {args.to_dir}` or "
                  f"`zoo push {args.artifact} {repo}` publishes it")
        return 0
    from flexzoo.reporting.progress import display_of, showing

    with showing(display_of(json=args.json, quiet=args.quiet)):
        url = push(args.artifact, repo, options, revision=args.revision, private=args.private,
                   create_pr=args.create_pr, token=args.token)
    if args.json:
        emit_json({"repo_id": repo, "url": url, "reference": f"hf-hub:{repo}"})
    else:
        print(f"pushed {args.artifact} to {url}\nload it with flexzoo.load(\"hf-hub:{repo}\")")
    return 0
