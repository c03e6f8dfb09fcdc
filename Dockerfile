# Loupe in a container: builds the offline demo at image build time and serves it.
#   docker build -t loupe .  &&  docker run -p 8000:8000 loupe
# Mount your own datasets with -v /path/to/indexes:/srv/loupe/indexes.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    LOUPE_DATA_DIR=/srv/loupe/indexes \
    LOUPE_STATE_DIR=/srv/loupe/var \
    LOUPE_HOST=0.0.0.0

WORKDIR /srv/loupe
COPY pyproject.toml requirements.lock README.md ./
COPY app ./app
# The same pins as `make`; torch is pinned because a bare `torch` pulls a multi-GB CUDA build.
# Editable, as in development: app/ finds templates/ and static/ beside it.
RUN pip install -c requirements.lock -e .
COPY templates ./templates
COPY static ./static
COPY indexes/README.md ./indexes/README.md

RUN useradd --system --home /srv/loupe loupe \
    && loupe demo \
    && mkdir -p /srv/loupe/var \
    && chown -R loupe /srv/loupe/var /srv/loupe/indexes
USER loupe
EXPOSE 8000
CMD ["loupe", "serve"]
