"""Neo4j as the graph's traversal store: the Store's graph tables stay the truth, Neo4j a
replica kept in step through ``graph_outbox`` (``sync``) and checked by ``reconcile``."""
