#!/usr/bin/env bash
# Lifecycle benchmark (`just bench lifecycle`), on the real daemon, warm images:
#  1. startup: `lab run plaintext-store` (up, ready, echo + store, capture, grade, down)
#     against docker-compose on the exported compose file of the same lab: `up -d`, wait
#     until every healthcheck passes (what `docker compose up --wait` does; Debian's
#     docker-compose 1.29 has no --wait), the same echo + store by `exec`, then `down`.
#     Side by side, alternating, N rounds each; median and min wall time.
#  2. twenty `lab run plaintext-store` started at once: wall time, every exit code, and
#     peak memory sampled every 0.5 s: RSS of the `lab` processes plus the memory of the
#     runs' containers (cgroup usage minus inactive file cache, as `docker stats` counts).
# Traffic goes only to the labs' own containers on their own internal networks.
# Output: a table on stdout, and the same as JSON in target/bench-lifecycle.json.
set -euo pipefail
cd "$(dirname "$0")/.."

LAB=${LAB:-target/release/lab}
ROUNDS=${ROUNDS:-5}
CONCURRENT=${CONCURRENT:-20}
export CI=true LAB_LABS_DIR=$PWD/labs
# The agent image is keyed by the lab-agent binary: reuse the debug one if that is
# what exists, so the bench does not build another image.
if [[ -z "${LAB_AGENT_BIN:-}" && ! -x "$(dirname "$LAB")/lab-agent" ]]; then
  export LAB_AGENT_BIN=$PWD/target/debug/lab-agent
fi
work=$(mktemp -d /tmp/bench-lifecycle.XXXX)
trap 'rm -rf "$work"' EXIT

now() { date +%s.%N; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
minimum() { sort -n | head -1; }

"$LAB" images build >/dev/null
# Warm-up: one run so page cache and images are hot for both sides.
"$LAB" run plaintext-store --runs-dir "$work/warm" >/dev/null

"$LAB" export compose plaintext-store --out "$work/compose" >/dev/null
project=benchlc$$
compose() { (cd "$work/compose" && docker-compose -p "$project" "$@"); }

compose_round() {
  compose up -d >/dev/null 2>&1
  # --wait: every container with a healthcheck is healthy.
  for _ in $(seq 600); do
    unhealthy=0
    for c in $(compose ps -q); do
      h=$(docker inspect -f '{{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}' "$c")
      [[ $h == healthy || $h == none ]] || unhealthy=1
    done
    [[ $unhealthy == 0 ]] && break
    sleep 0.1
  done
  compose exec -T modality lab-agent echo --host pacs --wait-secs 60 >/dev/null
  compose exec -T modality lab-agent store --host pacs --patient BENCH^COMPOSE >/dev/null
  compose down -t 10 >/dev/null 2>&1
}

lab_times=() compose_times=()
for i in $(seq "$ROUNDS"); do
  t=$(now); "$LAB" run plaintext-store --runs-dir "$work/runs" >/dev/null; lab_times+=("$(echo "$(now) - $t" | bc)")
  t=$(now); compose_round; compose_times+=("$(echo "$(now) - $t" | bc)")
done
lab_med=$(printf '%s\n' "${lab_times[@]}" | median)
lab_min=$(printf '%s\n' "${lab_times[@]}" | minimum)
cmp_med=$(printf '%s\n' "${compose_times[@]}" | median)
cmp_min=$(printf '%s\n' "${compose_times[@]}" | minimum)

# --- twenty at once ------------------------------------------------------------------
dir="$work/concurrent"
mkdir -p "$dir"
label="dicom-range.runs-dir=$dir"
peak=0 peak_lab=0 peak_ctr=0
sample() {
  local lab_kib=0 ctr_b=0
  for p in "${pids[@]}"; do
    r=$(awk '/VmRSS/ {print $2}' "/proc/$p/status" 2>/dev/null || echo 0)
    lab_kib=$((lab_kib + ${r:-0}))
  done
  for id in $(docker ps -q --no-trunc --filter "label=$label" 2>/dev/null); do
    cg=/sys/fs/cgroup/memory/docker/$id
    [[ -r $cg/memory.usage_in_bytes ]] || cg=/sys/fs/cgroup/system.slice/docker-$id.scope
    u=$(cat "$cg/memory.usage_in_bytes" 2>/dev/null || cat "$cg/memory.current" 2>/dev/null || echo 0)
    f=$(awk '$1=="total_inactive_file" || $1=="inactive_file" {print $2; exit}' "$cg/memory.stat" 2>/dev/null || echo 0)
    ctr_b=$((ctr_b + u - ${f:-0}))
  done
  echo "$lab_kib $((ctr_b / 1024))"
}
t=$(now)
pids=()
for i in $(seq "$CONCURRENT"); do
  "$LAB" run plaintext-store -p "patient=BENCH^$i" --runs-dir "$dir" >"$work/c$i.out" 2>&1 &
  pids+=($!)
done
alive() { for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && return 0; done; return 1; }
while alive; do
  read -r l c < <(sample)
  (( l + c > peak )) && peak=$((l + c)) && peak_lab=$l && peak_ctr=$c
  sleep 0.5
done
fails=0
for p in "${pids[@]}"; do wait "$p" || fails=$((fails + 1)); done
wall=$(echo "$(now) - $t" | bc)
left=$(docker ps -aq --filter "label=$label" | wc -l)

printf '\n%-58s %10s %10s\n' "lifecycle benchmark ($ROUNDS rounds, $(nproc) cores)" median min
printf '%-58s %9.2fs %9.2fs\n' "lab run plaintext-store (up+ready+echo+store+grade+down)" "$lab_med" "$lab_min"
printf '%-58s %9.2fs %9.2fs\n' "docker-compose up -d + wait healthy + echo + store + down" "$cmp_med" "$cmp_min"
printf '%-58s %9.2fs\n' "$CONCURRENT x lab run plaintext-store at once: wall" "$wall"
printf '%-58s %6d of %d\n' "  failed" "$fails" "$CONCURRENT"
printf '%-58s %7d MiB (lab processes %d MiB + containers %d MiB)\n' "  peak memory" \
  $((peak / 1024)) $((peak_lab / 1024)) $((peak_ctr / 1024))
printf '%-58s %6d\n' "  containers left" "$left"
mkdir -p target
cat >target/bench-lifecycle.json <<EOF
{"rounds": $ROUNDS, "cores": $(nproc),
 "lab_run_s": {"median": $lab_med, "min": $lab_min, "all": [$(IFS=,; echo "${lab_times[*]}")]},
 "compose_s": {"median": $cmp_med, "min": $cmp_min, "all": [$(IFS=,; echo "${compose_times[*]}")]},
 "concurrent": {"runs": $CONCURRENT, "wall_s": $wall, "failed": $fails, "left": $left,
   "peak_kib": $peak, "peak_lab_kib": $peak_lab, "peak_containers_kib": $peak_ctr}}
EOF
[[ $fails == 0 && $left == 0 ]]
