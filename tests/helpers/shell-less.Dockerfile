# A stand-in for a hardened Python image (Docker Hardened Images, Chainguard,
# distroless): the base's interpreter at /usr/bin/python3 with its standard
# library and the shared libraries they load, and nothing else: no shell, no
# coreutils, no init; uid 65532.
ARG BASE_IMAGE
FROM ${BASE_IMAGE} AS python
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
RUN set -e; \
    python=$(python3 -c 'import os, sys; print(os.path.realpath(sys.executable))'); \
    stdlib=$(python3 -c 'import sysconfig; print(sysconfig.get_path("stdlib"))'); \
    mkdir -p /rootfs/usr/bin /rootfs/usr/lib /rootfs/etc /rootfs/tmp; \
    cp "$python" /rootfs/usr/bin/python3; \
    cp -a "$stdlib" "/rootfs/usr/lib/${stdlib##*/}"; \
    for elf in "$python" $(find "$stdlib" -name '*.so'); do ldd "$elf"; done \
        | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' | sort -u \
        | while read -r library; do mkdir -p "/rootfs${library%/*}"; cp -L "$library" "/rootfs$library"; done; \
    cp /etc/ld.so.cache /rootfs/etc/; \
    echo 'nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin' > /rootfs/etc/passwd; \
    echo 'nonroot:x:65532:' > /rootfs/etc/group; \
    chmod 1777 /rootfs/tmp

FROM scratch
COPY --from=python /rootfs/ /
ENV PATH=/usr/local/bin:/usr/bin:/bin LANG=C.UTF-8
USER 65532:65532
CMD ["python3"]
