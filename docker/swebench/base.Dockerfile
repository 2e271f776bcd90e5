# SWE-bench base image for Python repositories (equivalent to the official 4.x base layer):
# Ubuntu, build tools, and Miniconda under /opt/miniconda3.
# Placeholders filled by agentless-mini: {platform} {ubuntu_version} {conda_version} {conda_arch}
FROM --platform={platform} ubuntu:{ubuntu_version}

ARG DEBIAN_FRONTEND=noninteractive
ENV TZ=Etc/UTC

RUN apt update \
 && apt install -y wget git build-essential libffi-dev libtiff-dev python3 python3-pip \
    python-is-python3 jq curl locales locales-all tzdata \
 && rm -rf /var/lib/apt/lists/*

RUN wget 'https://repo.anaconda.com/miniconda/Miniconda3-{conda_version}-Linux-{conda_arch}.sh' -O miniconda.sh \
 && bash miniconda.sh -b -p /opt/miniconda3
ENV PATH=/opt/miniconda3/bin:$PATH
# The eval scripts `source /opt/miniconda3/bin/activate`; shells need conda initialised.
RUN conda init --all
RUN conda config --append channels conda-forge

RUN adduser --disabled-password --gecos 'dog' nonroot
