"""Log-probabilities of chosen tokens through a linear LM head, one ``tokens x vocabulary`` tile at a time.

:class:`TiledHeadLogprobs` is an autograd function over ``(hidden, weight, bias)``: its forward projects the
hidden states through the head tile by tile (``chunk_size`` tokens by :data:`VOCAB_TILE` vocabulary columns) and
folds each tile into running log-sum-exp statistics, so no logits outlive their tile; its backward projects each
tile again, turns it into the gradient of the logits in place (``(onehot - softmax) * grad / temperature``), and
accumulates the gradients of the hidden states and of the head's weight from it. One tile of float32 logits is
alive at any time (4 MiB by default), where autograd through ``head(hidden).log_softmax(-1)`` keeps the
``M x V`` logits, their softmax and their gradient (three times 622 MB for 1,024 tokens at Qwen's 151,936-token
vocabulary), and checkpointed token chunks still hold several ``chunk x V`` copies plus a ``V x H`` weight
gradient per chunk.

The values are those of ``log_softmax(head(hidden) / temperature)`` gathered at the tokens (up to float rounding
of the summation order); the gradients are autograd's of the same expression. The entropy is detached (it is
logged, never differentiated).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

#: Vocabulary columns per tile: 256 tokens x 4096 columns of float32 is 4 MiB, small enough to stay in cache
#: between the projection and the passes over it, large enough that every matrix product has work.
VOCAB_TILE = 4096


def _project(hidden: Tensor, weight: Tensor, bias: Tensor | None, out: Tensor, inv_t: float) -> Tensor:
    """``out = (hidden @ weight.T + bias) * inv_t`` in ``out``'s dtype (the product in the head's, as the head)."""
    if hidden.dtype == weight.dtype == out.dtype:
        torch.mm(hidden, weight.t(), out=out)
        if bias is not None:
            out.add_(bias)
    else:
        out.copy_(nn.functional.linear(hidden, weight, bias))
    if inv_t != 1.0:
        out.mul_(inv_t)
    return out


def _tile_dtype(weight: Tensor) -> torch.dtype:
    """Logits tiles are float32, or float64 for a float64 head."""
    return torch.promote_types(weight.dtype, torch.float32)


def _columns(tokens: Tensor, start: int, end: int) -> tuple[Tensor, Tensor]:
    """Each token's column in the tile ``[start, end)`` (clamped into it) and whether it lies there."""
    return (tokens - start).clamp(0, end - start - 1), (tokens >= start) & (tokens < end)


class TiledHeadLogprobs(torch.autograd.Function):
    """``(logp, entropy)`` of ``tokens`` under ``softmax((hidden @ weight.T + bias) / temperature)``, tiled.

    ``forward(hidden M x H, weight V x H, bias V or None, tokens M, temperature, chunk_size, with_entropy)``
    returns float32 ``M`` log-probabilities (differentiable in ``hidden``, ``weight`` and ``bias``) and float32
    ``M`` entropies (empty unless ``with_entropy``; not differentiable).
    """

    @staticmethod
    def forward(ctx: Any, hidden: Tensor, weight: Tensor, bias: Tensor | None, tokens: Tensor, temperature: float,
                chunk_size: int, with_entropy: bool) -> tuple[Tensor, Tensor]:
        m, v = hidden.shape[0], weight.shape[0]
        inv_t = 1.0 / temperature
        f32 = dict(dtype=_tile_dtype(weight), device=hidden.device)
        run_max = torch.full((m,), float("-inf"), **f32)
        sum_exp = torch.zeros(m, **f32)
        z_sum_exp = torch.zeros(m, **f32)  # sum of exp(z - run_max) * z, for the entropy
        target = torch.zeros(m, **f32)
        rows = max(1, min(m, chunk_size))
        tile_buf = torch.empty(rows, min(v, VOCAB_TILE), **f32)
        exp_buf = torch.empty_like(tile_buf) if with_entropy else None
        for start in range(0, v, VOCAB_TILE):
            end = min(start + VOCAB_TILE, v)
            w, b = weight[start:end], None if bias is None else bias[start:end]
            for r0 in range(0, m, rows):
                r1 = min(r0 + rows, m)
                z = _project(hidden[r0:r1], w, b, tile_buf[: r1 - r0, : end - start], inv_t)
                column, inside = _columns(tokens[r0:r1], start, end)
                picked = z.gather(1, column.unsqueeze(1)).squeeze(1)
                target[r0:r1] = torch.where(inside, picked, target[r0:r1])
                new_max = torch.maximum(run_max[r0:r1], z.amax(dim=1))
                rescale = torch.exp(run_max[r0:r1] - new_max)  # 0 on the first tile (run_max is -inf)
                z.sub_(new_max.unsqueeze(1))
                if exp_buf is None:
                    tile_sum = z.exp_().sum(dim=1)
                else:
                    e = torch.exp(z, out=exp_buf[: r1 - r0, : end - start])
                    tile_sum = e.sum(dim=1)
                    # sum exp(z - max) * z = sum e * (z - max) + max * sum e
                    z_tile = torch.linalg.vecdot(e, z) + new_max * tile_sum
                    z_sum_exp[r0:r1] = z_sum_exp[r0:r1] * rescale + z_tile
                sum_exp[r0:r1] = sum_exp[r0:r1] * rescale + tile_sum
                run_max[r0:r1] = new_max
        lse = run_max + torch.log(sum_exp)
        logp = target - lse
        entropy = lse - z_sum_exp / sum_exp if with_entropy else logp.new_empty(0)
        ctx.save_for_backward(hidden, weight, bias, tokens, lse)
        ctx.settings = (inv_t, chunk_size)
        ctx.mark_non_differentiable(entropy)
        ctx.set_materialize_grads(False)
        return logp, entropy

    @staticmethod
    def backward(ctx: Any, grad_logp: Tensor | None, grad_entropy: Tensor | None) -> tuple[Any, ...]:
        hidden, weight, bias, tokens, lse = ctx.saved_tensors
        inv_t, chunk_size = ctx.settings
        need_hidden, need_weight, need_bias = ctx.needs_input_grad[:3]
        if grad_logp is None or not (need_hidden or need_weight or need_bias):
            return (None,) * 7
        m, v = hidden.shape[0], weight.shape[0]
        f32 = dict(dtype=_tile_dtype(weight), device=hidden.device)
        # d logp / d z_raw = (onehot - softmax) / temperature, times the incoming gradient of each token.
        scale = grad_logp.to(f32["dtype"]) * inv_t
        grad_hidden = torch.zeros(m, hidden.shape[1], **f32) if need_hidden else None
        grad_weight = torch.empty_like(weight) if need_weight else None
        grad_bias = torch.empty_like(bias) if need_bias else None
        rows = max(1, min(m, chunk_size))
        tile_buf = torch.empty(rows, min(v, VOCAB_TILE), **f32)
        low_precision = weight.dtype != f32["dtype"]
        acc = torch.empty(min(v, VOCAB_TILE), weight.shape[1], **f32) if need_weight and low_precision else None
        for start in range(0, v, VOCAB_TILE):
            end = min(start + VOCAB_TILE, v)
            w, b = weight[start:end], None if bias is None else bias[start:end]
            w_acc = None
            if need_weight:
                w_acc = grad_weight[start:end] if acc is None else acc[: end - start]
                w_acc.zero_()
            b_acc = torch.zeros(end - start, **f32) if need_bias else None
            for r0 in range(0, m, rows):
                r1 = min(r0 + rows, m)
                z = _project(hidden[r0:r1], w, b, tile_buf[: r1 - r0, : end - start], inv_t)
                z.sub_(lse[r0:r1].unsqueeze(1)).exp_().mul_(-scale[r0:r1].unsqueeze(1))  # -softmax * scale
                column, inside = _columns(tokens[r0:r1], start, end)
                # + scale at each token's own column (rows whose token lies in another tile add 0).
                z.scatter_add_(1, column.unsqueeze(1), (scale[r0:r1] * inside).unsqueeze(1))
                if low_precision:  # the products in the head's dtype, as its own backward; sums in float32
                    dz = z.to(weight.dtype)
                    if grad_hidden is not None:
                        grad_hidden[r0:r1].add_(torch.mm(dz, w))
                    if w_acc is not None:
                        w_acc.add_(torch.mm(dz.t(), hidden[r0:r1]))
                else:
                    if grad_hidden is not None:
                        grad_hidden[r0:r1].addmm_(z, w)
                    if w_acc is not None:
                        w_acc.addmm_(z.t(), hidden[r0:r1])
                if b_acc is not None:
                    b_acc.add_(z.sum(dim=0))
            if acc is not None:
                grad_weight[start:end].copy_(w_acc)
            if grad_bias is not None:
                grad_bias[start:end].copy_(b_acc)
        if grad_hidden is not None:
            grad_hidden = grad_hidden.to(hidden.dtype)
        return grad_hidden, grad_weight, grad_bias, None, None, None, None


def tiled_head(head: nn.Module) -> bool:
    """Whether ``head`` is a plain ``nn.Linear`` that :class:`TiledHeadLogprobs` can replace exactly."""
    return type(head) is nn.Linear


def tiled_logprobs(head: nn.Linear, hidden: Tensor, tokens: Tensor, temperature: float = 1.0,
                   with_entropy: bool = False, chunk_size: int = 256) -> tuple[Tensor, Tensor]:
    """:class:`TiledHeadLogprobs` of ``hidden`` (``M x H``) and ``tokens`` (``M``) through a linear ``head``."""
    return TiledHeadLogprobs.apply(hidden, head.weight, head.bias, tokens, temperature, chunk_size, with_entropy)
