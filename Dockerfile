# MammoRead application image. Build context: the repository root.
# Stage 1 builds the wheel (the package with its templates, static files and migrations);
# stage 2 installs that wheel: the image holds no source checkout.
FROM python:3.11-slim AS build

ENV PIP_NO_CACHE_DIR=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY app ./app
COPY migrations ./migrations
COPY static ./static
COPY templates ./templates
RUN pip wheel --no-deps --wheel-dir /wheels .

FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    MAMMOREAD_DATA_DIR=/data

RUN useradd --system --uid 10001 --create-home --home-dir /home/mammoread mammoread \
    && mkdir -p /data && chown mammoread:mammoread /data

COPY --from=build /wheels /wheels
RUN pip install /wheels/*.whl && rm -rf /wheels

USER mammoread
WORKDIR /home/mammoread
VOLUME ["/data"]
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"

# Migrations are applied at every start; they are idempotent.
CMD ["sh", "-c", "mammoread db upgrade && exec mammoread serve --host 0.0.0.0 --port 8000"]
