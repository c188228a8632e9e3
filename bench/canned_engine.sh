#!/bin/sh
# A canned "engine" for the proxy bench: nginx answering /health and a fixed chat completion on --port,
# started by llmux like any engine (vllm_command). Keeps the backend far faster than any proxy in front.
port=8000
while [ $# -gt 0 ]; do
  case "$1" in
    --port) port=$2; shift 2 ;;
    *) shift ;;
  esac
done
dir=$(mktemp -d)
cat >"$dir/nginx.conf" <<CONF
worker_processes 1;
daemon off;
pid $dir/nginx.pid;
error_log /dev/null crit;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $dir;
  server {
    listen 127.0.0.1:$port reuseport;
    keepalive_requests 1000000;
    location = /health { return 200 ''; }
    location / {
      default_type application/json;
      return 200 '{"id":"cmpl-0","object":"chat.completion","model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"total_tokens":2,"completion_tokens":1}}';
    }
  }
}
CONF
exec nginx -c "$dir/nginx.conf" -p "$dir"
