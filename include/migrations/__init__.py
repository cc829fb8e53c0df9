"""Alembic scripts of the application database (script_location of alembic.ini)."""
