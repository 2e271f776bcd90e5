# A demo instance image: the repository tree at /testbed, committed deterministically so that
# HEAD is the dataset's base_commit (the build fails if it is not). Built with network none.
# Placeholders filled by agentless-mini: {base_image}, {base_commit}.
FROM {base_image}
COPY repo/ /testbed/
WORKDIR /testbed
RUN git init -q \
 && git add -A \
 && GIT_AUTHOR_DATE="2024-01-01T00:00:00+0000" GIT_COMMITTER_DATE="2024-01-01T00:00:00+0000" \
    git -c user.name=agentless-mini -c user.email=demo@agentless-mini.invalid commit -q -m base \
 && head="$(git rev-parse HEAD)" \
 && if [ "$head" != "{base_commit}" ]; then echo "base commit mismatch: the tree commits to $head, the dataset says {base_commit}" >&2; exit 1; fi \
 && git config --global user.email demo@agentless-mini.invalid \
 && git config --global user.name agentless-mini \
 && git config --global --add safe.directory /testbed
