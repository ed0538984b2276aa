"""What a run reports: the measures of a model before and after compression, charts, plain-text tables."""
