"""Machine predictions: models as workers of consensus, their evaluation."""
