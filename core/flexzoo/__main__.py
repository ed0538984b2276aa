from flexzoo.cli import run

raise SystemExit(run())
