# The fraudgraph images for docker-compose.
#   runtime   (default): CLI, stream worker, exporter, webhooks; neither Spark nor Faker.
#   simulator: runtime plus the [simulator] extra, for `fraudgraph simulate`.
FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY . .
# The wheel holds fraudgraph/ only (the links in fraudgraph/ become real folders).
RUN pip wheel --no-deps --wheel-dir /wheels .

FROM python:3.11-slim AS runtime
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN useradd --create-home --uid 10001 fraudgraph
# LightGBM's wheel (the worker's learned scorer) links against the OpenMP runtime.
RUN apt-get update -q && apt-get install -y -q --no-install-recommends libgomp1 \
    && rm -rf /var/lib/apt/lists/*
COPY constraints.txt /tmp/constraints.txt
COPY --from=build /wheels /wheels
# The tested versions (constraints.txt), as `make` installs them.
RUN pip install --constraint /tmp/constraints.txt /wheels/fraudgraph-*.whl
USER fraudgraph
WORKDIR /home/fraudgraph
ENTRYPOINT ["fraudgraph"]
CMD ["--help"]

FROM runtime AS simulator
USER root
RUN pip install --constraint /tmp/constraints.txt "$(ls /wheels/fraudgraph-*.whl)[simulator]"
USER fraudgraph
