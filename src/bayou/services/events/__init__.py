"""Delivering bucket events to targets (webhooks and brokers), from the transactional outbox."""
