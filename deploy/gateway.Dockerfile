# The ptc-gateway container image: `ptc-gateway serve` over streamable HTTP, driving sibling
# sandbox containers through a mounted Docker socket (or the AgentCore backend: no socket at all).
#
# Built by `ptc-gateway image build --gateway` (or scripts/build-gateway-image), which sends a
# context holding this file and `wheelhouse/`: `app/` the ptc-gateway wheel, `deps/` every
# dependency as a wheel for the base image's Python and pip itself, all made on the host. No registry and no network
# is needed during the build (RUN steps run with --network none). BASE_IMAGE is any Debian-like
# image with CPython >= 3.11 and its `venv` module; by default the debootstrapped
# `ptc-debian-base:bookworm` that the sandbox image build already creates. See docs/deploy.md.
ARG BASE_IMAGE=ptc-debian-base:bookworm

# --- build: a virtualenv holding the gateway, installed offline from the wheelhouse -------------
FROM ${BASE_IMAGE} AS build
# Dependencies first, in their own layer: a code change rebuilds only the small layer below.
# pip runs from its own wheel (the base has no pip); --no-index: nothing but the wheelhouse.
COPY wheelhouse/deps/ /wheelhouse/deps/
RUN python3 -m venv --without-pip /opt/ptc-gateway \
    && /opt/ptc-gateway/bin/python3 "$(ls /wheelhouse/deps/pip-*.whl)/pip" install --no-index --no-cache-dir \
        --disable-pip-version-check /wheelhouse/deps/*.whl
COPY wheelhouse/app/ /wheelhouse/app/
RUN /opt/ptc-gateway/bin/python3 -m pip install --no-index --no-cache-dir --no-deps --disable-pip-version-check \
        /wheelhouse/app/*.whl \
    && /opt/ptc-gateway/bin/python3 -m pip check \
    && /opt/ptc-gateway/bin/ptc-gateway --help >/dev/null

# --- runtime: the base plus the virtualenv, as a non-root user -----------------------------------
FROM ${BASE_IMAGE}
# uid/gid 10001 "ptc". To reach a mounted Docker socket the container also needs the socket's group:
# `--group-add $(stat -c %g /var/run/docker.sock)` (Compose: group_add; ECS: see docs/deploy.md).
RUN groupadd --gid 10001 ptc && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /srv/ptc ptc \
    && mkdir -p /srv/ptc && chown ptc:ptc /srv/ptc
COPY --from=build /opt/ptc-gateway /opt/ptc-gateway
ENV PATH=/opt/ptc-gateway/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    PYTHONUNBUFFERED=1 \
    PTC_SERVE__TRANSPORT=http \
    PTC_SERVE__HOST=0.0.0.0 \
    PTC_SERVE__PORT=8765
WORKDIR /srv/ptc
USER 10001:10001
EXPOSE 8765
# /healthz answers without the bearer token; the base has no curl, so Python asks.
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python3", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('PTC_SERVE__PORT', '8765') + '/healthz', timeout=4)"]
ENTRYPOINT ["ptc-gateway"]
CMD ["serve"]
