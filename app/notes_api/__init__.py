"""Sample notes service: a small FastAPI app backed by PostgreSQL, with optional object storage."""

__version__ = "0.1.0"
