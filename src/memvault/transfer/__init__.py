"""Moving memories in and out of stores: the dump format, migration, backup and restore."""
