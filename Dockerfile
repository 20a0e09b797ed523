FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md alembic.ini ./
COPY alembic ./alembic
COPY crowd ./crowd
# Editable install: `crowd migrate` finds alembic/ beside the package.
RUN pip install --no-cache-dir -e . \
    && useradd --system --uid 10001 crowd
USER crowd
ENV CROWD_HOST=0.0.0.0 CROWD_PORT=8080
EXPOSE 8080
HEALTHCHECK --interval=5s --timeout=3s --retries=5 \
  CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8080/readyz').status != 200)"
CMD ["crowd", "serve"]
