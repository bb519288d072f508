"""Bayou: an S3-compatible object store with serverless functions built in."""

__version__ = "0.1.0"
