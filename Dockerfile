# jifen: build a virtual environment in one stage, run it as a non-root user in another.
FROM python:3.11-slim AS build
WORKDIR /src
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
# psycopg's C implementation is compiled here against Debian's libpq (not the wheel's
# bundled one): libpq then gets the distribution's security updates.
RUN apt-get update \
    && apt-get install -y --no-install-recommends gcc libc6-dev libpq-dev \
    && rm -rf /var/lib/apt/lists/*
COPY pyproject.toml requirements.lock README.md ./
COPY src ./src
COPY migrations ./migrations
RUN python -m venv /opt/jifen \
    && /opt/jifen/bin/pip install -c requirements.lock . \
    && /opt/jifen/bin/pip install "psycopg[c]==$(/opt/jifen/bin/python -c 'import psycopg; print(psycopg.__version__)')" \
    && /opt/jifen/bin/pip uninstall -y psycopg-binary

FROM python:3.11-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends libpq5 \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --create-home --home-dir /var/lib/jifen jifen \
    && install -d -o jifen -g jifen /var/lib/jifen/evidence
COPY --from=build /opt/jifen /opt/jifen
# PSYCOPG_IMPL=c: psycopg refuses to start rather than fall back to pure Python.
ENV PATH=/opt/jifen/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PSYCOPG_IMPL=c \
    JIFEN_DATABASE_URL=sqlite:////var/lib/jifen/jifen.db \
    JIFEN_HOST=0.0.0.0 \
    JIFEN_PORT=8000
USER jifen
WORKDIR /var/lib/jifen
VOLUME ["/var/lib/jifen"]
EXPOSE 8000
# Shell form, so that the check follows JIFEN_PORT wherever the server was told to listen.
HEALTHCHECK --interval=30s --timeout=3s --start-period=30s \
    CMD python -c "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('JIFEN_PORT', '8000'), timeout=2)"
# Migrations first (under a lock: replicas may start together), then the server; exec so
# the server gets the signals.
CMD ["sh", "-c", "jifen migrate && exec jifen serve"]
