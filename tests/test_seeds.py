"""The seed tree (rptici.seeds): each stream keeps the derivation the golden outputs were recorded with."""

from __future__ import annotations

import numpy as np
import pytest

from rptici import seeds
from rptici.errors import InputError


def draws(generator: np.random.Generator) -> list[float]:
    return generator.random(3).tolist()


def test_streams_keep_their_recorded_derivations():
    seed = 7
    assert draws(seeds.design(seed)) == draws(np.random.default_rng(np.random.SeedSequence(seed)))
    assert draws(seeds.separate_design(seed)) == draws(np.random.default_rng(seed * 0x10000 + 0x10B))
    assert draws(seeds.allocation(seed)) == draws(np.random.default_rng([seed, 0xA110C]))
    kernel, accept = np.random.SeedSequence(seed).spawn(2)
    assert [draws(rng) for rng in seeds.selection(seed)] == [draws(np.random.default_rng(kernel)),
                                                             draws(np.random.default_rng(accept))]


def test_patient_streams_depend_on_seed_and_index_only():
    """Patient i's stream is child i of SeedSequence(seed).spawn(n), whatever n and the chunk it is drawn in."""
    children = np.random.SeedSequence(11).spawn(6)
    whole = [draws(rng) for rng in seeds.patients(11, 0, 6)]
    assert whole == [draws(np.random.default_rng(child)) for child in children]
    assert [draws(rng) for rng in seeds.patients(11, 4, 6)] == whole[4:]
    assert draws(seeds.patients(12, 0, 1)[0]) != whole[0]
    # no seed: fresh entropy, shared by the patients of one call (they stay distinct)
    first, second = seeds.patients(None, 0, 2)
    assert draws(first) != draws(second)


@pytest.mark.parametrize("seed", [-1, 1.5, True, "1"])
def test_a_root_seed_is_a_whole_number(seed):
    with pytest.raises(InputError, match="seed"):
        seeds.design(seed)
    with pytest.raises(InputError):
        seeds.patients(1, 3, 2)
