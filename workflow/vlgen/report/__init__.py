"""Reporting: tidy tables of a run's results, its figures, summary.md and claims.md.

Everything here reads tables (pandas) and draws or writes documents; nothing computes a metric.
"""
