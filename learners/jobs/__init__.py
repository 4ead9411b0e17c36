"""Background work on the durable job queue: worker threads and the LLM inference handler."""
