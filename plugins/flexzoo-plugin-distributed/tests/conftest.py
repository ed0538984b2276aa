"""The reference run the distributed tests compare ranks against."""

from __future__ import annotations

import pytest
import torch
from distributed_runs import single_run


@pytest.fixture(scope="session")
def one_rank(tmp_path_factory) -> tuple[dict[str, torch.Tensor], dict[str, float]]:
    """Weights and validation metrics of the one-epoch run on one process."""
    return single_run(tmp_path_factory.mktemp("single"), epochs=1)
