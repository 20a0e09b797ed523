"""Signed webhook delivery of outbox events, with retries."""
