"""The LitServe side of ``compare_serving_libraries``: the same artifact behind LitServe's own batching.

``python bench/litserve_server.py ARTIFACT PORT [MAX_BATCH_SIZE] [BATCH_TIMEOUT_S]``: JSON ``{"inputs": sample}``
in, raw head outputs out (as ``zoo serve`` answers in ``outputs``); one inference worker on the CPU.
"""

from __future__ import annotations

import sys

import litserve
import numpy as np
import torch

import flexzoo


class ArtifactAPI(litserve.LitAPI):
    """One flexzoo artifact; LitServe merges up to ``max_batch_size`` requests into one ``predict``."""

    def setup(self, device: str) -> None:
        self.model = flexzoo.load(sys.argv[1]).eval()

    def decode_request(self, request: dict) -> np.ndarray:
        return np.asarray(request["inputs"], dtype=np.float32)

    def batch(self, inputs: list[np.ndarray]) -> np.ndarray:
        return np.stack(inputs)

    def predict(self, batch: np.ndarray) -> list[dict[str, list]]:
        x = torch.from_numpy(batch if batch.ndim == 4 else batch[None])
        with torch.inference_mode():
            outputs = {name: value.numpy() for name, value in self.model(x).items()}
        return [{name: value[i].tolist() for name, value in outputs.items()} for i in range(len(x))]

    def unbatch(self, output: list) -> list:
        return output

    def encode_response(self, output: dict[str, list]) -> dict:
        return {"outputs": output}


if __name__ == "__main__":
    max_batch_size = int(sys.argv[3]) if len(sys.argv) > 3 else 32
    batch_timeout = float(sys.argv[4]) if len(sys.argv) > 4 else 0.005
    api = ArtifactAPI(max_batch_size=max_batch_size, batch_timeout=batch_timeout, api_path="/predict")
    server = litserve.LitServer(api, accelerator="cpu", workers_per_device=1, timeout=30)
    server.run(host="127.0.0.1", port=int(sys.argv[2]), log_level="warning", generate_client_file=False,
               num_api_servers=1)
