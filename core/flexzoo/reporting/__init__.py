"""What a run reports: the measures of a built model, the HTML report of an artifact, its charts, plain-text tables."""
