# A botkit bot in a container: `docker build -t botkit . && docker run -p 8080:8080 -p 8081:8081 botkit`.
# By default it runs the sample bot.yaml on its embedded emulator; `botkit chat --endpoint http://127.0.0.1:8081`
# on the host is then the customer. Mount your own bot.yaml (and plugins) over /app for a real bot.

# The builder makes a virtual environment holding botkit and its dependencies, and nothing else.
FROM python:3.12-slim AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
RUN python -m venv /opt/venv
COPY pyproject.toml README.md ./
COPY botkit ./botkit
RUN /opt/venv/bin/pip install --no-cache-dir .

# The image: the same Python, the venv copied over, no compiler, no pip cache, not root.
FROM python:3.12-slim
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
RUN useradd --system --uid 10001 --user-group --no-create-home --shell /usr/sbin/nologin botkit
COPY --from=builder /opt/venv /opt/venv
WORKDIR /app
COPY plugins ./plugins
COPY bot.yaml ./
USER 10001:10001
# Inside a container the bot and the embedded emulator listen beyond loopback, on fixed ports.
ENV BOTKIT_HOST=0.0.0.0 \
    BOTKIT_PORT=8080 \
    BOTKIT_EMULATOR_HOST=0.0.0.0 \
    BOTKIT_EMULATOR_PORT=8081
EXPOSE 8080 8081
HEALTHCHECK --interval=10s --timeout=3s --start-period=15s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('BOTKIT_PORT', '8080') + '/livez', timeout=2)"]
ENTRYPOINT ["botkit"]
CMD ["serve", "/app/bot.yaml"]
