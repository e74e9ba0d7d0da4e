import os

import pytest
import torch


@pytest.fixture(scope="session")
def tiny():
    """The embedded model and tokenizer, loaded once per test session (do not train it in place)."""
    from ftcourse import models

    return models.load_model("tiny", device="cpu"), models.load_tokenizer("tiny")


@pytest.fixture
def fresh_tiny():
    """A private copy of the embedded model that a test may modify."""
    from ftcourse import models

    return models.load_model("tiny", device="cpu")


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny tensors: one thread is faster, and spares shared cores from OpenMP spin-waiting.

    FTCOURSE_TEST_THREADS=2 (`make test-portable`) runs the same tests on two threads: reductions split
    differently, and every float comparison must still hold.
    """
    before = torch.get_num_threads()
    torch.set_num_threads(int(os.environ.get("FTCOURSE_TEST_THREADS", "1")))
    yield
    torch.set_num_threads(before)
