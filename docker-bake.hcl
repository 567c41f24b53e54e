# The one source of truth for what is built: Python versions, Debian suites,
# platforms, attestations and tags. `docker buildx bake` evaluates it, here
# (image/build.py reads it through `docker buildx bake --print`) as on GitHub.
#
# One target, generated for every Python on every suite: py311-trixie,
# py311-bookworm, ... py315-bookworm. Tags follow the official python images:
# VERSION-SUITE for each suite, plain VERSION on the default suite (trixie),
# and 3, 3-SUITE and latest for the newest stable version.

variable "REGISTRY" {
  default = "ghcr.io/org"
}

variable "IMAGE" {
  default = "python-reaper"
}

variable "REAPER_VERSION" {
  default = "dev"
}

variable "REVISION" {
  default = "unknown"
}

variable "CREATED" {
  default = "1970-01-01T00:00:00Z"
}

group "default" {
  targets = ["image"]
}

# docker/metadata-action fills this target with labels and annotations in the
# release workflow (never tags: those are this file's); empty everywhere else.
target "docker-metadata-action" {}

target "_common" {
  inherits   = ["docker-metadata-action"]
  dockerfile = "Dockerfile"
  platforms  = ["linux/amd64", "linux/arm64"]
  attest     = ["type=sbom", "type=provenance,mode=max"]
  args = {
    REAPER_VERSION = "${REAPER_VERSION}"
    REVISION       = "${REVISION}"
    CREATED        = "${CREATED}"
  }
}

target "image" {
  name     = "py${replace(python, ".", "")}-${suite}"
  inherits = ["_common"]
  matrix = {
    python = ["3.11", "3.12", "3.13", "3.14", "3.15"]
    suite  = ["trixie", "bookworm"]
  }
  args = {
    PYTHON_VERSION = python
    DEBIAN_SUITE   = suite
  }
  # 3.15 is the newest Python of the matrix (tests/test_bake.py checks that
  # the newest carries 3, 3-SUITE and latest).
  tags = [for tag in concat(
    suite == "trixie" ? [python] : [],
    ["${python}-${suite}"],
    python == "3.15" ? concat(suite == "trixie" ? ["3"] : [], ["3-${suite}"], suite == "trixie" ? ["latest"] : []) : [],
  ) : "${REGISTRY}/${IMAGE}:${tag}"]
}
