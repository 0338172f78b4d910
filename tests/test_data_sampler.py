"""Mixture sampler and training stream: proportions, stopping, exact resume, DDP disjointness."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy.stats import chisquare

from datamodules import Domain, MixtureSampler, MultiDomainDataModule, SyntheticCounting, SyntheticSpatial


def _draws(sampler: MixtureSampler, n: int) -> list[tuple[str, int]]:
    return [sampler.draw() for _ in range(n)]


def test_domain_frequencies_follow_weights() -> None:
    weights = {"a": 0.5, "b": 0.3, "c": 0.2}
    sampler = MixtureSampler({"a": 10, "b": 10, "c": 10}, weights, seed=0, stop="cycle")
    names = [name for name, _ in _draws(sampler, 6000)]
    observed = [names.count(k) for k in weights]
    expected = [w * len(names) for w in weights.values()]
    assert chisquare(observed, expected).pvalue > 0.01
    assert sampler.drawn_counts == dict(zip(weights, observed, strict=False))


def test_a_zero_weight_domain_listed_last_is_never_drawn() -> None:
    # Ten weights of 0.1 sum to 0.9999999999999999 in floating point: the generator's largest output (1 - 2**-53)
    # is not below that, so an open last bin would hand the rounding slack to the zero-weight domain.
    sizes = {**{f"d{i}": 5 for i in range(10)}, "zero": 0}
    sampler = MixtureSampler(sizes, {**{f"d{i}": 0.1 for i in range(10)}, "zero": 0.0}, seed=0, replacement=True)
    largest = np.nextafter(1.0, 0.0)
    assert np.cumsum(sampler.weights)[-2] <= largest

    class _Top:  # the generator at its largest draw
        def random(self) -> float:
            return float(largest)

        def integers(self, n: int) -> int:
            return n - 1

    sampler._rng = _Top()  # type: ignore[assignment]
    assert sampler.draw()[0] == "d9"


def test_without_replacement_visits_every_example_once_per_epoch() -> None:
    sampler = MixtureSampler({"a": 7, "b": 5}, {"a": 1, "b": 1}, seed=3, stop="cycle")
    draws = _draws(sampler, 200)
    a_indices = [i for name, i in draws if name == "a"]
    for epoch in range(len(a_indices) // 7):
        assert sorted(a_indices[7 * epoch : 7 * epoch + 7]) == list(range(7))
    # A reshuffled epoch is not a copy of the previous one.
    assert a_indices[:7] != a_indices[7:14] or a_indices[7:14] != a_indices[14:21]


def test_first_exhausted_stops_when_the_first_domain_runs_out() -> None:
    sampler = MixtureSampler({"small": 5, "large": 1000}, {"small": 1, "large": 1}, seed=1)
    draws = list(iter(sampler.draw, None))
    small = [i for name, i in draws if name == "small"]
    assert sorted(small) == list(range(5))  # every example of the small domain, once
    assert sampler.exhausted and sampler.draw() is None
    assert len(draws) < 1000


def test_replacement_never_stops_and_repeats() -> None:
    sampler = MixtureSampler({"a": 3}, {"a": 1}, seed=0, replacement=True)
    indices = [i for _, i in _draws(sampler, 50)]
    assert None not in indices and len(set(indices)) <= 3 and len(indices) == 50


def test_zero_weight_domain_is_never_drawn() -> None:
    sampler = MixtureSampler({"a": 5, "b": 0}, {"a": 1, "b": 0}, seed=0, stop="cycle")
    assert {name for name, _ in _draws(sampler, 100)} == {"a"}


def test_a_domain_appended_with_weight_zero_leaves_the_stream_unchanged() -> None:
    # A world that appends a training domain (the conflict world adds science_desc after the transfer world's five)
    # leaves every run that gives it no weight drawing exactly the examples it drew before, so those runs carry over.
    sizes, weights = {"a": 8, "b": 6, "c": 7}, {"a": 0.0, "b": 2.0, "c": 1.0}
    before = _draws(MixtureSampler(sizes, weights, seed=4, stop="cycle"), 80)
    grown = MixtureSampler({**sizes, "new": 9}, {**weights, "new": 0.0}, seed=4, stop="cycle")
    assert _draws(grown, 80) == before


def test_sampler_state_round_trip_continues_exactly() -> None:
    kwargs = dict(sizes={"a": 6, "b": 9}, weights={"a": 2, "b": 1}, seed=5, stop="cycle")
    reference = _draws(MixtureSampler(**kwargs), 60)
    first = MixtureSampler(**kwargs)
    head = _draws(first, 23)
    resumed = MixtureSampler(**kwargs)
    resumed.load_state_dict(first.state_dict())
    assert head + _draws(resumed, 37) == reference


def test_state_from_other_data_is_refused() -> None:
    state = MixtureSampler({"a": 6}, {"a": 1}, seed=0).state_dict()
    with pytest.raises(ValueError, match="same domains"):
        MixtureSampler({"a": 7}, {"a": 1}, seed=0).load_state_dict(state)


def _module(**kwargs) -> MultiDomainDataModule:
    domains = [
        Domain("spatial", SyntheticSpatial(train_size=40, eval_size=4, seed=1)),
        Domain("counting", SyntheticCounting(train_size=25, eval_size=4, seed=2)),
    ]
    dm = MultiDomainDataModule(domains, **{"batch_size": 3, "seed": 7, **kwargs})
    dm.setup("fit")
    return dm


def _ids(batches) -> list[list[str]]:
    return [[s.id for s in batch] for batch in batches]


@pytest.mark.parametrize("stop", ["first_exhausted", "cycle"])
def test_resume_after_k_steps_reproduces_the_sequence(stop: str) -> None:
    reference = _ids(itertools.islice(_module(stop=stop).train_dataloader(), 12))
    run = _module(stop=stop)
    head = _ids(itertools.islice(iter(run.train_dataloader()), 5))
    state = run.state_dict()
    resumed = _module(stop=stop)
    resumed.load_state_dict(state)
    tail = _ids(itertools.islice(resumed.train_dataloader(), 7))
    assert head + tail == reference
    assert sum(resumed.drawn_counts.values()) == 12 * 3


def test_resume_with_worker_processes_and_no_trainer() -> None:
    # Workers build the batches in their own copies of the stream; the state must still advance here.
    reference = _ids(itertools.islice(_module(stop="cycle").train_dataloader(), 7))
    run = _module(stop="cycle", num_workers=2)
    head = _ids(itertools.islice(iter(run.train_dataloader()), 4))
    assert run.state_dict()["sampler"]["draws"] == 4 * 3
    resumed = _module(stop="cycle")
    resumed.load_state_dict(run.state_dict())
    assert head + _ids(itertools.islice(resumed.train_dataloader(), 3)) == reference


def test_lightning_prefetch_does_not_skip_batches_on_resume() -> None:
    # Under a Trainer the loop fetches one batch ahead; only batches passed through
    # on_before_batch_transfer (i.e. consumed) may count.
    reference = _ids(itertools.islice(_module(stop="cycle").train_dataloader(), 6))
    run = _module(stop="cycle")
    run.trainer = object()  # a trainer is attached: commit on consumption, not on draw
    run._rank_and_world = lambda: (0, 1)  # type: ignore[method-assign]
    it = iter(run.train_dataloader())
    consumed = [run.on_before_batch_transfer(next(it), 0) for _ in range(3)]
    next(it)  # prefetched, never consumed
    resumed = _module(stop="cycle")
    resumed.load_state_dict(run.state_dict())
    assert _ids(consumed) + _ids(itertools.islice(resumed.train_dataloader(), 3)) == reference


def test_first_exhausted_stream_ends() -> None:
    dm = _module(stop="first_exhausted")
    batches = list(dm.train_dataloader())
    counts = dm.drawn_counts
    assert counts["spatial"] <= 40 and counts["counting"] <= 25
    assert 0 < len(batches) <= (40 + 25) // 3
    assert all(len(b) == 3 for b in batches)
    ids = [s.id for b in batches for s in b]
    assert len(ids) == len(set(ids))  # without replacement: no example twice


def test_ddp_ranks_are_disjoint_and_cover_the_global_sequence() -> None:
    world = 3
    single = _ids(itertools.islice(_module(batch_size=3 * world).train_dataloader(), 4))
    per_rank = [
        _ids(itertools.islice(_module().train_dataloader(rank=r, world_size=world), 4)) for r in range(world)
    ]
    for step in range(4):
        ranks = [set(per_rank[r][step]) for r in range(world)]
        assert all(len(a & b) == 0 for a, b in itertools.combinations(ranks, 2))
        assert set().union(*ranks) == set(single[step])
        assert all(len(per_rank[r][step]) == 3 for r in range(world))


def test_weights_proportions_in_batches() -> None:
    dm = _module(weights={"spatial": 3, "counting": 1}, stop="cycle", batch_size=8)
    names = [s.domain for batch in itertools.islice(dm.train_dataloader(), 100) for s in batch]
    observed = [names.count("spatial"), names.count("counting")]
    assert chisquare(observed, [0.75 * len(names), 0.25 * len(names)]).pvalue > 0.01
    assert dm.weights == {"spatial": 0.75, "counting": 0.25}
    assert np.isclose(sum(dm.weights.values()), 1.0)


def test_worker_processes_yield_the_same_sequence() -> None:
    reference = _ids(itertools.islice(_module(stop="cycle").train_dataloader(), 6))
    assert _ids(itertools.islice(_module(stop="cycle", num_workers=2).train_dataloader(), 6)) == reference
