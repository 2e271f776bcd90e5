# SWE-bench instance image: the repository at base_commit in /testbed, installed, with a
# setup commit on top (setup_repo.sh, generated from the specs). Placeholders: {platform} {env_image}
FROM --platform={platform} {env_image}

COPY ./setup_repo.sh /root/
RUN sed -i -e 's/\r$//' /root/setup_repo.sh && /bin/bash /root/setup_repo.sh

WORKDIR /testbed/
