import socket
import time

import pytest
import torch
from ftcourse import env


@pytest.fixture(autouse=True)
def _clear_hub_cache():
    env.hub_reachable.cache_clear()
    yield
    env.hub_reachable.cache_clear()


@pytest.mark.parametrize("value", ["fast", "GPU", "smoke-test"])
def test_invalid_mode_names_value_and_choices(monkeypatch, value):
    monkeypatch.setenv("FTCOURSE_MODE", value)
    with pytest.raises(ValueError) as err:
        env.choose_mode()
    assert repr(value) in str(err.value)
    for choice in env.MODE_CHOICES:
        assert choice in str(err.value)


@pytest.mark.parametrize("value,expected", [("smoke", "smoke"), ("full", "full"), (" FULL ", "full")])
def test_explicit_mode(monkeypatch, value, expected):
    monkeypatch.setenv("FTCOURSE_MODE", value)
    choice = env.choose_mode()
    assert (choice.mode, choice.explicit) == (expected, True)


def test_auto_without_cuda_is_smoke(monkeypatch):
    monkeypatch.setenv("FTCOURSE_MODE", "auto")
    monkeypatch.setattr(env, "has_cuda", lambda: False)
    choice = env.choose_mode()
    assert choice.mode == "smoke" and not choice.explicit and "no CUDA" in choice.reason


def test_auto_with_cuda_needs_the_hub(monkeypatch):
    monkeypatch.setenv("FTCOURSE_MODE", "auto")
    monkeypatch.setattr(env, "has_cuda", lambda: True)
    monkeypatch.setattr(env, "hub_reachable", lambda: False)
    assert env.choose_mode().mode == "smoke"
    monkeypatch.setattr(env, "hub_reachable", lambda: True)
    assert env.choose_mode().mode == "full"


def test_mode_prints_one_line_once(monkeypatch, capsys):
    monkeypatch.setenv("FTCOURSE_MODE", "smoke")
    env._announced.clear()
    assert env.mode() == "smoke"
    assert env.mode() == "smoke"
    out = capsys.readouterr().out.strip().splitlines()
    assert out == ["ftcourse: smoke mode (FTCOURSE_MODE=smoke)"]


def test_hub_offline_env_skips_the_network(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")

    def boom(*args, **kwargs):
        raise AssertionError("no connection may be attempted when HF_HUB_OFFLINE=1")

    monkeypatch.setattr(socket, "create_connection", boom)
    assert env.hub_reachable() is False


@pytest.mark.timeout(10)
def test_hub_check_never_hangs(monkeypatch):
    """A lookup that blocks forever (as getaddrinfo can) still returns False after the timeout."""
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    def stuck(*args, **kwargs):
        time.sleep(3)
        raise OSError("gave up")

    monkeypatch.setattr(socket, "create_connection", stuck)
    assert env.hub_reachable(timeout=0.2) is False


def test_hub_check_is_cached(monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    calls = []

    def refuse(*args, **kwargs):
        calls.append(args)
        raise OSError("refused")

    monkeypatch.setattr(socket, "create_connection", refuse)
    assert env.hub_reachable() is False
    assert env.hub_reachable() is False
    assert len(calls) == 1


@pytest.mark.parametrize(
    "cuda,bf16,expected", [(False, False, torch.float32), (True, False, torch.float16), (True, True, torch.bfloat16)]
)
def test_dtype_per_device(monkeypatch, cuda, bf16, expected):
    monkeypatch.setattr(env, "has_cuda", lambda: cuda)
    monkeypatch.setattr(env, "cuda_supports_bf16", lambda: bf16)
    assert env.dtype() == expected


def test_device_on_this_machine_matches_torch():
    expected = "cuda" if torch.cuda.is_available() else ("mps" if env.has_mps() else "cpu")
    assert env.device() == expected


def test_seed_everything_repeats_random_numbers():
    env.seed_everything(123)
    a = torch.randn(5)
    env.seed_everything(123)
    assert torch.equal(a, torch.randn(5))


@pytest.mark.parametrize("bad", [-1, 1.5, "0", None, True])
def test_seed_everything_rejects_bad_seeds(bad):
    with pytest.raises(ValueError, match="seed"):
        env.seed_everything(bad)
