"""Telephony: Twilio spoken through the official SDK, and a Twilio-compatible sandbox to dial instead."""
