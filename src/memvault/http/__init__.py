"""The HTTP API: one Vault call per endpoint, errors in one shape."""
