# The demo base image from a registry, for machines that can pull (an alternative to the
# debootstrap build that agentless-mini does by itself on machines that cannot):
#   docker build -t agentless-mini/base:bookworm-py3 -f docker/demo/base.Dockerfile docker/demo
# agentless-mini uses an existing image with this tag as is.
FROM python:3.11-slim-bookworm
RUN apt-get update \
 && apt-get install -y --no-install-recommends git patch ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && pip install --no-cache-dir pytest
ENV LANG=C.UTF-8
