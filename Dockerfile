# The platform image: `imvo serve` (web) and `imvo worker` (jobs) run from it; see docker-compose.yml.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DATA_DIR=/data

WORKDIR /app
COPY pyproject.toml README.md ./
COPY platform platform
COPY covenants covenants
COPY grievances grievances
COPY migrations migrations
COPY locales locales
# Installed in place (-e): migrations and locales are found next to the code, in /app, not in site-packages.
RUN pip install -e . \
    && useradd --system --home-dir /data --shell /usr/sbin/nologin imvo \
    && mkdir -p /data \
    && chown imvo /data

USER imvo
EXPOSE 8000
CMD ["imvo", "serve", "--host", "0.0.0.0"]
