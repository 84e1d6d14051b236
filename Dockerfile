# One image for every engine service in docker-compose.yml (migrate, worker, api, codec-server):
#   docker build -t service-recovery .
#   docker run --rm service-recovery --help
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
# Only what the package is built from (pyproject.toml: [tool.setuptools] packages, py-modules);
# .dockerignore keeps caches and virtual environments out of the context.
COPY pyproject.toml README.md worker.py ./
COPY workflows/ workflows/
COPY activities/ activities/
COPY recovery/ recovery/
COPY starter/ starter/
COPY console/ console/
RUN pip install . && rm -rf /src

# Never root at run time.
RUN useradd --system --uid 10001 --user-group --create-home --home-dir /home/recovery recovery
USER recovery
WORKDIR /home/recovery

# `recovery worker`, `recovery api --host 0.0.0.0`, `recovery db migrate`, `recovery codec-server` …
ENTRYPOINT ["recovery"]
CMD ["worker"]
