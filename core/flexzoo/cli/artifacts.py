"""Verbs that turn manifests into artifacts and read them: ``zoo validate``, ``zoo build``, ``zoo inspect``."""

from __future__ import annotations

import argparse
import contextlib
from typing import Any

from flexzoo.cli.export import print_exports
from flexzoo.cli.render import add_quiet_option, emit_json


def register(verbs: Any) -> None:
    validate = verbs("validate", "check that `zoo build` will accept a manifest: every key, then a dry run on "
                     "the meta device (allocates nothing); every problem is reported", cmd_validate)
    validate.add_argument("manifest")
    validate.add_argument("--static", action="store_true",
                          help="only the checks that need no torch (keys, types, ranges, names): for editors "
                               "and pre-commit hooks")
    validate.add_argument("--deep", action="store_true", help=argparse.SUPPRESS)  # the default since 0.2
    build = verbs("build", "validate a manifest and build it into an artifact", cmd_build)
    build.add_argument("manifest")
    build.add_argument("-o", "--output", default="out", metavar="DIR", help="artifact directory (default: out)")
    build.add_argument("--report", choices=("none", "eager", "compiled"), default="eager",
                       help="with [[compress]] steps: measure sizes and latency before and after, eagerly "
                            "or also under torch.compile (slower to build) (default: eager)")
    build.add_argument("--no-lock", action="store_true", help="ignore MANIFEST.lock beside the manifest")
    add_quiet_option(build, "export format and download")
    inspect = verbs("inspect", "show an artifact's model card and verify its hashes", cmd_inspect)
    inspect.add_argument("artifact")
    inspect.add_argument("--no-verify", action="store_true", help="skip hashing the weights")


def cmd_validate(args: argparse.Namespace) -> int:
    from flexzoo.manifest.validation import load_manifest

    manifest = load_manifest(args.manifest)
    result: dict[str, Any] = {"manifest": manifest.file, "valid": True, "resolved": manifest.to_dict()}
    if not args.static:
        from flexzoo.assembly.builder import plan

        build_plan = plan(manifest)
        result["parameters"] = build_plan.parameters
        if build_plan.feature_maps:
            result["feature_maps"] = [{"name": m.name, "channels": m.channels, "stride": m.stride}
                                      for m in build_plan.feature_maps]
        else:
            result["feature_size"] = build_plan.in_features
    if args.json:
        emit_json(result)
    else:
        extra = " (static checks only)" if args.static else f" ({result['parameters']:,} parameters)"
        print(f"{manifest.file}: valid{extra}")
    return 0


def cmd_build(args: argparse.Namespace) -> int:
    from flexzoo.artifact.card import render_card
    from flexzoo.artifact.format import read_artifact
    from flexzoo.hub.scope import ignoring_lock
    from flexzoo.manifest.validation import load_manifest
    from flexzoo.pipeline.stages import build_artifact
    from flexzoo.reporting.progress import display_of, showing

    with ignoring_lock() if args.no_lock else contextlib.nullcontext(), showing(display_of(json=args.json,
                                                                                           quiet=args.quiet)):
        result = build_artifact(load_manifest(args.manifest), args.output, report=args.report)
    artifact = read_artifact(result.artifact, verify_weights=False)  # its digest was taken of the tensors written
    if args.json:
        emit_json({"artifact": str(result.artifact), **artifact.as_dict(), "exports": result.exports})
    else:
        print(render_card(artifact.info, artifact.weights_sha256))
        print(f"wrote {result.artifact}")
        print_exports(result.exports)
    return 0


def cmd_inspect(args: argparse.Namespace) -> int:
    from flexzoo.artifact.card import render_card
    from flexzoo.artifact.format import read_artifact
    from flexzoo.hub.artifacts import artifact_file

    artifact = read_artifact(artifact_file(args.artifact), verify_weights=not args.no_verify)
    if args.json:
        emit_json(artifact.as_dict())
    else:
        print(render_card(artifact.info, artifact.weights_sha256))
        if not args.no_verify:
            print("  verified      weights and metadata match their sha256")
    return 0
