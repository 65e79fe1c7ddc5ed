"""PostgreSQL + pgvector: the store for teams and fleets of servers."""
