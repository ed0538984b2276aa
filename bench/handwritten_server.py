"""The baseline for ``measure_serving``: a hand-written FastAPI endpoint that runs the model per request.

``python bench/handwritten_server.py ARTIFACT PORT``: no batching, one request at a time (the endpoint runs
the model on the event loop), JSON ``{"inputs": [...]}`` in, raw head outputs out.
"""

from __future__ import annotations

import sys

import numpy as np
import torch
import uvicorn
from fastapi import FastAPI, Request

import flexzoo

model = flexzoo.load(sys.argv[1])
app = FastAPI()


@app.post("/predict")
async def predict(request: Request) -> dict:
    x = torch.from_numpy(np.asarray((await request.json())["inputs"], dtype=np.float32))
    with torch.inference_mode():
        outputs = model(x if x.dim() == 4 else x[None])
    return {name: value.tolist() for name, value in outputs.items()}


if __name__ == "__main__":
    print("listening", flush=True)
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[2]), log_level="warning", access_log=False)
