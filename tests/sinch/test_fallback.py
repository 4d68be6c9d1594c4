"""The built-in fallback for each call type: the dialled destination, never the app's own number."""

import pytest

from app.sinch.fallback import Fallback, builtin_fallback
from app.sinch.svaml import no_route, render
from tests import payloads


@pytest.mark.parametrize("payload, action", [
    (payloads.ICE_APP_TO_PHONE, {"name": "connectPstn", "number": "+46855500000"}),
    (payloads.ICE_MXP, {"name": "connectMxp", "destination": {"type": "username", "endpoint": "bob"}}),
    (payloads.ICE_SIP, {"name": "connectSip", "destination": {"type": "sip", "endpoint": "46708000000@sip.example.com"}}),
])
def test_the_fallback_connects_what_was_dialled(payload, action):
    assert builtin_fallback(payload) == {"action": action}


def test_a_call_to_the_app_s_own_number_is_told_there_is_no_route_never_connected_back():
    assert payloads.ICE_PSTN["to"]["type"] == "did"
    assert builtin_fallback(payloads.ICE_PSTN) == no_route() == Fallback()(payloads.ICE_PSTN)
    assert render(no_route(), "ice")["action"] == {"name": "hangup"}


@pytest.mark.parametrize("payload", [payloads.ACE, payloads.PIE])
def test_ace_and_pie_fall_back_to_continue(payload):
    assert builtin_fallback(payload) == {"action": {"name": "continue"}}
