"""A Twilio-compatible sandbox: a loopback HTTP server the unmodified SDK dials, with simulated customers."""

from dialer.telephony.sandbox.behaviour import Behaviour, Faults, Person
from dialer.telephony.sandbox.resources import Contact
from dialer.telephony.sandbox.sandbox import Sandbox
from dialer.telephony.sandbox.server import SandboxServer

__all__ = ["Behaviour", "Contact", "Faults", "Person", "Sandbox", "SandboxServer"]
