# syntax=docker/dockerfile:1
# The service image: `python -m app serve` (default), `python -m app worker`,
# `python -m app relay` and `python -m app migrate` all run from it.
#
#   docker build -t user-service .
#
# Build stage: uv installs exactly uv.lock (no dev group) into /app/.venv.
# Every dependency ships wheels for this platform, so no compiler is needed
# here either; the final stage copies only the environment and the code.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ARG UV_VERSION=0.13.8
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/app/.venv \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN pip install --no-cache-dir "uv==${UV_VERSION}"
WORKDIR /app
COPY pyproject.toml uv.lock ./
RUN uv sync --frozen --no-dev --no-install-project --no-build

FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.licenses="Apache-2.0"
RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --home-dir /app --no-create-home app
WORKDIR /app
COPY --from=build /app/.venv /app/.venv
COPY LICENSE ./
COPY app ./app
COPY migrations ./migrations
ENV PATH=/app/.venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    APP_LOGGING__FORMAT=json
USER 10001:10001
# gRPC, HTTP/JSON (Connect), then /metrics.
EXPOSE 5000 8080 7070
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-m", "app", "health", "--timeout", "2"]
CMD ["python", "-m", "app", "serve"]
