# Sluice in a container: an external PostgreSQL is required (DATABASE_URL); no embedded server.
# API keys: pass SLUICE_ADMIN_KEY, or create one with `docker run … sluice keys create`.
# SIGTERM (docker stop) drains: WebSocket clients get 1001 and where to resume.
FROM python:3.12-slim AS build
WORKDIR /src
COPY pyproject.toml README.md alembic.ini ./
COPY app ./app
COPY migrations ./migrations
# with the OpenTelemetry exporter: set OTEL_EXPORTER_OTLP_ENDPOINT to turn it on
RUN python -m venv /opt/sluice && /opt/sluice/bin/pip install --no-cache-dir '.[otel]'

FROM python:3.12-slim
RUN useradd --system --uid 10001 --home-dir /srv sluice
COPY --from=build /opt/sluice /opt/sluice
ENV PATH=/opt/sluice/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    SLUICE_EMBEDDED=false \
    SLUICE_HOST=0.0.0.0 \
    SLUICE_PORT=8000
USER sluice
WORKDIR /srv
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/readyz', timeout=2)"]
# One image, two deployments scaled apart (the README's "Processes and roles"):
#   command side:  docker run … sluice serve --role api --workers auto   (as many as needed)
#   consumer side: docker run … sluice serve --role workers              (one, plus standbys)
# Both answer /readyz, so the HEALTHCHECK above serves either. Default: everything in one.
CMD ["sluice", "serve"]
