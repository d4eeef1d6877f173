# A botkit bot in a container: `docker build -t mybot . && docker run -p 8080:8080 mybot`.
# The image runs the sample bot.yaml; mount or copy your own bot.yaml and plugins over it.
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
RUN useradd --create-home --uid 10001 botkit
WORKDIR /app

COPY pyproject.toml README.md ./
COPY botkit ./botkit
RUN pip install --no-cache-dir .

COPY plugins ./plugins
COPY bot.yaml ./

USER botkit
# Inside a container the intake server must listen beyond loopback; the emulator stays embedded by default.
ENV BOTKIT_HOST=0.0.0.0 BOTKIT_PORT=8080
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8080/healthz').status != 200)"
CMD ["botkit", "serve", "bot.yaml"]
