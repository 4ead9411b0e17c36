"""Back-ends Tailor calls out to: LLMs (litellm, the local GGUF) and sentence embeddings."""
