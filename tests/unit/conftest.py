import pytest


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
