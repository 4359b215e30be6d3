"""GraphStore adapters: tables of the Store (``sql``, the default) and Neo4j (``neo4j``)."""
