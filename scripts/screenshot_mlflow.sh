#!/bin/sh
# The MLflow UI as a newcomer first sees it from the README's link: `mlflow ui` on a study's store,
# a headless chromium with a throwaway profile, a PNG you can look at.
#   scripts/screenshot_mlflow.sh [mlflow.db] [out.png] [url after the host] [width,height]
set -eu
db=${1:-mlflow.db}
out=${2:-screens/mlflow-first-view.png}
view=${3:-"#/experiments/1/runs?workflowType=machine_learning&compareRunsMode=CHART"}
size=${4:-1440,1100}
port=${PORT:-5077}
browser=$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)
[ -n "$browser" ] || { echo "no chromium on PATH: apt-get install -y chromium" >&2; exit 2; }
[ -f "$db" ] || { echo "$db: no such store (run the study: make repro)" >&2; exit 2; }
profile=$(mktemp -d)
mlflow ui --host 127.0.0.1 --port "$port" --backend-store-uri "sqlite:///$(realpath "$db")" >/dev/null 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; rm -rf "$profile"' EXIT
for _ in $(seq 60); do curl -sf "http://127.0.0.1:$port/health" >/dev/null && break; sleep 1; done
"$browser" --headless --no-sandbox --disable-gpu --no-first-run --disable-background-networking \
  --disable-component-update --disable-sync --hide-scrollbars --user-data-dir="$profile" \
  --window-size="$size" --virtual-time-budget=25000 --screenshot="$(realpath -m "$out")" \
  "http://127.0.0.1:$port/$view" 2>/dev/null
echo "$out"
