"""What a model takes as input: image files decoded to arrays, the suffixes read as images, the input dtype."""
