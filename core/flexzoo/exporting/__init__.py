"""Exporting a built model to other formats (ONNX, TorchScript...)."""
