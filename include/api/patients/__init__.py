"""The ``patients`` resource: create one, create in bulk, list, read."""
