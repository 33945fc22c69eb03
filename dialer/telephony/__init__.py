"""Telephony: Twilio through the official SDK (client), and the Twilio-compatible sandbox."""
