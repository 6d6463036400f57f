import pytest
import torch


@pytest.fixture(autouse=True, scope="session")
def _single_thread():
    """One intra-op thread: ~14x faster than 2 for elementwise ops on these machines."""
    torch.set_num_threads(1)
