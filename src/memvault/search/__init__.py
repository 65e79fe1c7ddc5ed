"""Retrieval pieces the Vault composes: query terms, rank fusion, time phrases."""
