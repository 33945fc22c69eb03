"""dialer: outbound callback campaigns that reach every member within three days, never in rest hours."""

from dialer.clock import Clock, SettableClock, SystemClock
from dialer.config import Settings
from dialer.errors import DialerError

__all__ = ["Clock", "DialerError", "SettableClock", "Settings", "SystemClock"]
__version__ = "0.1.0"
