"""The rollout sampler: transformers' warper semantics, the right distribution, banned and held-back tokens."""

from __future__ import annotations

import pytest
import torch
from transformers import TemperatureLogitsWarper, TopKLogitsWarper, TopPLogitsWarper

from lightning_modules.rollout import GenerationSettings
from lightning_modules.sampling import RolloutSampler, draw, filtered_scores


@pytest.mark.parametrize("temperature,top_k,top_p", [
    (1.0, 0, 1.0),  # nothing filtered
    (0.7, 0, 1.0),  # temperature only
    (1.0, 5, 1.0),  # top-k
    (1.0, 0, 0.8),  # nucleus
    (1.3, 7, 0.9),  # all three, in transformers' order
])
def test_filtering_equals_transformers_warpers(temperature, top_k, top_p) -> None:
    scores = torch.randn(4, 50, generator=torch.Generator().manual_seed(0))
    expected = scores.clone()
    if temperature != 1.0:
        expected = TemperatureLogitsWarper(temperature)(None, expected)
    if top_k:
        expected = TopKLogitsWarper(top_k)(None, expected)
    if top_p < 1.0:
        expected = TopPLogitsWarper(top_p)(None, expected)
    got = filtered_scores(scores, temperature, top_k, top_p)
    assert torch.equal(torch.isinf(got), torch.isinf(expected))
    assert torch.allclose(got[~torch.isinf(got)], expected[~torch.isinf(expected)])


def test_draws_follow_the_softmax_and_never_pick_an_excluded_token() -> None:
    probs = torch.tensor([0.5, 0.0, 0.3, 0.2])
    scores = probs.log().expand(20_000, 4).clone()  # log 0 = -inf: token 1 is excluded
    tokens = draw(scores, torch.Generator().manual_seed(0))
    freq = torch.bincount(tokens, minlength=4).float() / tokens.numel()
    # 20,000 draws: the standard error of a frequency is at most 0.0036; 5 of them is the tolerance.
    assert freq.tolist() == pytest.approx(probs.tolist(), abs=0.018)
    assert freq[1] == 0


def test_sampler_bans_placeholders_holds_the_end_back_and_decodes_greedily() -> None:
    scores = torch.tensor([[0.0, 5.0, 1.0, 9.0]])
    greedy = RolloutSampler(GenerationSettings(max_new_tokens=4, do_sample=False, min_new_tokens=2), prompt_length=3,
                            eos_ids=[1], banned_ids=[3])
    held = greedy(torch.zeros(1, 4, dtype=torch.long), scores.clone())  # 1 token generated < min_new_tokens
    assert held.argmax().item() == 2  # 3 is banned, the end token 1 is held back
    free = greedy(torch.zeros(1, 5, dtype=torch.long), scores.clone())  # 2 generated: the end may come
    assert free.argmax().item() == 1
    sampling = RolloutSampler(GenerationSettings(max_new_tokens=4), prompt_length=3, eos_ids=[1], banned_ids=[3])
    torch.manual_seed(0)
    picks = {int(sampling(torch.zeros(1, 4, dtype=torch.long), scores.clone()).argmax()) for _ in range(200)}
    assert picks <= {0, 1, 2} and len(picks) > 1  # a real draw among the allowed tokens
