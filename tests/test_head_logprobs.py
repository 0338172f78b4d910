"""The tiled LM-head log-probabilities equal autograd's ``log_softmax(head(h) / T)`` in value and gradient."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from lightning_modules.head_logprobs import VOCAB_TILE, tiled_head, tiled_logprobs
from lightning_modules.logprobs import head_logprobs


def _reference(head: nn.Linear, hidden: torch.Tensor, tokens: torch.Tensor, temperature: float):
    logp_all = (head(hidden) / temperature).log_softmax(-1)
    logp = logp_all.gather(1, tokens.unsqueeze(1)).squeeze(1)
    entropy = -(logp_all.exp() * logp_all).sum(-1)
    return logp, entropy


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("temperature", [1.0, 0.7])
def test_values_and_gradients_match_autograd_across_vocabulary_tiles(bias: bool, temperature: float) -> None:
    torch.manual_seed(0)
    vocab = VOCAB_TILE + 905  # two tiles, the second partial
    head = nn.Linear(24, vocab, bias=bias).double()
    hidden = torch.randn(37, 24, dtype=torch.float64, requires_grad=True)
    # tokens in both tiles, including the first and last column of each
    tokens = torch.randint(0, vocab, (37,))
    tokens[:4] = torch.tensor([0, VOCAB_TILE - 1, VOCAB_TILE, vocab - 1])
    weights = torch.randn(37, dtype=torch.float64)

    ref_logp, ref_ent = _reference(head, hidden, tokens, temperature)
    (ref_logp * weights).sum().backward()
    ref_grads = [hidden.grad.clone(), head.weight.grad.clone()] + ([head.bias.grad.clone()] if bias else [])
    hidden.grad = None
    head.zero_grad()

    logp, ent = tiled_logprobs(head, hidden, tokens, temperature, with_entropy=True, chunk_size=8)
    (logp * weights).sum().backward()
    grads = [hidden.grad, head.weight.grad] + ([head.bias.grad] if bias else [])

    torch.testing.assert_close(logp, ref_logp, rtol=0, atol=1e-10)
    torch.testing.assert_close(ent, ref_ent.detach(), rtol=0, atol=1e-10)
    assert not ent.requires_grad
    for got, want in zip(grads, ref_grads, strict=True):
        torch.testing.assert_close(got, want, rtol=0, atol=1e-10)


def test_float32_head_matches_within_float_rounding() -> None:
    torch.manual_seed(1)
    head = nn.Linear(32, 3000)
    hidden = torch.randn(50, 32, requires_grad=True)
    tokens = torch.randint(0, 3000, (50,))
    ref_logp, _ = _reference(head, hidden, tokens, 1.0)
    ref_logp.sum().backward()
    ref_grad = hidden.grad.clone()
    hidden.grad = None
    logp, _ = tiled_logprobs(head, hidden, tokens, chunk_size=16)
    logp.sum().backward()
    torch.testing.assert_close(logp, ref_logp, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(hidden.grad, ref_grad, rtol=1e-4, atol=1e-5)


def test_other_heads_take_the_checkpointed_path_with_the_same_result() -> None:
    torch.manual_seed(2)
    linear = nn.Linear(16, 500).double()
    wrapped = nn.Sequential(linear)  # not a plain nn.Linear: autograd through checkpointed chunks
    assert tiled_head(linear) and not tiled_head(wrapped)
    hidden = torch.randn(3, 5, 16, dtype=torch.float64)
    tokens = torch.randint(0, 500, (3, 5))
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [1, 0, 0, 0, 0]])
    tiled, tiled_ent = head_logprobs(linear, hidden, tokens, mask, with_entropy=True, chunk_size=4)
    other, other_ent = head_logprobs(wrapped, hidden, tokens, mask, with_entropy=True, chunk_size=4)
    torch.testing.assert_close(tiled, other, rtol=0, atol=1e-6, check_dtype=False)
    torch.testing.assert_close(tiled_ent, other_ent, rtol=0, atol=1e-5, check_dtype=False)
    assert (tiled[mask == 0] == 0).all()
