"""The event outbox and the replayable event feed."""
