"""ChromaDB, embedded or a ``chroma run`` server: memories moved in and out, and searched there."""
