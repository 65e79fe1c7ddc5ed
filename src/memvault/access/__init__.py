"""Who may do what: API keys kept in the store, and the principal a request acts as."""
