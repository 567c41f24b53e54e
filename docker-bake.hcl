# The one source of truth for what is built: Python versions, Debian suites,
# platforms, attestations and tags. `docker buildx bake` evaluates it, here
# (image/bake.py reads it through `docker buildx bake --print`) as on GitHub
# (ci.yml's matrix is bake's list of targets and platforms).
#
# One target, generated for every Python on every suite: py311-trixie,
# py311-bookworm, ... py315-bookworm. Tags follow the official python images:
# VERSION-SUITE for each suite, plain VERSION on the default suite (the first),
# and 3, 3-SUITE and latest for the newest stable version.

# The versions: adding a Python is one word here (and an offline base recipe
# in image/offline.py for the machines that reach no registry).
variable "PYTHONS" {
  default = ["3.11", "3.12", "3.13", "3.14", "3.15"]
}

variable "SUITES" {
  default = ["trixie", "bookworm"]
}

variable "PLATFORMS" {
  default = ["linux/amd64", "linux/arm64"]
}

variable "NEWEST_STABLE" {
  default = "3.15"
}

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
  platforms  = PLATFORMS
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
    python = PYTHONS
    suite  = SUITES
  }
  args = {
    PYTHON_VERSION = python
    DEBIAN_SUITE   = suite
  }
  tags = [for tag in concat(
    suite == SUITES[0] ? [python] : [],
    ["${python}-${suite}"],
    python == NEWEST_STABLE ? concat(suite == SUITES[0] ? ["3"] : [], ["3-${suite}"], suite == SUITES[0] ? ["latest"] : []) : [],
  ) : "${REGISTRY}/${IMAGE}:${tag}"]
}
