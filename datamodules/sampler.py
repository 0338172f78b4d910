"""Seeded mixture sampler: which domain, then which unseen example of it, one draw at a time.

The sampler is a small state machine so that a run can be checkpointed between any two draws and
resumed to the exact same sequence:

- the domain of each draw comes from one PCG64 generator (``p = w``);
- each domain walks a permutation of its examples; the permutation of ``(domain, epoch)`` is a pure
  function of ``(seed, domain, epoch)``, so the state only needs the cursor, not the permutation;
- ``stop="first_exhausted"`` (the paper) ends the stream the first time a domain is drawn after all
  its examples were used; ``stop="cycle"`` reshuffles that domain and goes on;
- ``replacement=True`` draws the example index uniformly instead (the stream never ends).

Example::

    s = MixtureSampler({"a": 10, "b": 5}, {"a": 0.5, "b": 0.5}, seed=0)
    s.draw_batch(4)  # [("a", 3), ("b", 0), ...] or None once exhausted
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from typing import Any, Literal

import numpy as np

StopRule = Literal["first_exhausted", "cycle"]


class MixtureSampler:
    """Draws ``(domain, index)`` pairs following mixture weights, without replacement inside a domain.

    Args:
        sizes: Number of examples of each domain (domains with weight 0 may have size 0).
        weights: Sampling probability of each domain; same keys as ``sizes``; normalised here.
        seed: Seed of the domain choice and of every per-domain permutation.
        stop: ``"first_exhausted"`` ends the stream when a drawn domain has no unseen example left;
            ``"cycle"`` reshuffles that domain and continues.
        replacement: Draw example indices uniformly with replacement (never exhausts).
    """

    def __init__(
        self,
        sizes: Mapping[str, int],
        weights: Mapping[str, float],
        seed: int = 0,
        stop: StopRule = "first_exhausted",
        replacement: bool = False,
    ) -> None:
        if set(sizes) != set(weights):
            raise ValueError(f"sizes and weights name different domains: {sorted(sizes)} vs {sorted(weights)}")
        if stop not in ("first_exhausted", "cycle"):
            raise ValueError(f"stop must be 'first_exhausted' or 'cycle', got {stop!r}")
        self.names = list(sizes)
        self.sizes = [int(sizes[n]) for n in self.names]
        w = np.array([float(weights[n]) for n in self.names], dtype=np.float64)
        if not np.all(np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
            raise ValueError(f"weights must be finite, non-negative and not all zero, got {dict(weights)}")
        for name, size, wi in zip(self.names, self.sizes, w, strict=False):
            if wi > 0 and size <= 0:
                raise ValueError(f"domain {name!r} has weight {wi} but no training examples")
        self.weights = w / w.sum()
        # Cumulative weights for inverse-CDF sampling; the last bin with weight is closed explicitly so that
        # rounding in the cumsum can never select past it (a zero-weight domain after it must never be drawn).
        self._cdf = np.cumsum(self.weights)
        self._cdf[int(np.flatnonzero(self.weights > 0)[-1]):] = math.inf
        self.seed = int(seed)
        self.stop = stop
        self.replacement = bool(replacement)
        self._rng = np.random.Generator(np.random.PCG64(self.seed))
        self.cursors = [0] * len(self.names)
        self.epochs = [0] * len(self.names)
        self.counts = [0] * len(self.names)
        self.draws = 0
        self.exhausted = False
        self._perm_cache: dict[tuple[int, int], np.ndarray] = {}

    def _permutation(self, d: int, epoch: int) -> np.ndarray:
        key = (d, epoch)
        perm = self._perm_cache.get(key)
        if perm is None:
            # Keep only the current epoch of each domain: old epochs are never revisited.
            self._perm_cache = {k: v for k, v in self._perm_cache.items() if k[0] != d}
            perm = np.random.default_rng([self.seed, d + 1, epoch]).permutation(self.sizes[d])
            self._perm_cache[key] = perm
        return perm

    def draw(self) -> tuple[str, int] | None:
        """Draws the next ``(domain_name, example_index)``, or ``None`` once the stream has stopped."""
        if self.exhausted:
            return None
        d = int(np.searchsorted(self._cdf, self._rng.random(), side="right"))
        if self.replacement:
            index = int(self._rng.integers(self.sizes[d]))
        else:
            if self.cursors[d] >= self.sizes[d]:
                if self.stop == "first_exhausted":
                    self.exhausted = True
                    return None
                self.epochs[d] += 1
                self.cursors[d] = 0
            index = int(self._permutation(d, self.epochs[d])[self.cursors[d]])
            self.cursors[d] += 1
        self.counts[d] += 1
        self.draws += 1
        return self.names[d], index

    def draw_batch(self, n: int) -> list[tuple[str, int]] | None:
        """Draws ``n`` pairs; ``None`` if the stream stops before the batch is complete.

        A partial batch is dropped so that, under DDP, every rank sees the same number of full batches.
        """
        out = []
        for _ in range(n):
            item = self.draw()
            if item is None:
                return None
            out.append(item)
        return out

    @property
    def drawn_counts(self) -> dict[str, int]:
        """Number of draws per domain so far (all ranks together)."""
        return dict(zip(self.names, self.counts, strict=False))

    def state_dict(self) -> dict[str, Any]:
        """The full state: generator state, per-domain cursors/epochs/counts, draw count."""
        return {
            "names": list(self.names),
            "sizes": list(self.sizes),
            "seed": self.seed,
            "rng": copy.deepcopy(self._rng.bit_generator.state),
            "cursors": list(self.cursors),
            "epochs": list(self.epochs),
            "counts": list(self.counts),
            "draws": self.draws,
            "exhausted": self.exhausted,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restores a state saved by :meth:`state_dict` on a sampler over the same domains and sizes.

        Raises:
            ValueError: If the domains, their sizes or the seed differ from the saved ones (the
                saved cursors would then point into different data).
        """
        saved = {k: state[k] for k in ("names", "sizes", "seed")}
        current = {"names": self.names, "sizes": self.sizes, "seed": self.seed}
        if saved != {k: list(v) if isinstance(v, list) else v for k, v in current.items()}:
            raise ValueError(
                f"sampler state was saved for {saved}, but this data module has {current}; "
                "resume with the same domains, sample caps and seed"
            )
        self._rng.bit_generator.state = copy.deepcopy(state["rng"])
        self.cursors = list(state["cursors"])
        self.epochs = list(state["epochs"])
        self.counts = list(state["counts"])
        self.draws = int(state["draws"])
        self.exhausted = bool(state["exhausted"])
