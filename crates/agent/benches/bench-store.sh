#!/usr/bin/env bash
# `just bench store`: the same CT study (200 instances, 512x512, 16-bit, ~100 MB) stored into
# Orthanc 1.10.1 by each client, each row into a fresh Orthanc container on a Docker network
# made for this benchmark (internal, labelled dicom-range.run=bench-<id>, so `lab down --all`
# can clean it too). Removes everything it made at the end, whatever happens.
#
# The PACS is started as a lab starts it: its storage and index on a tmpfs (the engine's
# orthanc::STORAGE_DIR), since the container layer may be fuse-overlayfs, where Orthanc's
# writes and fsyncs cross FUSE and become the limit of every client. STORAGE=layer puts them
# back in the container's layer, to measure that.
#
# Rows: lab-agent (1 association, and N in parallel), dcmtk storescu (host), the paper's
# pynetdicom script (in the dicom-range/pynetdicom container, on the same network), and
# Orthanc's REST ingest (POST /instances, 4 curl in parallel) as the practical limit; each
# against stock Orthanc and against Orthanc started with env TCP_NODELAY=1 (as labs start it).
# Every row checks that Orthanc holds exactly N instances afterwards.
#
# Env: INSTANCES (200), ASSOCIATIONS (4), ROWS ("all" or a space-separated subset of
# agent1 agentN storescu pynetdicom rest), STORAGE (tmpfs | layer), ORTHANC_IMAGE,
# PYN_IMAGE (default: the newest dicom-range/pynetdicom from `lab images build`), AGENT
# (path to lab-agent).
set -euo pipefail
cd "$(dirname "$0")/../../.."

INSTANCES=${INSTANCES:-200}
ASSOCIATIONS=${ASSOCIATIONS:-4}
ROWS=${ROWS:-all}
[ "$ROWS" = all ] && ROWS="agent1 agentN storescu pynetdicom rest"
ORTHANC_IMAGE=${ORTHANC_IMAGE:-dicom-range/orthanc:1.10.1}
STORAGE=${STORAGE:-tmpfs}
case $STORAGE in tmpfs | layer) ;; *) echo "error: STORAGE must be tmpfs or layer, not $STORAGE" >&2; exit 2 ;; esac
PYN_IMAGE=${PYN_IMAGE:-$(docker images dicom-range/pynetdicom --format '{{.Repository}}:{{.Tag}}' | head -n 1)}
AGENT=${AGENT:-target/release/lab-agent}
ID=$(printf '%04x' $((RANDOM % 65536)))
RUN=bench-$ID
NET=dicom-range-bench-$ID
WORK=$(mktemp -d /tmp/dicom-range-bench-XXXXXX)
LIMIT=120 # seconds, per row

say() { printf '%s\n' "$*" >&2; }
cleanup() {
  local ids
  ids=$(docker ps -aq --filter "label=dicom-range.run=$RUN" || true)
  [ -n "$ids" ] && docker rm -f $ids >/dev/null 2>&1 || true
  docker network rm "$NET" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

for t in docker curl storescu; do
  command -v "$t" >/dev/null || { say "error: $t is not installed"; exit 2; }
done
if [ ! -x "$AGENT" ] || [ ! -x target/release/lab ]; then
  say "building lab-agent and lab (release)"
  cargo build --release -q -p agent -p lab
fi
if ! docker image inspect "$ORTHANC_IMAGE" >/dev/null 2>&1 ||
  { [[ " $ROWS " == *" pynetdicom "* ]] && [ -z "$PYN_IMAGE" ]; }; then
  say "building the lab images (lab images build; a few minutes the first time)"
  target/release/lab images build -q >&2
  PYN_IMAGE=$(docker images dicom-range/pynetdicom --format '{{.Repository}}:{{.Tag}}' | head -n 1)
fi
if [[ " $ROWS " == *" pynetdicom "* ]] && ! docker image inspect "$PYN_IMAGE" >/dev/null 2>&1; then
  say "error: no dicom-range/pynetdicom image ('$PYN_IMAGE'): build it with 'lab images build' (or leave pynetdicom out of ROWS)"
  exit 2
fi

say "generating $INSTANCES CT instances (512x512, 16-bit) into $WORK/ct"
"$AGENT" generate --modality CT --syntax explicit-le --instances "$INSTANCES" \
  --rows 512 --cols 512 --seed 2023 --patient 'BENCH^CT' --out "$WORK/ct" >/dev/null
BYTES=$(du -cb "$WORK"/ct/*.dcm | tail -1 | cut -f1)
MB=$(awk -v b="$BYTES" 'BEGIN { printf "%.1f", b / 1e6 }')
say "files: $INSTANCES, $MB MB"

docker network create --internal --label "dicom-range.run=$RUN" \
  --label "dicom-range.lab=bench-store" "$NET" >/dev/null
mkdir -p "$WORK/conf"
cat >"$WORK/conf/orthanc.json" <<'JSON'
{
  "Name": "bench",
  "DicomAet": "ORTHANC",
  "DicomPort": 4242,
  "HttpPort": 8042,
  "RemoteAccessAllowed": true,
  "AuthenticationEnabled": false,
  "DicomCheckCalledAet": false,
  "StorageDirectory": "/var/lib/orthanc/lab-db",
  "IndexDirectory": "/var/lib/orthanc/lab-db"
}
JSON
chmod -R a+rX "$WORK"

now() { date +%s.%N; }

# start_orthanc stock|nodelay -> sets PACS_IP (container is labelled with the run).
start_orthanc() {
  local env=() storage=()
  [ "$1" = nodelay ] && env=(-e TCP_NODELAY=1)
  # The same mount point and options as crates/engine/src/orthanc.rs (STORAGE_DIR, STORAGE_TMPFS).
  [ "$STORAGE" = tmpfs ] && storage=(--tmpfs /var/lib/orthanc/lab-db:size=4g)
  local name="dicom-range-$RUN-pacs-$((++PACS_N))"
  docker run -d --name "$name" --network "$NET" "${env[@]}" \
    --label "dicom-range.run=$RUN" --label "dicom-range.lab=bench-store" \
    --label "dicom-range.node=pacs" \
    "${storage[@]}" -v "$WORK/conf:/etc/orthanc-lab:ro" "$ORTHANC_IMAGE" \
    Orthanc /etc/orthanc-lab/ >/dev/null
  PACS_NAME=$name
  PACS_IP=$(docker inspect -f "{{(index .NetworkSettings.Networks \"$NET\").IPAddress}}" "$name")
  local deadline=$((SECONDS + 60))
  until curl -sf -m 2 "http://$PACS_IP:8042/system" >/dev/null; do
    [ $SECONDS -lt $deadline ] || { say "Orthanc did not answer REST within 60 s"; docker logs "$name" >&2; exit 1; }
    sleep 0.2
  done
}

stop_orthanc() { docker rm -f "$PACS_NAME" >/dev/null; }

count_instances() {
  curl -sf -m 10 "http://$PACS_IP:8042/statistics" | sed -n 's/.*"CountInstances" *: *\([0-9]*\).*/\1/p'
}

RESULTS=()
declare -A SECS=()
PACS_N=0
row() { # row <label> <pacs> <seconds> [note]
  local label=$1 pacs=$2 secs=$3 note=${4:-}
  local stored
  stored=$(count_instances)
  local ips mbs
  ips=$(awk -v n="$INSTANCES" -v s="$secs" 'BEGIN { printf "%.1f", n / s }')
  mbs=$(awk -v b="$BYTES" -v s="$secs" 'BEGIN { printf "%.1f", b / 1e6 / s }')
  [ "$stored" = "$INSTANCES" ] || note="$note; ORTHANC HOLDS $stored INSTANCES"
  SECS["$CUR_ROW/$pacs"]=$secs
  RESULTS+=("$(printf '| %-34s | %-7s | %7.2f | %8s | %6s | %s |' "$label" "$pacs" "$secs" "$ips" "$mbs" "$note")")
  say "  $label ($pacs): ${secs} s, $ips inst/s, $mbs MB/s $note"
}

run_agent() { # run_agent <associations>
  local out
  out=$(timeout "$LIMIT" "$AGENT" store --host "$PACS_IP" --port 4242 --calling MODALITY \
    --called ORTHANC --files "$WORK/ct" --associations "$1" --summary --timeout-secs 30)
  AGENT_RSS=$(sed -n 's/.*"peak_rss_kib":\([0-9]*\).*/\1/p' <<<"$out")
  grep -q '"ok":true' <<<"$out" || { say "lab-agent failed: $out"; return 1; }
}

for pacs in stock nodelay; do
  say "Orthanc 1.10.1, $pacs"
  for r in $ROWS; do
    start_orthanc "$pacs"
    CUR_ROW=$r
    case $r in
      agent1)
        t0=$(now); run_agent 1; t1=$(now)
        row "lab-agent, 1 association" "$pacs" "$(awk -v a="$t0" -v b="$t1" 'BEGIN{print b-a}')" \
          "peak RSS $((AGENT_RSS / 1024)) MiB" ;;
      agentN)
        t0=$(now); run_agent "$ASSOCIATIONS"; t1=$(now)
        row "lab-agent, $ASSOCIATIONS associations" "$pacs" "$(awk -v a="$t0" -v b="$t1" 'BEGIN{print b-a}')" \
          "peak RSS $((AGENT_RSS / 1024)) MiB" ;;
      storescu)
        t0=$(now)
        timeout "$LIMIT" storescu -aet MODALITY -aec ORTHANC "$PACS_IP" 4242 +sd "$WORK/ct" 2>"$WORK/storescu.err" ||
          { say "storescu failed:"; cat "$WORK/storescu.err" >&2; }
        t1=$(now)
        row "dcmtk storescu (host)" "$pacs" "$(awk -v a="$t0" -v b="$t1" 'BEGIN{print b-a}')" ;;
      pynetdicom)
        out=$(timeout "$LIMIT" docker run --rm --network "$NET" --label "dicom-range.run=$RUN" \
          --label "dicom-range.node=pynetdicom" -v "$WORK/ct:/data:ro" "$PYN_IMAGE" \
          python3 /opt/paper_store.py /data "$PACS_IP" 4242 ORTHANC \
          --extra-context "1.2.840.10008.5.1.4.1.1.2=1.2.840.10008.1.2.1" 2>"$WORK/pyn.err") ||
          { say "pynetdicom failed: $out"; cat "$WORK/pyn.err" >&2; }
        secs=$(sed -n 's/.*"seconds": *\([0-9.]*\).*/\1/p' <<<"$out")
        row "paper's pynetdicom script (container)" "$pacs" "${secs:-0}" "timed inside the script" ;;
      rest)
        t0=$(now)
        ls "$WORK"/ct/*.dcm | timeout "$LIMIT" xargs -P 4 -I{} \
          curl -sf -m 30 -o /dev/null --data-binary @{} "http://$PACS_IP:8042/instances"
        t1=$(now)
        row "Orthanc REST POST /instances, 4 curl" "$pacs" "$(awk -v a="$t0" -v b="$t1" 'BEGIN{print b-a}')" ;;
      *) say "unknown row $r"; exit 2 ;;
    esac
    stop_orthanc
  done
done

echo "Store $INSTANCES CT instances 512x512 16-bit ($MB MB) into Orthanc 1.10.1, storage on $STORAGE ($(nproc) cores, Docker storage driver $(docker info -f '{{.Driver}}'), $(date -u +%Y-%m-%d), load average at the end: $(cut -d' ' -f1-3 /proc/loadavg))"
echo
echo "| client | Orthanc | seconds | inst/s | MB/s | note |"
echo "|---|---|---|---|---|---|"
printf '%s\n' "${RESULTS[@]}"
echo
# How many times faster the faster lab-agent row is than each anchor (same PACS mode).
for pacs in stock nodelay; do
  best=""
  for a in agent1 agentN; do
    t=${SECS["$a/$pacs"]:-}
    [ -n "$t" ] || continue
    if [ -z "$best" ] || awk -v t="$t" -v b="$best" 'BEGIN { exit !(t < b) }'; then best=$t; fi
  done
  [ -n "$best" ] || continue
  line="$pacs Orthanc, lab-agent best ${best} s:"
  for a in storescu pynetdicom rest; do
    t=${SECS["$a/$pacs"]:-}
    [ -n "$t" ] || continue
    line="$line $a/lab-agent = $(awk -v t="$t" -v b="$best" 'BEGIN { printf "%.1f", t / b }')x;"
  done
  echo "$line"
done
