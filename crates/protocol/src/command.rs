//! The `lab-agent` command line: the modality's, the sniffer's and the storage SCP's
//! subcommands (the attacker's and the IDS's are in [`crate::attack`]).
//!
//! Every type here is both the clap parser the agent runs and the value the engine builds.
//! Serde field names are the long flags with `_` for `-` (and the lab file's `with:` keys):
//! [`crate::argv`] turns a value into its argv from them, so no flag is written twice.
//! A subcommand's options that a lab file may set are grouped in one flattened `*Options`
//! struct, built from `with:` by [`crate::argv::from_with`].

use crate::values::{FindLevel, Modality, Syntax, TlsVersion};
use clap::{Args, Parser, Subcommand};
use serde::Serialize;
use std::path::PathBuf;

/// The agent's program name, the first word of every command line.
pub const PROGRAM: &str = "lab-agent";

#[derive(Debug, Clone, PartialEq, Parser, Serialize)]
#[command(
    name = "lab-agent",
    version,
    about = "dicom-range agent: modality simulator, sniffer, attacker tools and IDS, run inside lab containers",
    after_help = "Example:\n  lab-agent echo --host pacs --port 4242 --calling MODALITY --called ORTHANC --wait-secs 30"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, PartialEq, Subcommand, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Command {
    /// Block until SIGTERM or SIGINT, then exit 0 (PID 1 of the modality container).
    Idle,
    /// One C-ECHO over a real association.
    #[command(
        after_help = "Example:\n  lab-agent echo --host pacs --port 4242 --calling MODALITY --called ORTHANC --wait-secs 30"
    )]
    Echo {
        #[command(flatten)]
        #[serde(flatten)]
        peer: PeerArgs,
        /// Retry unreachable peers (every 250 ms) for up to this many seconds (readiness probe).
        #[arg(long, default_value_t = 0)]
        wait_secs: u64,
    },
    /// Generate a synthetic study and C-STORE it over one association.
    #[command(
        after_help = "Example:\n  lab-agent store --host pacs --port 4242 --calling MODALITY --called ORTHANC \\\n    --modality XA --instances 1 --syntax jpeg-baseline --patient 'DOE^JANE' --seed 42"
    )]
    Store {
        #[command(flatten)]
        #[serde(flatten)]
        peer: PeerArgs,
        #[command(flatten)]
        #[serde(flatten)]
        study: StudyArgs,
        #[command(flatten)]
        #[serde(flatten)]
        opts: StoreOptions,
    },
    /// Write a synthetic study as DICOM Part 10 files, without any network.
    #[command(
        after_help = "Example:\n  lab-agent generate --modality CT --syntax explicit-le --instances 200 --out /tmp/ct"
    )]
    Generate {
        #[command(flatten)]
        #[serde(flatten)]
        study: StudyArgs,
        /// Directory to write into (created if missing).
        #[arg(long)]
        out: PathBuf,
    },
    /// C-FIND at patient, study or series level; prints the matches as JSON.
    #[command(
        after_help = "Example:\n  lab-agent find --host pacs --level patient -k PatientName='*'\n  lab-agent find --host pacs --level study -k PatientID=DR123456 -k StudyDate=2024-"
    )]
    Find {
        #[command(flatten)]
        #[serde(flatten)]
        peer: PeerArgs,
        #[command(flatten)]
        #[serde(flatten)]
        query: FindOptions,
    },
    /// C-MOVE: ask the peer to send the matches to another AE (e.g. a `serve` elsewhere),
    /// which it must know (Orthanc: DicomModalities). Prints the sub-operation counts.
    #[command(
        name = "move",
        after_help = "Example:\n  lab-agent move --host pacs --calling MODALITY --level study \\\n    -k StudyInstanceUID=1.2.826.0.1.3680043.10.1 --dest STORESCP"
    )]
    Move {
        #[command(flatten)]
        #[serde(flatten)]
        peer: PeerArgs,
        #[command(flatten)]
        #[serde(flatten)]
        query: MoveOptions,
    },
    /// C-GET: the peer sends the matches back on this association (SCP/SCU role selection);
    /// they are written into a folder as <SOPInstanceUID>.dcm.
    #[command(
        after_help = "Example:\n  lab-agent get --host pacs --calling MODALITY --level study \\\n    -k StudyInstanceUID=1.2.826.0.1.3680043.10.1 --out /data/retrieved"
    )]
    Get {
        #[command(flatten)]
        #[serde(flatten)]
        peer: PeerArgs,
        #[command(flatten)]
        #[serde(flatten)]
        query: GetOptions,
    },
    /// A storage SCP: accept associations (Verification and the storage SOP classes it
    /// knows), write received instances into a folder, print one JSON line per association.
    #[command(
        after_help = "Example:\n  lab-agent serve --port 11112 --aet STORESCP --out /data/received"
    )]
    Serve(ServeArgs),
    /// Capture packets on an interface into a pcapng file until SIGTERM or SIGINT.
    #[command(
        after_help = "Example:\n  lab-agent sniff --iface br-lab --out /captures/capture.pcapng"
    )]
    Sniff(SniffArgs),
    /// Attacker and IDS tools (aet-scan, flood, rest-probe, ...).
    #[command(flatten)]
    #[serde(untagged)]
    Attack(crate::attack::AttackCommand),
}

/// The peer of a DICOM client command (the PACS) and how to reach it.
#[derive(Debug, Clone, PartialEq, Args, Serialize)]
pub struct PeerArgs {
    /// Host name or address of the peer (the PACS).
    #[arg(long)]
    pub host: String,
    /// DICOM port of the peer.
    #[arg(long, default_value_t = 4242)]
    pub port: u16,
    /// Our AE title (calling AE).
    #[arg(long, default_value = PeerArgs::DEFAULT_CALLING)]
    pub calling: String,
    /// The peer's AE title (called AE).
    #[arg(long, default_value = PeerArgs::DEFAULT_CALLED)]
    pub called: String,
    /// Timeout for the connection and for each read or write, in seconds.
    #[arg(long, default_value_t = PeerArgs::DEFAULT_TIMEOUT_SECS)]
    pub timeout_secs: u64,
    /// User identity negotiation: the username sent in the A-ASSOCIATE-RQ.
    #[arg(long, value_name = "NAME")]
    pub username: Option<String>,
    /// User identity negotiation: the password sent with --username (in clear inside the
    /// A-ASSOCIATE-RQ unless --tls).
    #[arg(long, value_name = "PASSWORD", requires = "username")]
    pub password: Option<String>,
    #[command(flatten)]
    #[serde(flatten)]
    pub tls: TlsArgs,
}

impl PeerArgs {
    pub const DEFAULT_TIMEOUT_SECS: u64 = 10;
    pub const DEFAULT_CALLING: &str = "MODALITY";
    pub const DEFAULT_CALLED: &str = "ORTHANC";
}

/// DICOM TLS options of a client command.
#[derive(Debug, Clone, PartialEq, Default, Args, Serialize)]
pub struct TlsArgs {
    /// Use DICOM TLS (PS3.15 Annex B); needs --ca.
    #[arg(long)]
    pub tls: bool,
    /// PEM file of the CA that signed the server's certificate.
    #[arg(long, value_name = "FILE")]
    pub ca: Option<PathBuf>,
    /// PEM client certificate (mutual TLS), with --key.
    #[arg(long, value_name = "FILE")]
    pub cert: Option<PathBuf>,
    /// PEM private key of the client certificate.
    #[arg(long, value_name = "FILE")]
    pub key: Option<PathBuf>,
    /// Name the server certificate must carry (default: --host).
    #[arg(long, value_name = "NAME")]
    pub server_name: Option<String>,
    /// TLS version to offer: 1.2, 1.3 or any.
    #[arg(long, default_value = "any")]
    pub tls_version: TlsVersion,
}

/// The synthetic study of `store` and `generate`.
#[derive(Debug, Clone, PartialEq, Args, Serialize)]
pub struct StudyArgs {
    /// XA (X-ray angiography, the paper's case), CT, MR, CR (computed radiography,
    /// MONOCHROME1) or US (ultrasound, colour).
    #[arg(long, default_value = "XA")]
    pub modality: Modality,
    /// Number of instances in the series.
    #[arg(long, default_value_t = 1)]
    pub instances: u32,
    /// jpeg-baseline (encapsulated 8-bit JPEG: XA, US) or explicit-le (native pixels).
    #[arg(long, default_value = "jpeg-baseline")]
    pub syntax: Syntax,
    /// Patient's Name, DICOM form FAMILY^GIVEN (synthetic, never a real person).
    #[arg(long, default_value = "DOE^JANE")]
    pub patient: String,
    /// Patient ID (derived from the seed if absent).
    #[arg(long)]
    pub patient_id: Option<String>,
    /// Seed: the same seed gives the same UIDs and bytes.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    #[arg(long, default_value_t = 512)]
    pub rows: u16,
    #[arg(long, default_value_t = 512)]
    pub cols: u16,
    /// Bits Stored of CT, MR and CR images (16 allocated): 8 to 16 (default 12).
    #[arg(long, value_parser = clap::value_parser!(u16).range(8..=16))]
    pub bits: Option<u16>,
}

/// What `store` sends besides the study, and how.
#[derive(Debug, Clone, PartialEq, Args, Serialize)]
pub struct StoreOptions {
    /// Also write each instance as a DICOM Part 10 file into this directory.
    #[arg(long)]
    pub save_dir: Option<PathBuf>,
    /// Send these DICOM Part 10 files (or every file in these directories) instead of a
    /// synthetic study; data sets are streamed from disk.
    #[arg(long, num_args = 1.., value_name = "PATH")]
    pub files: Vec<PathBuf>,
    /// Number of associations opened in parallel, each taking the next instance.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub associations: u16,
    /// Leave the per-instance list out of the JSON line (large studies).
    #[arg(long)]
    pub summary: bool,
}

/// The query of `find`.
#[derive(Debug, Clone, PartialEq, Args, Serialize)]
pub struct FindOptions {
    /// patient (Patient Root model), study or series (Study Root model).
    #[arg(long, default_value = "patient")]
    pub level: FindLevel,
    /// Matching or return key, KEYWORD=VALUE (DICOM wildcards * and ? allowed; empty
    /// value = return key only). Repeat for several keys.
    #[arg(short = 'k', long = "match", value_name = "KEYWORD=VALUE")]
    #[serde(rename = "match")]
    pub keys: Vec<String>,
    /// Read at most this many matches, then send C-CANCEL.
    #[arg(long, default_value_t = 1000)]
    pub limit: usize,
}

/// The query and destination of `move`.
#[derive(Debug, Clone, PartialEq, Args, Serialize)]
pub struct MoveOptions {
    /// patient (Patient Root model), study or series (Study Root model).
    #[arg(long, default_value = "study")]
    pub level: FindLevel,
    /// Unique key, KEYWORD=VALUE (e.g. StudyInstanceUID=..., PatientID=...). Repeat.
    #[arg(short = 'k', long = "match", value_name = "KEYWORD=VALUE")]
    #[serde(rename = "match")]
    pub keys: Vec<String>,
    /// The AE title the peer sends the instances to (its Move Destination).
    #[arg(long)]
    pub dest: String,
}

/// The query and output folder of `get`.
#[derive(Debug, Clone, PartialEq, Args, Serialize)]
pub struct GetOptions {
    /// patient (Patient Root model), study or series (Study Root model).
    #[arg(long, default_value = "study")]
    pub level: FindLevel,
    /// Unique key, KEYWORD=VALUE (e.g. StudyInstanceUID=..., PatientID=...). Repeat.
    #[arg(short = 'k', long = "match", value_name = "KEYWORD=VALUE")]
    #[serde(rename = "match")]
    pub keys: Vec<String>,
    /// Directory where the received instances are written (created if missing).
    #[arg(long, default_value = "retrieved")]
    pub out: PathBuf,
}

/// `serve`: the storage SCP.
#[derive(Debug, Clone, PartialEq, Args, Serialize)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "0.0.0.0")]
    pub bind: String,
    #[arg(long, default_value_t = 11112)]
    pub port: u16,
    /// Our AE title; associations calling another AE title are rejected.
    #[arg(long, default_value = "STORESCP")]
    pub aet: String,
    /// Accept any called AE title.
    #[arg(long)]
    pub any_called: bool,
    /// Directory where received instances are written as <SOPInstanceUID>.dcm.
    #[arg(long)]
    pub out: PathBuf,
    /// Stop after this many associations (0: until SIGTERM).
    #[arg(long, default_value_t = 0)]
    pub max_associations: u64,
    /// Read/write timeout per network operation, in seconds.
    #[arg(long, default_value_t = 30)]
    pub timeout_secs: u64,
    /// Accept only associations carrying this user identity (with --require-password).
    #[arg(long, value_name = "NAME", requires = "require_password")]
    pub require_user: Option<String>,
    /// The password --require-user must come with.
    #[arg(long, value_name = "PASSWORD", requires = "require_user")]
    pub require_password: Option<String>,
    /// The largest data set accepted in one C-STORE, in MiB (more aborts the
    /// association; memory grows only with the bytes received).
    #[arg(long, value_name = "N", default_value_t = ServeArgs::DEFAULT_MAX_DATASET_MB,
          value_parser = clap::value_parser!(u64).range(1..=4096))]
    pub max_dataset_mb: u64,
}

impl ServeArgs {
    /// The default largest data set, in MiB (the agent's `bounds::DEFAULT_MAX_DATASET`).
    pub const DEFAULT_MAX_DATASET_MB: u64 = 512;
}

/// `sniff`: libpcap capture into a pcapng file.
#[derive(Debug, Clone, PartialEq, Args, Serialize)]
pub struct SniffArgs {
    /// Network interface to capture on (e.g. the lab network's bridge).
    #[arg(long)]
    pub iface: String,
    /// The pcapng file to write.
    #[arg(long)]
    pub out: PathBuf,
    /// Bytes kept per packet.
    #[arg(long, default_value_t = SniffArgs::DEFAULT_SNAPLEN)]
    pub snaplen: u32,
    /// The largest capture file: capturing stops there (the file stays a valid
    /// pcapng), a `capture_limit` line says so, and the sniffer waits for SIGTERM.
    #[arg(long)]
    pub max_bytes: Option<u64>,
}

impl SniffArgs {
    pub const DEFAULT_SNAPLEN: u32 = 262_144;
}

impl Command {
    /// The whole command line, program name first.
    pub fn to_argv(&self) -> Vec<String> {
        let mut argv = vec![PROGRAM.to_string()];
        argv.extend(crate::argv::to_args(self));
        argv
    }

    /// The subcommand's name (`store`, `aet-scan`, ...).
    pub fn verb(&self) -> String {
        crate::argv::to_args(self).swap_remove(0)
    }
}
