"""Genascope patient-first pipeline: all logic the DAGs call into lives in this package."""
