"""The fit/held-out split and the share of tunes held out of the catalog."""

from __future__ import annotations

import pytest

from evaluation.evalset.dataset import OUTSIDE_SHARE, default_outside, split_of


def test_split_is_stable_and_half_half() -> None:
    # Pinned: a song must never change sides between builds, or "held-out" figures would
    # have been fitted on.
    assert [split_of(k) for k in ("s00000000", "s12345678", "nosong-held-000", "nosong-speech-003")] == [
        "held-out", "fit", "fit", "held-out"]  # fmt: skip
    keys = [f"s{i:08x}" for i in range(4000)]
    assert [split_of(k) for k in keys] == [split_of(k) for k in keys]
    share = sum(split_of(k) == "fit" for k in keys) / len(keys)
    assert 0.47 < share < 0.53
    assert {split_of(k) for k in keys} == {"fit", "held-out"}


@pytest.mark.parametrize("n", [1, 3, 7, 10, 99, 300, 1000])
def test_default_outside_is_the_smallest_count_reaching_30_percent(n: int) -> None:
    k = default_outside(n)
    assert k / (n + k) >= OUTSIDE_SHARE
    assert (k - 1) / (n + k - 1) < OUTSIDE_SHARE  # and not one more than needed


def test_300_songs_hold_out_129() -> None:
    assert default_outside(300) == 129
