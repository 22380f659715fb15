# jifen: build a virtual environment in one stage, run it as a non-root user in another.
FROM python:3.11-slim AS build
WORKDIR /src
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
COPY pyproject.toml requirements.lock README.md ./
COPY src ./src
COPY migrations ./migrations
RUN python -m venv /opt/jifen \
    && /opt/jifen/bin/pip install -c requirements.lock .

FROM python:3.11-slim
RUN useradd --system --uid 10001 --create-home --home-dir /var/lib/jifen jifen
COPY --from=build /opt/jifen /opt/jifen
ENV PATH=/opt/jifen/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    JIFEN_DATABASE_URL=sqlite:////var/lib/jifen/jifen.db \
    JIFEN_HOST=0.0.0.0 \
    JIFEN_PORT=8000
USER jifen
WORKDIR /var/lib/jifen
VOLUME ["/var/lib/jifen"]
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2)"
# Migrations first (idempotent), then the server; exec so the server gets the signals.
CMD ["sh", "-c", "jifen migrate && exec jifen serve"]
