"""GRPO loss math against hand-computed values."""

import math

import pytest
import torch

from lightning_modules.grpo_loss import group_advantages, grpo_loss, k3_kl, zero_spread_groups


def test_group_advantages_match_hand_computed_values():
    r = torch.tensor([1.0, 0.0, 0.0, 1.0, 2.0, 2.0])  # two groups of 3
    adv = group_advantages(r, 3, "group", eps=0.0)
    # group 1: mean 1/3, unbiased std sqrt(1/3)
    m, s = 1 / 3, math.sqrt(1 / 3)
    expected = [(1 - m) / s, (0 - m) / s, (0 - m) / s]
    assert adv[:3].tolist() == pytest.approx(expected)
    # group 2: mean 5/3, std sqrt(1/3)
    assert adv[3:].tolist() == pytest.approx([(1 - 5 / 3) / s, (2 - 5 / 3) / s, (2 - 5 / 3) / s])


def test_advantage_scales():
    r = torch.tensor([1.0, 0.0, 3.0, 3.0])
    assert group_advantages(r, 2, "none").tolist() == [0.5, -0.5, 0.0, 0.0]  # Dr. GRPO: mean-only
    batch = group_advantages(r, 2, "batch", eps=0.0)
    assert batch.tolist() == pytest.approx([0.5 / r.std().item(), -0.5 / r.std().item(), 0.0, 0.0])
    tied = group_advantages(torch.tensor([2.0, 2.0]), 2, "group")
    assert tied.tolist() == [0.0, 0.0]  # eps keeps a tied group finite and zero
    with pytest.raises(ValueError, match="group_size"):
        group_advantages(torch.ones(5), 2)
    with pytest.raises(ValueError, match="scale"):
        group_advantages(torch.ones(4), 2, "bogus")


def test_zero_spread_groups():
    r = torch.tensor([1.0, 1.0, 0.0, 1.0, 0.5, 0.5])
    assert zero_spread_groups(r, 2).tolist() == [True, False, True]


def test_k3_kl_hand_values():
    logp = torch.tensor([[math.log(0.5), math.log(0.2)]])
    ref = torch.tensor([[math.log(0.25), math.log(0.2)]])
    kl = k3_kl(logp, ref)
    # delta = log(0.25/0.5) = -log 2 -> exp(delta) - delta - 1 = 0.5 + log 2 - 1
    assert kl[0, 0].item() == pytest.approx(0.5 + math.log(2) - 1)
    assert kl[0, 1].item() == pytest.approx(0.0)
    assert (k3_kl(torch.randn(4, 7), torch.randn(4, 7)) >= 0).all()


def _loss(ratio, adv, mask, **kw):
    logp = torch.log(torch.tensor(ratio, dtype=torch.float64))
    old = torch.zeros_like(logp)
    return grpo_loss(logp, old, torch.tensor(adv, dtype=torch.float64), torch.tensor(mask, dtype=torch.float64),
                     beta=0.0, **kw)


def test_clipping_both_sides():
    # Positive advantage: ratio 1.5 is clipped to 1.2 (upper clip); ratio 0.5 is not clipped (min keeps 0.5).
    out = _loss([[1.5, 0.5]], [1.0], [[1, 1]], epsilon_low=0.2, epsilon_high=0.2)
    assert out.loss.item() == pytest.approx(-(1.2 + 0.5) / 2)
    assert out.clip_high_frac.item() == pytest.approx(0.5)
    assert out.clip_low_frac.item() == pytest.approx(0.0)
    # Negative advantage: ratio 0.5 -> clipped to 0.8 (lower clip), objective min(-0.5, -0.8) = -0.8.
    out = _loss([[1.5, 0.5]], [-1.0], [[1, 1]], epsilon_low=0.2, epsilon_high=0.2)
    assert out.loss.item() == pytest.approx(-(-1.5 + -0.8) / 2)
    assert out.clip_low_frac.item() == pytest.approx(0.5)
    # Clip-higher (DAPO): epsilon_high 0.6 leaves 1.5 unclipped.
    out = _loss([[1.5]], [1.0], [[1]], epsilon_low=0.2, epsilon_high=0.6)
    assert out.loss.item() == pytest.approx(-1.5)


def test_aggregations_and_masks():
    ratio = [[1.0, 1.0, 1.0], [1.0, 1.0, 1.0]]
    adv = [1.0, -2.0]
    mask = [[1, 1, 1], [1, 0, 0]]
    # per-token objective = -A: row 0 -> -1 (3 tokens), row 1 -> 2 (1 token)
    assert _loss(ratio, adv, mask, aggregation="grpo").loss.item() == pytest.approx((-1 + 2) / 2)
    assert _loss(ratio, adv, mask, aggregation="token_mean").loss.item() == pytest.approx((-3 + 2) / 4)
    assert (_loss(ratio, adv, mask, aggregation="dr_grpo", max_completion_length=4).loss.item()
            == pytest.approx((-3 + 2) / (2 * 4)))
    # a fully masked row (e.g. a masked truncated completion) does not dilute the grpo mean
    assert _loss(ratio, adv, [[1, 1, 1], [0, 0, 0]], aggregation="grpo").loss.item() == pytest.approx(-1.0)
    with pytest.raises(ValueError, match="aggregation"):
        _loss(ratio, adv, mask, aggregation="mean")


def test_kl_term_added_with_beta():
    logp = torch.tensor([[math.log(0.5)]], dtype=torch.float64, requires_grad=True)
    ref = torch.tensor([[math.log(0.25)]], dtype=torch.float64)
    out = grpo_loss(logp, logp.detach(), torch.tensor([0.0], dtype=torch.float64), torch.ones(1, 1), ref_logp=ref,
                    beta=0.1)
    assert out.loss.item() == pytest.approx(0.1 * (0.5 + math.log(2) - 1))
    assert out.kl.item() == pytest.approx(0.5 + math.log(2) - 1)
    out.loss.backward()
    assert logp.grad is not None and logp.grad.abs().item() > 0
    with pytest.raises(ValueError, match="ref_logp"):
        grpo_loss(logp, logp.detach(), torch.zeros(1), torch.ones(1, 1), beta=0.1)


def test_gradient_at_ratio_one_is_advantage():
    # d/dlogp of -ratio*A at ratio 1 is -A per token, averaged over tokens and sequences (grpo).
    logp = torch.zeros(2, 2, dtype=torch.float64, requires_grad=True)
    out = grpo_loss(logp, logp.detach(), torch.tensor([1.0, -1.0], dtype=torch.float64), torch.ones(2, 2), beta=0.0)
    out.loss.backward()
    assert logp.grad.flatten().tolist() == pytest.approx([-0.25, -0.25, 0.25, 0.25])


@pytest.mark.parametrize("aggregation", ["grpo", "token_mean", "dr_grpo"])
def test_padding_never_reaches_the_loss_even_at_extreme_log_probs(aggregation):
    # A padded column holding an unlikely token: exp(ref - logp) overflows float32, and inf * 0 would be NaN.
    logp = torch.tensor([[-0.5, -120.0], [-1.0, -200.0]], requires_grad=True)
    old = torch.tensor([[-0.5, -0.1], [-1.0, -0.2]])
    ref = torch.tensor([[-0.6, -0.1], [-0.7, -0.3]])
    adv = torch.tensor([1.0, -1.0])
    mask = torch.tensor([[1.0, 0.0], [1.0, 0.0]])
    out = grpo_loss(logp, old, adv, mask, ref, beta=0.04, aggregation=aggregation, max_completion_length=2)
    out.loss.backward()
    unpadded = grpo_loss(logp.detach()[:, :1], old[:, :1], adv, mask[:, :1], ref[:, :1], beta=0.04,
                         aggregation=aggregation, max_completion_length=2)
    assert torch.isfinite(out.loss) and torch.isfinite(out.kl)
    assert out.loss.item() == pytest.approx(unpadded.loss.item()) and out.kl.item() == pytest.approx(unpadded.kl.item())
    assert torch.isfinite(logp.grad).all() and logp.grad[:, 1].abs().sum() == 0


def test_token_mean_weighs_every_token_of_the_rollout_alike_across_minibatches():
    # A rollout of two completions (A = +1 with 3 tokens, A = -1 with 1 token) split into two minibatches, at ratio
    # 1 (the gradient of each token's objective is -A / divisor). TRL's DAPO divides both by 4 tokens / 2
    # minibatches = 2; dividing each by its own count gave the short completion's token 3x the weight of the others.
    from lightning_modules.grpo_loss import token_mean_normaliser

    ones = torch.ones(1, 3, dtype=torch.float64)
    mask_long, mask_short = ones, torch.tensor([[1.0, 0.0, 0.0]], dtype=torch.float64)
    normaliser = token_mean_normaliser(mask_long.sum() + mask_short.sum(), minibatches=2)
    assert normaliser.item() == 2.0
    grads = []
    for adv, mask in ((1.0, mask_long), (-1.0, mask_short)):
        logp = torch.zeros(1, 3, dtype=torch.float64, requires_grad=True)
        grpo_loss(logp, logp.detach(), torch.tensor([adv], dtype=torch.float64), mask, beta=0.0,
                  aggregation="token_mean", token_normaliser=normaliser).loss.backward()
        grads.append(logp.grad[mask > 0].abs())
    assert torch.cat(grads).tolist() == [0.5, 0.5, 0.5, 0.5]  # one weight per token, whichever minibatch
    # Two ranks, each with this rollout: DDP averages their gradients, so each rank divides by 8 / (2 * 2) = 2 too.
    assert token_mean_normaliser(8, minibatches=2, world_size=2).item() == 2.0
    # One minibatch on one rank is the plain token mean.
    whole = grpo_loss(torch.zeros(2, 3, dtype=torch.float64), torch.zeros(2, 3, dtype=torch.float64),
                      torch.tensor([1.0, -1.0], dtype=torch.float64), torch.cat([mask_long, mask_short]), beta=0.0,
                      aggregation="token_mean", token_normaliser=token_mean_normaliser(4, minibatches=1))
    assert whole.loss.item() == pytest.approx((-3 + 1) / 4)


def test_batch_scaled_advantages_use_the_std_of_every_rank():
    # TRL gathers rewards over ranks before scaling; each rank's own std would scale the ranks differently.
    from lightning_modules.grpo import rollout_advantages

    mine, theirs = torch.tensor([0.0, 1.0, 0.0, 0.5]), torch.tensor([0.0, 4.0, 2.0, 2.0])
    gather = lambda t: torch.stack([t, theirs])  # noqa: E731  (LightningModule.all_gather on rank 0 of 2)
    got = rollout_advantages(mine, 2, "batch", gather, rank=0)
    expected = group_advantages(torch.cat([mine, theirs]), 2, "batch")[:4]
    assert got.tolist() == pytest.approx(expected.tolist())
    assert not torch.allclose(got, group_advantages(mine, 2, "batch"))
    # Group scaling needs nothing from the other ranks.
    assert torch.equal(rollout_advantages(mine, 2, "group", gather), group_advantages(mine, 2, "group"))


# Bad loss settings, with the key each error must name.
@pytest.mark.parametrize("kwargs,key", [
    ({"beta": -0.1}, "beta"),  # a negative KL coefficient
    ({"epsilon_low": 1.0}, "epsilon_low"),  # the ratio could reach 0
    ({"aggregation": "mean"}, "aggregation"),  # an unknown aggregation
    ({"advantage_scale": "rank"}, "advantage_scale"),  # an unknown scale
    ({"importance_sampling": "sequence"}, "importance_sampling"),  # a mode not offered
    ({"importance_sampling_cap": 0.5}, "importance_sampling_cap"),  # a cap below 1 would down-weight every token
])
def test_loss_settings_refuse_bad_values_naming_them(kwargs, key):
    from lightning_modules.grpo_loss import GRPOLossSettings

    with pytest.raises(ValueError, match=key):
        GRPOLossSettings(**kwargs)


@pytest.mark.parametrize("mode,expected", [
    ("token_truncate", [0.5, 1.0, 3.0, 1.0]),  # ratios 0.5, 1, 5 (capped at 3); padding weighs 1
    ("token_mask", [0.5, 1.0, 0.0, 1.0]),  # the ratio above the cap drops its token
])
def test_engine_importance_weights(mode, expected):
    from lightning_modules.grpo_loss import engine_importance_weights

    trainer = torch.log(torch.tensor([[0.5, 1.0, 5.0, 7.0]]))
    engine = torch.zeros(1, 4)
    mask = torch.tensor([[1, 1, 1, 0]])
    got = engine_importance_weights(trainer, engine, mask, mode, cap=3.0)
    assert got[0].tolist() == pytest.approx(expected)
    assert engine_importance_weights(trainer, engine, mask, "none", cap=3.0) is None
