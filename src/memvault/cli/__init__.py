"""The ``memvault`` command line: one Vault call per command, readable or ``--json`` output."""
