#!/usr/bin/env bash
# Commit-to-converged on this machine: a single-manager swarmops cluster
# (`swarmops init --git`, its agent running containers on this machine's
# engine) follows a bare git repository holding one stack, "bench": one
# service of 3 replicas of a FROM-scratch image (e2e/workload), rolled one
# task at a time (start-first, delay 0s, monitor 2s). Each run commits a
# new release (the other image tag and a new environment value), pushes
# it, and measures from `git push` returning until `swarmops status
# --json` shows the stack Synced at that commit with 3 of 3 tasks running:
#   webhook  poll interval 30s; a GitHub push delivery signed with the
#            webhook secret is POSTed right after the push (its time is
#            included)
#   poll     poll interval 5s (set with `swarmops repo set`), no webhook;
#            before each push the script waits a random 0-5s, untimed,
#            so that pushes fall at random points of the poll timer
#            rather than at the phase the previous run ended on
# The status is polled every 50ms. Each run also splits its time with the
# stack's last deployment as the status reports it: detect (push returned
# to the reconciler starting the deployment: webhook or poll, fetch,
# checkout, render), rollout (start to the deployment recorded
# succeeded) and observe (that record to the status poll seeing it).
# After the clock stops, the 3 running tasks must run the new image, else
# the run is no result. Needs a Docker engine, git, Go, curl, jq and
# openssl.
# Usage: bench/gitops.sh [RUNS]   (RUNS per case, default 3)
set -euo pipefail
runs=${1:-3}
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
data="$work/data"
images=(swarmops-bench/gitops:v1 swarmops-bench/gitops:v2)
swarmops_pid=""
cleanup() {
  set +e
  if [ -n "$swarmops_pid" ]; then kill "$swarmops_pid" 2>/dev/null; wait "$swarmops_pid" 2>/dev/null; fi
  # swarmops's containers carry its runtime label; none may outlive the run
  engine ps -aq --filter label=com.swarmops.runtime=docker --filter label=com.docker.swarm.service.name=bench_web | xargs -r env -u DOCKER_HOST -u DOCKER_TLS_VERIFY -u DOCKER_CERT_PATH docker rm -f >/dev/null 2>&1
  rm -rf "$work"
}
trap cleanup EXIT

now() { date +%s.%N; }
# engine runs the docker CLI against the local engine, whatever DOCKER_HOST says.
engine() { env -u DOCKER_HOST -u DOCKER_TLS_VERIFY -u DOCKER_CERT_PATH docker "$@"; }
freeport() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
g() { git -C "$work/wc" -c user.name=bench -c user.email=bench@localhost -c commit.gpgsign=false "$@"; }
export GIT_CONFIG_GLOBAL=/dev/null GIT_CONFIG_NOSYSTEM=1

echo "building the workload image and swarmops" >&2
mkdir -p "$work/ctx"
(cd "$root" && CGO_ENABLED=0 go build -o "$work/ctx/workload" ./e2e/workload && go build -o "$work/swarmops" ./cmd/swarmops)
for i in 0 1; do
  printf 'FROM scratch\nCOPY workload /workload\nENV VERSION=v%d PORT=none\nENTRYPOINT ["/workload"]\n' $((i + 1)) > "$work/ctx/Dockerfile"
  engine build -q -t "${images[$i]}" "$work/ctx" >/dev/null 2>"$work/build.log" || { cat "$work/build.log" >&2; exit 1; }
done

# release N: stack bench at image v1 or v2 (alternating) and RELEASE=N.
release() {
  mkdir -p "$work/wc/stacks/bench"
  cat > "$work/wc/stacks/bench/compose.yml" <<EOF
services:
  web:
    image: ${images[$(($1 % 2))]}
    environment:
      RELEASE: "$1"
    deploy:
      replicas: 3
      update_config:
        parallelism: 1
        delay: 0s
        order: start-first
        monitor: 2s
        failure_action: rollback
EOF
  g add -A && g commit -q -m "release $1" && g rev-parse HEAD
}

git init -q --bare --initial-branch=main "$work/repo.git"
git init -q --initial-branch=main "$work/wc"
g remote add origin "$work/repo.git"
n=0
release $n >/dev/null
g push -q origin main

secret=$(openssl rand -hex 16)
printf '%s\n' "$secret" > "$work/webhook-secret"
port=$(freeport); hookport=$(freeport)
"$work/swarmops" init --data-dir "$data" --advertise-addr "127.0.0.1:$port" \
  --git "$work/repo.git" --branch main --path stacks --poll-interval 30s \
  --webhook-addr "127.0.0.1:$hookport" --webhook-secret-file "$work/webhook-secret" > "$work/swarmops.log" 2>&1 &
swarmops_pid=$!
for _ in $(seq 1 600); do
  eval "$("$work/swarmops" env --data-dir "$data" 2>/dev/null)" 2>/dev/null && docker node ls >/dev/null 2>&1 && break; sleep 0.05
done
# ready once the node's agent registered: it reports the engine's version
want=$(engine version --format '{{.Server.Version}}')
for _ in $(seq 1 600); do
  [ "$(docker node inspect self --format '{{.Description.Engine.EngineVersion}}' 2>/dev/null)" = "$want" ] && break; sleep 0.05
done

status() { "$work/swarmops" status --json --data-dir "$data" 2>/dev/null || true; }
# synced COMMIT: the status (on stdin) shows stack bench Synced at COMMIT,
# 3 of 3 tasks running, no drift
synced() {
  jq -e --arg c "$1" '.stacks[]? | select(.name == "bench" and .status == "Synced" and .applied.commit == $c
    and (.services | length) == 1 and .services[0].running == 3 and .services[0].desired == 3 and ((.drift // []) | length) == 0)' >/dev/null
}
# waitsynced COMMIT: poll every 50ms, give up after 180s; prints the
# status that showed it
waitsynced() {
  local st
  for _ in $(seq 1 3600); do
    st=$(status)
    if synced "$1" <<<"$st"; then printf '%s' "$st"; return 0; fi
    sleep 0.05
  done
  echo "timed out waiting for stack bench Synced at $1" >&2; status >&2; tail -20 "$work/swarmops.log" >&2; return 1
}
# checkimage IMAGE: the 3 tasks meant to run all run IMAGE (checked after
# the clock stopped; a run that fails it is not a result)
checkimage() {
  local k; k=$(docker service ps bench_web --filter desired-state=running --format '{{.Image}} {{.CurrentState}}' | grep -c "^$1 Running" || true)
  [ "$k" -eq 3 ] || { echo "after the release $k of 3 tasks run $1" >&2; docker service ps bench_web >&2; return 1; }
}
webhook() { # COMMIT: a GitHub push delivery, signed; the listener must answer 202
  local body sig code
  body=$(printf '{"ref":"refs/heads/main","before":"%s","after":"%s","repository":{"full_name":"bench/repo"}}' "$2" "$1")
  sig=$(printf '%s' "$body" | openssl dgst -sha256 -hmac "$secret" | sed 's/^.*= //')
  code=$(curl -sS -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/json' -H 'X-GitHub-Event: push' \
    -H "X-Hub-Signature-256: sha256=$sig" --data-binary "$body" "http://127.0.0.1:$hookport/")
  [ "$code" = 202 ] || { echo "webhook answered $code, want 202" >&2; return 1; }
}
epoch() { date -d "$1" +%s.%N; }

# The first release, deployed at start.
waitsynced "$(g rev-parse HEAD)" >/dev/null

# measure CASE: one line per run to $results and stdout, "case total
# detect rollout observe".
measure() {
  local r c prev t0 t1 st started finished
  for r in $(seq 1 "$runs"); do
    n=$((n + 1))
    prev=$(g rev-parse HEAD)
    c=$(release $n)
    if [ "$1" = poll ]; then sleep "$(python3 -c 'import random; print(round(random.uniform(0, 5), 3))')"; fi
    g push -q origin main
    t0=$(now)
    if [ "$1" = webhook ]; then webhook "$c" "$prev"; fi
    st=$(waitsynced "$c")
    t1=$(now)
    checkimage "${images[$((n % 2))]}"
    started=$(epoch "$(jq -r '.stacks[] | select(.name == "bench") | .last_deployment.time' <<<"$st")")
    finished=$(epoch "$(jq -r '.stacks[] | select(.name == "bench") | .last_deployment.finished' <<<"$st")")
    printf '%s %.3f %.3f %.3f %.3f\n' "$1" "$(echo "$t1 - $t0" | bc)" "$(echo "$started - $t0" | bc)" \
      "$(echo "$finished - $started" | bc)" "$(echo "$t1 - $finished" | bc)" | tee -a "$results"
  done
}

results="$work/results"
measure webhook
"$work/swarmops" repo set --data-dir "$data" --git "$work/repo.git" --branch main --path stacks --poll-interval 5s >/dev/null
measure poll

# Median, min and max of the total; medians of the parts.
med() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
echo "case median_s min_s max_s | median detect_s rollout_s observe_s | runs=$runs"
for cs in webhook poll; do
  col() { grep "^$cs " "$results" | awk -v k="$1" '{print $k}'; }
  printf '%s %.2f %.2f %.2f | %.2f %.2f %.2f\n' "$cs" "$(col 2 | med)" "$(col 2 | sort -n | head -1)" "$(col 2 | sort -n | tail -1)" \
    "$(col 3 | med)" "$(col 4 | med)" "$(col 5 | med)"
done
