"""Realistic callback bodies, shaped like the tables of the Sinch reference §1."""

CALL_RESOURCE = "https://calling-euc1.api.sinch.com/calling/v1/calls/id/"

ICE_PSTN = {
    "event": "ice", "callid": "4398599d1ba84ef3bde0a82dfb61abed",
    "callResourceUrl": CALL_RESOURCE + "4398599d1ba84ef3bde0a82dfb61abed",
    "timestamp": "2024-06-06T17:20:14Z", "version": 1, "custom": "customData",
    "userRate": {"currencyId": "USD", "amount": 0.0}, "cli": "12015555555",
    "to": {"type": "did", "endpoint": "+12017777777"}, "domain": "pstn",
    "applicationKey": "669E367E-6BBA-48AB-AF15-266871C28135", "originationType": "PSTN", "rdnis": "",
}
ICE_APP_TO_PHONE = {
    "event": "ice", "callid": "c7e5a0bb-1f63-4b0c-9a50-6f3c0d6f0e11", "timestamp": "2024-06-06T17:21:00Z",
    "version": 1, "cli": "+46701234567", "to": {"type": "number", "endpoint": "+46855500000"},
    "domain": "mxp", "originationType": "MXP", "applicationKey": "669E367E-6BBA-48AB-AF15-266871C28135",
    "userRate": {"currencyId": "EUR", "amount": 0.012},
}
ICE_MXP = {
    "event": "ice", "callid": "8e3c2b1a-ffee-4c1b-9f3d-2a1b0c9d8e7f", "timestamp": "2024-06-06T17:22:00Z",
    "version": 1, "cli": "alice", "to": {"type": "username", "endpoint": "bob"}, "domain": "mxp",
    "originationType": "MXP", "applicationKey": "669E367E-6BBA-48AB-AF15-266871C28135",
    "callHeaders": [{"key": "x-room", "value": "standup"}, {"key": "x-tenant", "value": "acme"}],
}
ICE_SIP = {
    "event": "ice", "callid": "1f2e3d4c-5b6a-4978-8a9b-0c1d2e3f4a5b", "timestamp": "2024-06-06T17:23:00Z",
    "version": 1, "cli": "+46812345678", "to": {"type": "sip", "endpoint": "46708000000@sip.example.com"},
    "domain": "pstn", "originationType": "PSTN", "applicationKey": "669E367E-6BBA-48AB-AF15-266871C28135",
    "duration": 0,
}
ACE = {
    "event": "ace", "callid": ICE_PSTN["callid"], "timestamp": "2024-06-06T17:20:20Z", "version": 1,
    "applicationKey": "669E367E-6BBA-48AB-AF15-266871C28135",
    "amd": {"status": "human", "reason": "n/a", "duration": 2},
}
PIE = {
    "event": "pie", "callid": ICE_PSTN["callid"], "timestamp": "2024-06-06T17:20:30Z", "version": 1,
    "menuResult": {"menuId": "main", "type": "return", "value": "accept", "inputMethod": "dtmf"},
    "applicationKey": "669E367E-6BBA-48AB-AF15-266871C28135",
}
DICE = {
    "event": "dice", "callid": ICE_PSTN["callid"], "timestamp": "2024-06-06T17:25:14Z",
    "reason": "CALLERHANGUP", "result": "ANSWERED", "version": 1,
    "debit": {"currencyId": "USD", "amount": 0.0244}, "userRate": {"currencyId": "USD", "amount": 0.0122},
    "to": {"type": "number", "endpoint": "+12017777777"}, "duration": 120, "from": "12015555555",
    "applicationKey": "669E367E-6BBA-48AB-AF15-266871C28135",
}
NOTIFY_AVAILABLE = {
    "event": "notify", "callid": ICE_PSTN["callid"], "version": 1, "type": "recording_available",
    "destination": "azure://sinchsdk/voice-recordings/my-recording.mp3",
}
NOTIFY_FINISHED = {"event": "notify", "callid": ICE_PSTN["callid"], "version": 1, "type": "recording_finished"}
NOTIFY_ERROR = {
    "event": "notify", "callid": ICE_PSTN["callid"], "version": 1, "type": "callingerror",
    "errorCode": 40001, "errorMsg": "Illegal SVAML",
}

# More of each kind, for "each callback answered correctly for three realistic payloads".
ACE_MACHINE = {**ACE, "callid": "ace-2", "amd": {"status": "machine", "reason": "longgreeting", "duration": 4}}
ACE_PLAIN = {"event": "ace", "callid": "ace-3", "timestamp": "2024-06-06T17:30:00Z", "version": 1,
             "custom": "callout-42", "applicationKey": "669E367E-6BBA-48AB-AF15-266871C28135"}
PIE_SEQUENCE = {**PIE, "callid": "pie-2",
                "menuResult": {"menuId": "main", "type": "sequence", "value": "1234", "inputMethod": "dtmf"}}
# A card number keyed into a menu (sensitive input: never kept, issue 26); the canary of the scans.
CARD_CANARY = "4111111111111111"
PIE_CARD = {**PIE, "callid": "pie-card",
            "menuResult": {"menuId": "card", "type": "sequence", "value": CARD_CANARY, "inputMethod": "dtmf"}}
PIE_TIMEOUT = {**PIE, "callid": "pie-3", "menuResult": {"menuId": "main", "type": "Timeout", "value": "",
                                                         "inputMethod": "voice"}}
DICE_NOANSWER = {"event": "dice", "callid": "dice-2", "timestamp": "2024-06-06T17:26:00Z", "reason": "TIMEOUT",
                 "result": "NOANSWER", "version": 1, "debit": {"currencyId": "EUR", "amount": 0},
                 "to": {"type": "number", "endpoint": "+46855500000"}, "from": "private"}
DICE_BUSY = {"event": "dice", "callid": "dice-3", "timestamp": "2024-06-06T17:27:00Z", "reason": "CONGESTION",
             "result": "BUSY", "version": 1, "userRate": {"currencyId": "USD", "amount": 0.01}, "duration": 0}
DICE_FAILED = {"event": "dice", "callid": "dice-4", "reason": "CALLBACKERROR", "result": "FAILED", "version": 1,
               "callHeaders": [{"key": "x-room", "value": "standup"}]}
