//! `agent`: the code that runs **inside** dicom-range containers, shipped as the single
//! binary `lab-agent` (subcommands per role).
//!
//! What this crate owns:
//! - [`synth`]: deterministic synthetic studies from a seed, with made-up patient data: XA and
//!   US (RGB native, or YBR_FULL_422 JPEG Baseline) in 8 bits, XA in JPEG Baseline, CT, MR
//!   and CR (MONOCHROME1) native in 16 bits;
//! - [`client`]: the modality's DICOM client (C-ECHO, C-STORE, C-FIND, C-MOVE, C-GET with
//!   SCP role selection, user identity, DICOM TLS) over real associations with dicom-ul, and
//!   the classification of failures into exit codes ([`error`]);
//! - [`serve`]: a storage SCP (the destination of C-MOVE), optionally requiring a user
//!   identity;
//! - [`storage`]: where received instances go (shared by `serve` and C-GET); [`socket`]:
//!   the TCP tuning both ends share;
//! - [`sniff`]: the sniffer, libpcap live capture written as pcapng;
//! - [`attack`]: the attacker tools (`aet-scan`, `flood`, `rest-probe`, `rest-write`,
//!   `upload-polyglot`, `fingerprint`, `proxy`, `arp-spoof`), real and bounded;
//! - [`pixels`]: the first-frame fingerprint that tells a stored image from the one sent, and
//!   the lesion the proxy paints into images (native and JPEG Baseline);
//! - [`ids`]: a passive IDS on the tap (libpcap + the `wire` analyser, sliding-window rules);
//! - [`cli`]: runs the `lab-agent` command line (whose parser and JSON lines are the
//!   `protocol` crate's), one JSON line per result on stdout, read by the engine through
//!   `docker exec`; [`process`]: printing those lines, the runtime, the stop signals.
//!
//! What it does not own: Docker (the agent never drives containers; the `runtime` and `engine`
//! crates do), scenario files, offline capture analysis (`wire`), grading and reports.

pub mod attack;
pub mod bounds;
pub mod cli;
pub mod client;
pub mod dimse;
pub mod error;
pub mod files;
#[doc(hidden)]
pub mod fuzzing;
pub mod ids;
pub mod pixels;
pub mod process;
pub mod serve;
pub mod sniff;
pub mod socket;
pub mod storage;
pub mod synth;
pub mod tls;

pub use error::{AgentError, FailureKind};
