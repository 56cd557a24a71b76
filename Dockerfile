# syncd as a service: `docker run -v syncd-state:/var/lib/syncd -v ./syncd.yaml:/etc/syncd/syncd.yaml syncd`
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    SYNCD_CONFIG=/etc/syncd/syncd.yaml

RUN useradd --system --create-home --home-dir /var/lib/syncd --uid 10001 syncd

WORKDIR /opt/syncd
COPY pyproject.toml README.md ./
COPY syncd ./syncd
COPY migrations ./migrations
COPY config ./config
RUN pip install . && rm -rf /opt/syncd/build

USER syncd
VOLUME ["/var/lib/syncd"]
EXPOSE 9465

# The daemon serves /healthz on server.listen (use 0.0.0.0:9465 in a container, the port
# EXPOSEd above). `syncd health` reads that address from $SYNCD_CONFIG, so the health check
# follows the configuration instead of repeating its port here.
HEALTHCHECK --interval=30s --timeout=10s --start-period=30s --retries=3 \
    CMD ["syncd", "health"]

ENTRYPOINT ["syncd"]
CMD ["run"]
