"""Consensus in the server: the online step on every answer, dynamic
overlap, full refits per project and worker reliability. The math itself is
the pure :mod:`crowd.consensus`; this package reads and writes its inputs and
outputs."""
