# The one image for every service in docker-compose.yml: web (gunicorn), worker and beat (Celery),
# and the one-shot migrate step. Runtime dependencies only; settings come from the environment.

# The maps' npm packages (package-lock.json), which the app serves from node_modules: installed in a
# Node stage of their own, so the image holds their files and no Node.js.
FROM node:20-slim AS frontend
WORKDIR /build
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund

FROM python:3.11-slim

# PYTHONPATH: `celery -A tasks` imports `tasks` from the working directory but takes that
# directory off sys.path again before `tasks` imports `directory`.
# REQUIRE_SECRET_KEY: every service of the image (web, worker, beat, migrate) refuses to start
# without SECRET_KEY, rather than make a key of its own in its container.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PYTHONPATH=/app \
    REQUIRE_SECRET_KEY=true \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --home-dir /app --no-create-home --shell /usr/sbin/nologin app

WORKDIR /app

COPY requirements.txt ./
RUN pip install -r requirements.txt

# The code and the seed directory stay owned by root: the app can read them, not change them.
COPY gunicorn.conf.py ./
COPY directory/ directory/
RUN pybabel compile -d directory/translations
COPY tasks/ tasks/
COPY seeds/ seeds/
COPY --from=frontend /build/node_modules/ node_modules/

# The only place the app writes: Flask's instance folder (the mail outbox lives under it; both
# readable by the app user only: the outbox holds password-reset links).
RUN mkdir -p instance/outbox && chmod 700 instance instance/outbox && chown -R app:app instance

USER app

EXPOSE 8000

CMD ["gunicorn", "-c", "gunicorn.conf.py", "directory:create_app()"]
