"""``zoo tune``: hyperparameter search over a manifest's parameters."""
