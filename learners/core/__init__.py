"""The engine (logging, learning, indexing per user), retrieval and policy aggregation,
and ``build_engine``, the one way to wire a store, index, embedder and learners."""
