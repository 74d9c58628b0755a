"""Measurement: evaluation, benchmarks and the scale report, with the reports they write.

Nothing in serving or building imports it.
"""
