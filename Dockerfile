# The fraudgraph image: CLI, stream worker and one-shot jobs for docker-compose.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
RUN useradd --create-home --uid 10001 fraudgraph
# Dependencies first, so code changes rebuild only the last layers.
COPY pyproject.toml README.md ./
COPY fraudgraph/__init__.py fraudgraph/__init__.py
RUN pip install --upgrade pip && pip install -e .
COPY . .
RUN pip install --no-deps -e .
USER fraudgraph
ENTRYPOINT ["fraudgraph"]
CMD ["--help"]
