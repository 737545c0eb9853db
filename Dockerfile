# One image for the worker, the simulated services and the starter.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY adapter adapter
COPY activities activities
COPY workflows workflows
COPY models models
COPY services services
COPY plumbing plumbing
COPY sagas sagas
COPY frontends frontends
COPY config config
COPY examples examples
COPY worker.py starter.py ./
RUN pip install --no-cache-dir .
ENV SAGA_LOG_FORMAT=json
CMD ["python", "worker.py"]
