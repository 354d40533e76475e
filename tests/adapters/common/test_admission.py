"""The admission gate: places for requests in flight, in all and per user, given back however a
request ends."""

from __future__ import annotations

import pytest

from adapters.common.admission import Admission, AdmissionRefused
from core import messages
from core.errors import Busy
from core.settings import LimitsConfig


def test_one_user_gets_at_most_their_share() -> None:
    gate = Admission(max_in_flight=10, max_per_user=2)
    first, second = gate.enter("ann"), gate.enter("ann")
    with pytest.raises(AdmissionRefused) as refused:
        gate.enter("ann")
    assert refused.value.key == "busy_yours"
    assert refused.value.user_message("en") == messages.t("busy_yours", "en")
    assert gate.enter("bob") is not None  # others still get in
    first.release()
    gate.enter("ann")  # a place of hers came free
    assert (gate.in_flight, gate.in_flight_of("ann")) == (3, 2)
    second.release()


def test_the_global_limit_holds_for_everyone_together() -> None:
    gate = Admission(max_in_flight=2, max_per_user=2)
    gate.enter("ann")
    gate.enter(None)  # counted in all, not per user (an admin's upload)
    with pytest.raises(Busy) as refused:  # an AdmissionRefused is a Busy: "try again in a moment"
        gate.enter("bob")
    assert refused.value.key == "busy"


def test_a_place_is_given_back_on_errors_and_only_once() -> None:
    gate = Admission(max_in_flight=1, max_per_user=1)
    with pytest.raises(RuntimeError):
        with gate.enter("ann"):
            raise RuntimeError("the search blew up")
    assert gate.in_flight == 0 and gate.in_flight_of("ann") == 0
    ticket = gate.enter("ann")
    ticket.release()
    ticket.release()  # twice is harmless: the count never goes below what is in flight
    assert gate.in_flight == 0
    gate.enter("bob")
    with pytest.raises(AdmissionRefused):
        gate.enter("carl")


async def test_async_with_and_no_memory_for_idle_users() -> None:
    gate = Admission.from_limits(LimitsConfig(max_in_flight=3, max_in_flight_per_user=1))
    assert (gate.max_in_flight, gate.max_per_user) == (3, 1)
    for user in range(100):
        async with gate.enter(user):
            assert gate.in_flight == 1
    assert gate.in_flight == 0 and gate._by_key == {}


def test_limits_are_validated() -> None:
    assert (LimitsConfig().max_in_flight, LimitsConfig().max_in_flight_per_user) == (32, 2)
    with pytest.raises(ValueError):
        LimitsConfig(max_in_flight_per_user=0)
    with pytest.raises(ValueError):
        Admission(0, 1)
