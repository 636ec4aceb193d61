#!/usr/bin/env bash
# Side by side on this machine, in one run: Docker Swarm and swarmops (the
# embedded single-node cluster, docker runtime) running the same FROM-scratch
# image, driven by the same docker CLI commands:
#   create-3       docker service create --replicas 3, until 3 tasks run
#   scale-3-to-20  docker service scale =20, until 20 tasks run
#   rolling-update-20
#                  docker service update --image (v1 to v2) of the 20,
#                  until the update status is completed
#   failed-update-rollback-20
#                  docker service update --image of a release that exits
#                  a second after it starts, until the update status is
#                  rollback_completed
# The service's update_config and rollback_config are the same on both:
# parallelism 1, delay 0, order start-first, monitor 2s, failure_action
# rollback. Each scenario runs RUNS times (default 3) per system; the
# median is reported with the ratio swarmops/Swarm. Needs a Docker engine
# and Go.
# Usage: bench/tasks.sh [RUNS]
set -euo pipefail
runs=${1:-3}
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
image=swarmops-bench/web:v1
image2=swarmops-bench/web:v2
bad=swarmops-bench/web:bad
swarmops_pid=""
we_init_swarm=""
cleanup() {
  set +e
  if [ -n "$swarmops_pid" ]; then kill "$swarmops_pid" 2>/dev/null; wait "$swarmops_pid" 2>/dev/null; fi
  docker service rm bench-web >/dev/null 2>&1
  if [ -n "$we_init_swarm" ]; then docker swarm leave --force >/dev/null 2>&1; fi
  # swarmops's containers carry its runtime label; none may outlive the run
  docker ps -aq --filter label=com.swarmops.runtime=docker --filter label=com.docker.swarm.service.name=bench-web | xargs -r docker rm -f >/dev/null 2>&1
  rm -rf "$work"
}
trap cleanup EXIT

now() { date +%s.%N; }
# engine runs the docker CLI against the local engine, whatever DOCKER_HOST says.
engine() { env -u DOCKER_HOST -u DOCKER_TLS_VERIFY -u DOCKER_CERT_PATH docker "$@"; }
echo "building the workload image and swarmops" >&2
(cd "$root" && CGO_ENABLED=0 go build -o "$work/ctx/workload" ./e2e/workload && go build -o "$work/swarmops" ./cmd/swarmops)
for tag in "$image:VERSION=v1" "$image2:VERSION=v2" "$bad:VERSION=bad EXIT_AFTER=1s"; do
  printf 'FROM scratch\nCOPY workload /workload\nENV %s\nENTRYPOINT ["/workload"]\n' "${tag##*:}" > "$work/ctx/Dockerfile"
  docker build -q -t "${tag%:*}" "$work/ctx" >/dev/null
done

running() { docker service ps bench-web --filter desired-state=running --format '{{.CurrentState}}' 2>/dev/null | grep -c '^Running' || true; }
waitrun() { # count: poll every 50ms, give up after 120s
  for _ in $(seq 1 2400); do [ "$(running)" -ge "$1" ] && return 0; sleep 0.05; done
  echo "timed out waiting for $1 running tasks" >&2; docker service ps bench-web >&2; return 1; }
updstate() { docker service inspect bench-web --format '{{if .UpdateStatus}}{{.UpdateStatus.State}}{{end}}' 2>/dev/null || true; }
waitstate() { # state: poll every 50ms, give up after 300s
  for _ in $(seq 1 6000); do [ "$(updstate)" = "$1" ] && return 0; sleep 0.05; done
  echo "timed out waiting for update status $1 (it is $(updstate))" >&2; docker service ps bench-web >&2; return 1; }
# checkimage IMAGE: after a rollout, the 20 tasks meant to run all run IMAGE
# (checked after the clock stopped; a run that fails it is not a result).
checkimage() {
  local n; n=$(docker service ps bench-web --filter desired-state=running --format '{{.Image}} {{.CurrentState}}' | grep -c "^$1 Running" || true)
  [ "$n" -eq 20 ] || { echo "after the rollout $n of 20 tasks run $1" >&2; docker service ps bench-web >&2; return 1; }; }
rollout_flags=(--update-parallelism 1 --update-delay 0s --update-order start-first --update-monitor 2s --update-failure-action rollback
  --rollback-parallelism 1 --rollback-delay 0s --rollback-order start-first --rollback-monitor 2s)
gone() { # the service and every task of it are gone
  for _ in $(seq 1 2400); do docker service inspect bench-web >/dev/null 2>&1 || return 0; sleep 0.05; done; return 1; }

# measure SYSTEM: one line per scenario and run, "system scenario seconds".
measure() {
  for r in $(seq 1 "$runs"); do
    t0=$(now); docker service create --detach --quiet --name bench-web --replicas 3 "${rollout_flags[@]}" "$image" >/dev/null; waitrun 3
    echo "$1 create-3 $(echo "$(now) - $t0" | bc)"
    t0=$(now); docker service scale --detach bench-web=20 >/dev/null 2>&1; waitrun 20
    echo "$1 scale-3-to-20 $(echo "$(now) - $t0" | bc)"
    t0=$(now); docker service update --detach --quiet --image "$image2" bench-web >/dev/null 2>&1; waitstate completed
    echo "$1 rolling-update-20 $(echo "$(now) - $t0" | bc)"; checkimage "$image2"
    t0=$(now); docker service update --detach --quiet --image "$bad" bench-web >/dev/null 2>&1; waitstate rollback_completed
    echo "$1 failed-update-rollback-20 $(echo "$(now) - $t0" | bc)"; waitrun 20; checkimage "$image2"
    docker service rm bench-web >/dev/null; gone
    # the engine removes containers after the service is gone: let it finish before the next run
    for _ in $(seq 1 2400); do [ -z "$(engine ps -aq --filter label=com.docker.swarm.service.name=bench-web)" ] && break; sleep 0.05; done
  done
}

results="$work/results"
# Docker Swarm on this engine.
if ! docker info --format '{{.Swarm.LocalNodeState}}' | grep -q '^active$'; then
  docker swarm init --advertise-addr 127.0.0.1 >/dev/null; we_init_swarm=1
fi
measure swarm >> "$results"
if [ -n "$we_init_swarm" ]; then docker swarm leave --force >/dev/null; we_init_swarm=""; fi

# swarmops: a single-node cluster whose agent runs on the same engine.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$work/swarmops" init --data-dir "$work/data" --advertise-addr "127.0.0.1:$port" > "$work/swarmops.log" 2>&1 &
swarmops_pid=$!
eval "$("$work/swarmops" env --data-dir "$work/data" 2>/dev/null || true)"
for _ in $(seq 1 600); do
  eval "$("$work/swarmops" env --data-dir "$work/data" 2>/dev/null)" 2>/dev/null && docker node ls >/dev/null 2>&1 && break; sleep 0.05
done
# ready once the node's agent registered: it reports the engine's version
want=$(engine version --format '{{.Server.Version}}')
for _ in $(seq 1 600); do
  [ "$(docker node inspect self --format '{{.Description.Engine.EngineVersion}}' 2>/dev/null)" = "$want" ] && break; sleep 0.05
done
measure swarmops >> "$results"
unset DOCKER_HOST DOCKER_TLS_VERIFY DOCKER_CERT_PATH

# Every run, then medians and ratios.
cat "$results"
echo "scenario swarm_s swarmops_s ratio(swarmops/swarm) runs=$runs"
for sc in create-3 scale-3-to-20 rolling-update-20 failed-update-rollback-20; do
  med() { grep "^$1 $sc " "$results" | awk '{print $3}' | sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
  s=$(med swarm); o=$(med swarmops)
  printf '%s %.2f %.2f %.2f\n' "$sc" "$s" "$o" "$(echo "$o / $s" | bc -l)"
done
