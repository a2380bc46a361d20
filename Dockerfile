# The duomfa proxy image: `duomfa proxy` configured from DUOMFA_* environment variables and Secrets Manager.
# Multi-stage: the wheel is built with the full toolchain, the runtime stage holds only what the proxy needs.
# The control-plane Lambdas run from this image too (the `lambda` extra: the Lambda runtime interface client): their
# functions override the entry point with `python -m awslambdaric` and the command with the handler's module path;
# Lambda ignores USER, and its file system is read-only except /tmp (nothing here writes elsewhere).
# Dockerfile.fips builds the FIPS variant on top of this image (docs/deploy.md, "Duo Federal and CMMC").
ARG PYTHON_IMAGE=public.ecr.aws/docker/library/python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
# cryptography (with cffi and pycparser, which only it needs) is for the local MFA service's certificates: neither
# the proxy nor the control plane imports it, and its wheel bundles an OpenSSL of its own that no FIPS provider
# governs, so it stays out of the image (a test runs the proxy and the Lambda handlers without it)
RUN pip install --no-cache-dir --upgrade pip==24.3.1 \
    && pip wheel --no-cache-dir --wheel-dir /wheels ".[aws,lambda]" \
    && rm /wheels/cryptography-*.whl /wheels/cffi-*.whl /wheels/pycparser-*.whl

FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="duomfa proxy" \
      org.opencontainers.image.description="RADIUS to Duo proxy for AWS Directory Service"
# Every Debian package at its latest fixed version, so that what a scan still finds has no fix yet (the scan gate
# checks that apt has nothing left to upgrade; docs/scan-gate.md). DEBIAN_FRONTEND for this command only.
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get upgrade -y \
    && rm -rf /var/lib/apt/lists/*
# A fixed, unprivileged user: the task definition runs it with a read-only root file system.
RUN groupadd --system --gid 10001 duomfa \
    && useradd --system --uid 10001 --gid duomfa --no-create-home --shell /usr/sbin/nologin duomfa
COPY --from=build /wheels /wheels
# /wheels holds exactly duomfa and its pinned dependencies, built above, less cryptography's (hence --no-deps)
RUN pip install --no-cache-dir --no-index --no-deps /wheels/*.whl \
    && rm -rf /wheels
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    DUOMFA_PORT=1812 \
    DUOMFA_HTTP_PORT=8080
USER 10001:10001
EXPOSE 1812/udp 8080/tcp
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request, os; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('DUOMFA_HTTP_PORT', '8080') + '/healthz', timeout=4)"]
ENTRYPOINT ["duomfa", "proxy"]
