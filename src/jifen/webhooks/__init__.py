"""Webhooks: domain events for third-party clients, through a transactional outbox.

Invariants:
- An outbox event is written in the same database transaction as the change it reports:
  no event for a rolled-back change, none lost for a committed one.
- Nothing calls the network inside a write transaction: a worker posts deliveries later.
- A client only hears of members bound to it (a non-revoked member binding).
- On one endpoint, deliveries about one member (or household) go out in event order.
- Every delivery is signed (Standard Webhooks), retried with capped exponential backoff
  up to `webhook_attempts_max` times, and every attempt is logged.
"""
