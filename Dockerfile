# Loupe in a container: CPU-only torch, the offline demo built at image build time, served as a
# non-root user. See docs/container.md.
#   docker build -t loupe .  &&  docker run -p 8000:8000 loupe
#   docker compose up        (compose.yaml: your indexes and the state folder as volumes)
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    LOUPE_DATA_DIR=/srv/loupe/indexes \
    LOUPE_STATE_DIR=/srv/loupe/var \
    LOUPE_HOST=0.0.0.0 \
    LOUPE_PORT=8000

WORKDIR /srv/loupe

# Layers from the least to the most often changed. The dependencies come first, from
# pyproject.toml and requirements.lock alone, so editing app/ or templates/ does not reinstall
# torch. scripts/install.sh is the one `make` runs too; --torch-cpu takes torch and torchvision
# as their +cpu builds from download.pytorch.org (the same versions as the lock, without the
# ~2 GB of CUDA libraries).
COPY requirements.lock pyproject.toml ./
COPY scripts/install.sh ./scripts/install.sh
RUN scripts/install.sh --venv /opt/venv --torch-cpu --deps-only

# Loupe itself, editable as in development: app/ finds templates/ and static/ beside it.
# Everything it needs is installed already, so this step only links the project.
COPY README.md ./
COPY app ./app
RUN scripts/install.sh --venv /opt/venv --torch-cpu

COPY templates ./templates
COPY static ./static
COPY indexes/README.md ./indexes/README.md

# The demo dataset is built now (offline, about a minute on 2 cores), so the image serves it
# as soon as it starts. Code stays root-owned and read-only to the server; only the data and
# state folders belong to the loupe user (uid 10001, numeric so Kubernetes' runAsNonRoot can
# check it).
RUN useradd --system --uid 10001 --user-group --create-home --home-dir /home/loupe loupe \
    && loupe demo \
    && mkdir -p /srv/loupe/var \
    && chown -R 10001:10001 /srv/loupe/indexes /srv/loupe/var \
    && rm -rf /root/.cache
USER 10001:10001
EXPOSE 8000

# slim has no curl: the check is python's urllib against the app's /healthz (a refused
# connection or an HTTP error raises, which also exits non-zero).
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, sys, urllib.request; url = 'http://127.0.0.1:%s/healthz' % os.environ.get('LOUPE_PORT', '8000'); sys.exit(0 if urllib.request.urlopen(url, timeout=3).status == 200 else 1)"]

CMD ["loupe", "serve"]
