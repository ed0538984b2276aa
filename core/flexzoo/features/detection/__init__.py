"""Detection with a CenterNet head: targets, loss and box decoding."""
