FROM node:20-slim AS frontend
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
RUN apt-get update && apt-get install -y --no-install-recommends curl && rm -rf /var/lib/apt/lists/*
COPY pyproject.toml README.md ./
COPY qsmstudy qsmstudy
COPY clinical clinical
COPY qsm qsm
COPY recon recon
COPY dashboard dashboard
COPY exchange exchange
COPY api api
COPY templates templates
COPY static static
COPY docs docs
COPY manage.py ./
COPY --from=frontend /app/node_modules/@niivue/niivue/dist node_modules/@niivue/niivue/dist
COPY --from=frontend /app/node_modules/tus-js-client/dist node_modules/tus-js-client/dist
RUN pip install --no-cache-dir . && SECRET_KEY=build-only python manage.py collectstatic --noinput
RUN useradd --create-home qsm && mkdir -p /data/media && chown qsm /data/media
USER qsm
EXPOSE 8000
# Uploads and BIDS imports are checked and stored inside the request (a 1 GB DICOM zip took 199 s in
# the benchmark), so the worker timeout is 15 minutes; GUNICORN_CMD_ARGS in .env can change it.
CMD ["gunicorn", "qsmstudy.wsgi", "--bind", "0.0.0.0:8000", "--workers", "3", "--timeout", "900"]
