# SWE-bench environment image: the conda env `testbed` made by setup_env.sh (generated from the
# specs). Placeholders: {platform} {base_image}
FROM --platform={platform} {base_image}

COPY ./setup_env.sh /root/
RUN sed -i -e 's/\r$//' /root/setup_env.sh && chmod +x /root/setup_env.sh
RUN /bin/bash -c "source ~/.bashrc && /root/setup_env.sh"

WORKDIR /testbed/

# Shells start in the testbed environment.
RUN echo "source /opt/miniconda3/etc/profile.d/conda.sh && conda activate testbed" > /root/.bashrc
