# python-slim with the reaper as PID 1. Build it through docker-bake.hcl
# (`docker buildx bake`; `python3 image/build.py` finds a base and bakes one target).
ARG PYTHON_VERSION=3.13
ARG DEBIAN_SUITE=trixie
ARG BASE_IMAGE=python:${PYTHON_VERSION}-slim-${DEBIAN_SUITE}

# Bytecode is the same on every architecture, so it is compiled on the build
# platform and the image stage below runs nothing: no emulation for arm64.
# The classic builder (the Docker SDK's) sets no BUILDPLATFORM: plain "linux"
# then means the engine's own architecture.
# The stage lays out under /stage what the image adds: the reaper, and in the
# interpreter's site-packages (its path differs between bases) the .pth file
# that puts the reaper in front of a Python program started as PID 1.
FROM --platform=${BUILDPLATFORM:-linux} ${BASE_IMAGE} AS bytecode
COPY entrypoint/reaper /stage/usr/local/lib/python-reaper/reaper
COPY image/reaper /stage/usr/local/lib/python-reaper/pid1
COPY image/compile.py image/00-python-reaper.pth /tmp/
RUN python3 /tmp/compile.py /stage/usr/local/lib/python-reaper \
    && site="/stage$(python3 -c 'import sysconfig; print(sysconfig.get_path("purelib"))')" \
    && mkdir -p "$site" \
    && mv /tmp/00-python-reaper.pth "$site/"

FROM ${BASE_IMAGE}
ARG BASE_IMAGE
ARG REAPER_VERSION=dev
ARG REVISION=unknown
ARG CREATED=1970-01-01T00:00:00Z
COPY --from=bytecode /stage/ /
# `reaper` on PATH for scripts; PID 1 never runs this copy, so pip may replace it.
COPY image/reaper /usr/local/bin/reaper
# tail and sleep as keep-alive entrypoints get the reaper too (README: "Keep-alive entrypoints").
COPY image/keepalive/ /usr/local/bin/
LABEL org.opencontainers.image.title="python-reaper" \
      org.opencontainers.image.description="python-slim with a pure-Python PID 1 that reaps zombies, forwards signals and shuts down gracefully" \
      org.opencontainers.image.source="https://github.com/org/python-reaper" \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.version="${REAPER_VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.base.name="${BASE_IMAGE}"
# Exec form, the interpreter by name: no shell, no fixed path of python3, and a
# launcher in a directory that no package installs to.
ENTRYPOINT ["python3", "-ISB", "/usr/local/lib/python-reaper/pid1"]
# Setting ENTRYPOINT clears the CMD inherited from python-slim.
CMD ["python3"]
