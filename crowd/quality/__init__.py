"""Quality: agreement figures, the expert review queue, fast answers, drift."""
