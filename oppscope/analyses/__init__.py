"""Saved analyses: every analysis with its input, output and provenance, behind the ``AnalysisStore`` protocol."""
