"""Explanations: which parts of an input a prediction rests on, and whether that answer can be trusted.

- :mod:`flexzoo.builtin.explainers`: the builtin explainers (a plugin kind, ``flexzoo_explainers``), on Captum;
- :mod:`flexzoo.explain.layers`: the module that makes a backbone's declared feature map (Grad-CAM's layer),
  and the last backbone stage (re-initialized by the sanity check);
- :mod:`flexzoo.explain.attribution`: one explainer run on a batch for one head and target, with
  the completeness gap of an explainer that claims completeness;
- :mod:`flexzoo.explain.sanity`: the model-randomization test (Adebayo et al. 2018);
- :mod:`flexzoo.explain.output`: heat-map overlays, raw attributions, tables, charts and the JSON summary.

Importing this package imports neither torch nor Captum.
"""
