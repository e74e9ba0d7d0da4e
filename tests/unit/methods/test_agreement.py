"""One set of tests for every method (DESIGN.md "One shape per method"), run over TEST_CASES × BASES.

Each method by hand must: leave a fresh model's logits bitwise unchanged; count what its twin counts;
give its twin's logits and gradients with the same weights; merge into the same function; save a
folder its twin loads (and load the twin's); come back from its twin; name bad hyper-parameters.
Float comparisons are scale-aware (ftcourse.numerics): error relative to the reference's largest
magnitude, tolerance from the dtype and the depth of the computation.
"""

import copy

import pytest
import torch
from ftcourse.inject import trainable_parameters
from ftcourse.numerics import assert_close, assert_equal, model_depth
from method_cases import BASES, METHODS, TEST_CASES, build_base, token_batch

CASES = [pytest.param(method, hp, id=cid) for cid, method, hp in TEST_CASES]

pytestmark = pytest.mark.numeric


@pytest.fixture(params=BASES)
def base(request, tiny):
    return build_base(request.param, tiny[0])


def depth(model) -> int:
    return model_depth(model.config.num_hidden_layers)


def logits(model, ids):
    with torch.no_grad():
        return model(input_ids=ids).logits


def adapted_pair(method, hp, base):
    """Ours with random trainable values, and the twin with the same values; both in eval mode."""
    ours = method.inject(copy.deepcopy(base), **hp).eval()
    theirs = method.twin(copy.deepcopy(base), **hp).eval()
    method.randomize(ours)
    method.copy_into_twin(ours, theirs)
    return ours, theirs


@pytest.mark.parametrize("method,hp", CASES)
def test_a_fresh_adapter_leaves_the_logits_bitwise_unchanged(method, hp, base):
    ids = token_batch(base.config.vocab_size)
    ours = method.inject(copy.deepcopy(base), **hp).eval()
    assert_equal(logits(ours, ids), logits(base, ids), "fresh adapter vs base")


@pytest.mark.parametrize("method,hp", CASES)
def test_counts_match_the_twin(method, hp, base):
    ours = method.inject(copy.deepcopy(base), **hp)
    theirs = method.twin(copy.deepcopy(base), **hp)
    assert trainable_parameters(ours) == trainable_parameters(theirs)
    assert (trainable_parameters(ours).trainable, trainable_parameters(ours).total) == \
        theirs.get_nb_trainable_parameters()


@pytest.mark.parametrize("method,hp", CASES)
def test_logits_and_gradients_match_the_twin(method, hp, base):
    ours, theirs = adapted_pair(method, hp, base)
    ids = token_batch(base.config.vocab_size)
    out1, out2 = ours(input_ids=ids, labels=ids), theirs(input_ids=ids, labels=ids)
    assert_close(out1.logits, out2.logits, depth=depth(base), what="logits vs twin")
    out1.loss.backward()
    out2.loss.backward()
    for name, (mine, twin) in method.grads(ours, theirs).items():
        assert_close(mine, twin, depth=2 * depth(base), what=f"gradient of {name}")
    assert all(p.grad is None for p in ours.parameters() if not p.requires_grad)


@pytest.mark.parametrize("method,hp", CASES)
def test_merged_equals_unmerged(method, hp, base):
    if method.merge is None:
        pytest.skip(f"{method.name} does not merge")
    ours, _ = adapted_pair(method, hp, base)
    ids = token_batch(base.config.vocab_size)
    before = logits(ours, ids)
    merged = method.merge(ours)
    assert type(merged) is type(base) and set(merged.state_dict()) == set(base.state_dict())
    assert_close(logits(merged, ids), before, depth=depth(base), what="merged vs unmerged logits")


@pytest.mark.parametrize("method,hp", CASES)
def test_saved_by_hand_loads_in_the_twin_and_back(method, hp, base, tmp_path):
    ours, _ = adapted_pair(method, hp, base)
    ids = token_batch(base.config.vocab_size)
    method.save(ours, tmp_path / "ours")
    theirs = method.load_twin(copy.deepcopy(base), tmp_path / "ours").eval()
    assert_close(logits(theirs, ids), logits(ours, ids), depth=depth(base), what="twin loading our folder")
    theirs.save_pretrained(tmp_path / "twin")
    back = method.load(copy.deepcopy(base), tmp_path / "twin").eval()
    assert_equal(logits(back, ids), logits(ours, ids), "ours loading the twin's folder")
    assert not list(tmp_path.rglob("*.tmp"))


@pytest.mark.parametrize("method,hp", CASES)
def test_comes_back_from_the_twin(method, hp, base):
    ours, theirs = adapted_pair(method, hp, base)
    back = method.from_twin(theirs).eval()
    ids = token_batch(base.config.vocab_size)
    assert_equal(logits(back, ids), logits(ours, ids), "from the twin")
    assert trainable_parameters(back).total == trainable_parameters(ours).total


@pytest.mark.parametrize("method", [m for _, m in METHODS], ids=[n for n, _ in METHODS])
def test_bad_hyperparameters_are_named_and_change_nothing(method, tiny):
    model = copy.deepcopy(tiny[0])
    before = {k: v.clone() for k, v in model.state_dict().items()}
    hp = next(dict(hp) for _, m, hp in TEST_CASES if m is method)
    for bad, error, match in method.bad:
        with pytest.raises(error, match=match):
            method.inject(model, **{**hp, **bad})
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())
    assert all(p.requires_grad for p in model.parameters())
