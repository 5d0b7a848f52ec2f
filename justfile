# Developer shortcuts; README's commands never need `just`.

# Build everything (lab and lab-agent side by side).
build:
    cargo build --workspace

# The test suite, as CI runs it (needs Docker; builds images on first use).
test:
    cargo build --workspace && cargo nextest run --workspace --no-fail-fast

# The one-shot student lab.
run lab="plaintext-store":
    cargo build --release && target/release/lab run {{lab}}

# Remove every lab left running.
down:
    cargo run -q --bin lab -- down --all

lint:
    cargo fmt --all -- --check && cargo clippy --workspace --all-targets -- -D warnings

# Store benchmark (`just bench store`): 200 CT instances into Orthanc 1.10.1 containers
# (needs Docker and dcmtk; the script builds the images it lacks with `lab images build`):
# lab-agent, storescu, the paper's pynetdicom script, REST; stock and TCP_NODELAY=1 Orthanc,
# storage on tmpfs as in labs (STORAGE=layer for the container layer). Results and how to
# read them: docs/agent.md.
bench-store:
    cargo build --release -p agent -p lab && bash crates/agent/benches/bench-store.sh

# Twenty plaintext-store runs at once, alone (about 40 s on 2 cores).
concurrency:
    cargo build --workspace && cargo nextest run -p lab --test concurrency --no-capture

# Lifecycle benchmark: warm `lab run plaintext-store` against docker-compose up + wait
# healthy + the same echo and store + down, side by side; then twenty runs at once with
# wall time and peak memory (lab processes + containers). JSON in target/.
bench-lifecycle:
    cargo build --release -p lab && bash scripts/bench-lifecycle.sh

# Benchmarks by name: `just bench wire`, `just bench store`.
bench target="wire":
    just bench-{{target}}

# wire against tshark on a generated 124 MB capture (220 CT C-STOREs): time, MB/s, peak
# RSS, identical PDU lists (needs tshark).
bench-wire:
    cargo bench -p wire --bench throughput
