"""The one place that orders the stages of a run: validate, plan, build, init, transfer, train, compress,
report, write, export."""
