# llmux on a vLLM image: one static llmux binary next to vLLM, no Deno toolchain or node_modules in the
# final image.
#
#   docker build -t llmux .
#   docker run --gpus all --stop-timeout 40 -p 3000:3000 -v $PWD/config.json:/etc/llmux/config.json \
#     -v ~/.cache/huggingface:/root/.cache/huggingface llmux
#
# For the CRIU `checkpoint` strategy also pass --privileged --pid=host --ipc=host and do NOT use --init
# (tini's /dev/null is a host mount that CRIU cannot restore).

# --- build: compile the single executable with the "llmux" permission set of deno.json
FROM denoland/deno:2.5.6 AS build
WORKDIR /src
COPY deno.json deno.lock ./
COPY src ./src
RUN deno install --frozen --entrypoint src/main.ts \
 && deno compile -P=llmux --frozen --output /out/llmux src/main.ts

# --- runtime: a vLLM release whose sleep mode frees the weights (v0.13.x; v0.14-v0.16 have the #32714
# regression, fixed in v0.17.0)
FROM vllm/vllm-openai:v0.13.0
LABEL org.opencontainers.image.title="llmux" \
      org.opencontainers.image.description="Many LLMs sharing a GPU host behind one OpenAI-compatible endpoint" \
      org.opencontainers.image.source="https://github.com/llmux/llmux" \
      org.opencontainers.image.version="0.1.0" \
      org.opencontainers.image.licenses="MIT"
COPY --from=build /out/llmux /usr/local/bin/llmux
RUN mkdir -p /etc/llmux /var/lib/llmux
ENV NO_COLOR=1
EXPOSE 3000 9090
# Runs as root on purpose: CRIU dumps and restores (the `checkpoint` eviction) and cuda-checkpoint need it.
# A sleep/stop-only setup may add `USER` with a dedicated account.
# The proxy's /health answers without an API key; python3 is part of the vLLM image.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD ["python3", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:3000/health', timeout=4)"]
ENTRYPOINT ["/usr/local/bin/llmux"]
CMD ["--config", "/etc/llmux/config.json"]
