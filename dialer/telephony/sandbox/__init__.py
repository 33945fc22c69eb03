"""A Twilio-compatible sandbox: a loopback HTTP server the unmodified SDK dials, with simulated customers.

sb = Sandbox(clock, seed=0, cps=1.0)    # the population of docs/definitions.md, injected clock
sb.person("+886912345678", "human", digits=["1", "3"])   # or script one number exactly
with SandboxServer(sb) as server:
    client = Client(sb.account_sid, sb.auth_token,
                    http_client=RewritingHttpClient(server.base_url))
    client.calls.create(to=..., from_=..., url=..., status_callback=...)
    clock.advance(60); sb.pump()                  # or sb.run_in_background() in real time
    sb.contacts(to="+886912345678")               # who rang when, what they pressed
"""

from dialer.telephony.sandbox.behaviour import Behaviour, Faults, Person
from dialer.telephony.sandbox.resources import Contact
from dialer.telephony.sandbox.sandbox import Sandbox
from dialer.telephony.sandbox.server import SandboxServer

__all__ = ["Behaviour", "Contact", "Faults", "Person", "Sandbox", "SandboxServer"]
