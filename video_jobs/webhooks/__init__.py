"""Webhooks: endpoints users register, an outbox written with each job's status change, and the dispatcher
(``run_webhooks``) that signs deliveries (Standard Webhooks) and sends them to checked public addresses."""
