"""crowd: async crowdsourcing task distribution with gold, consensus and pay."""

__version__ = "0.1.0"
