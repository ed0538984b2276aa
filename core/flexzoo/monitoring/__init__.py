"""Drift monitoring: what the training data looked like, and whether what a served model sees still looks like it.

- :mod:`~flexzoo.monitoring.summaries`: per-sample summaries: input statistics per channel, the backbone's pooled
  features projected to a small sketch, each classification head's class and confidence.
- :mod:`~flexzoo.monitoring.profile`: the reference profile ``zoo train``/``zoo build`` with data record in the
  artifact (a bounded, seeded sample of held-out data).
- :mod:`~flexzoo.monitoring.drift`: two-sample tests of a window against the profile (scipy), Bonferroni-corrected.
- :mod:`~flexzoo.monitoring.monitor`: the rolling window a served version keeps, scored off the request path.
- :mod:`~flexzoo.monitoring.log`: rotating JSON-lines logs of inputs and predictions, and reading them back.
- :mod:`~flexzoo.monitoring.report`: ``zoo monitor``'s HTML drift report over time.
"""
