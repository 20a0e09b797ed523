"""Gold (honeypot) tasks: how often a worker sees them, how they grade the
worker, when a worker is blocked, and how healthy the gold set is."""
