"""Tailor's HTTP API (FastAPI app factory, routes, schemas, auth, settings) and CLI."""
