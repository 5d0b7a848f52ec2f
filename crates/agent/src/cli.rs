//! The `lab-agent` command line. Each subcommand prints one JSON line on stdout (the engine
//! parses it) and, on failure, the same message in words on stderr.
//!
//! Exit codes: 0 success; 3 association rejected/aborted or DIMSE failure status; 4 peer
//! unreachable (refused, no route, unknown host, timeout); 1 any other error; 2 bad usage.

use crate::client::{self, FindLevel, FindQuery, Peer, Transport, status_name};
use crate::error::AgentError;
use crate::files;
use crate::serve::{self, ServeOptions};
use crate::sniff::{self, SniffOptions};
use crate::synth::{self, Modality, StudySpec, Syntax};
use crate::tls::{TlsClient, TlsFiles, TlsVersion};
use clap::{Args, Parser, Subcommand};
use serde_json::{Value, json};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

#[derive(Debug, Parser)]
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

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Block until SIGTERM or SIGINT, then exit 0 (PID 1 of the modality container).
    Idle,
    /// One C-ECHO over a real association.
    #[command(
        after_help = "Example:\n  lab-agent echo --host pacs --port 4242 --calling MODALITY --called ORTHANC --wait-secs 30"
    )]
    Echo {
        #[command(flatten)]
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
        peer: PeerArgs,
        #[command(flatten)]
        study: StudyArgs,
        /// Also write each instance as a DICOM Part 10 file into this directory.
        #[arg(long)]
        save_dir: Option<PathBuf>,
        /// Send these DICOM Part 10 files (or every file in these directories) instead of a
        /// synthetic study; data sets are streamed from disk.
        #[arg(long, num_args = 1.., value_name = "PATH")]
        files: Vec<PathBuf>,
        /// Number of associations opened in parallel, each taking the next instance.
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=64))]
        associations: u16,
        /// Leave the per-instance list out of the JSON line (large studies).
        #[arg(long)]
        summary: bool,
    },
    /// Write a synthetic study as DICOM Part 10 files, without any network.
    #[command(
        after_help = "Example:\n  lab-agent generate --modality CT --syntax explicit-le --instances 200 --out /tmp/ct"
    )]
    Generate {
        #[command(flatten)]
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
        peer: PeerArgs,
        /// patient (Patient Root model), study or series (Study Root model).
        #[arg(long, default_value = "patient")]
        level: FindLevel,
        /// Matching or return key, KEYWORD=VALUE (DICOM wildcards * and ? allowed; empty
        /// value = return key only). Repeat for several keys.
        #[arg(short = 'k', long = "match", value_name = "KEYWORD=VALUE")]
        keys: Vec<String>,
        /// Read at most this many matches, then send C-CANCEL.
        #[arg(long, default_value_t = 1000)]
        limit: usize,
    },
    /// C-MOVE: ask the peer to send the matches to another AE (e.g. a `serve` elsewhere),
    /// which it must know (Orthanc: DicomModalities). Prints the sub-operation counts.
    #[command(
        name = "move",
        after_help = "Example:\n  lab-agent move --host pacs --calling MODALITY --level study \\\n    -k StudyInstanceUID=1.2.826.0.1.3680043.10.1 --dest STORESCP"
    )]
    Move {
        #[command(flatten)]
        peer: PeerArgs,
        /// patient (Patient Root model), study or series (Study Root model).
        #[arg(long, default_value = "study")]
        level: FindLevel,
        /// Unique key, KEYWORD=VALUE (e.g. StudyInstanceUID=..., PatientID=...). Repeat.
        #[arg(short = 'k', long = "match", value_name = "KEYWORD=VALUE")]
        keys: Vec<String>,
        /// The AE title the peer sends the instances to (its Move Destination).
        #[arg(long)]
        dest: String,
    },
    /// C-GET: the peer sends the matches back on this association (SCP/SCU role selection);
    /// they are written into a folder as <SOPInstanceUID>.dcm.
    #[command(
        after_help = "Example:\n  lab-agent get --host pacs --calling MODALITY --level study \\\n    -k StudyInstanceUID=1.2.826.0.1.3680043.10.1 --out /data/retrieved"
    )]
    Get {
        #[command(flatten)]
        peer: PeerArgs,
        /// patient (Patient Root model), study or series (Study Root model).
        #[arg(long, default_value = "study")]
        level: FindLevel,
        /// Unique key, KEYWORD=VALUE (e.g. StudyInstanceUID=..., PatientID=...). Repeat.
        #[arg(short = 'k', long = "match", value_name = "KEYWORD=VALUE")]
        keys: Vec<String>,
        /// Directory where the received instances are written (created if missing).
        #[arg(long, default_value = "retrieved")]
        out: PathBuf,
    },
    /// A storage SCP: accept associations (Verification and the storage SOP classes it
    /// knows), write received instances into a folder, print one JSON line per association.
    #[command(
        after_help = "Example:\n  lab-agent serve --port 11112 --aet STORESCP --out /data/received"
    )]
    Serve {
        /// Address to listen on.
        #[arg(long, default_value = "0.0.0.0")]
        bind: String,
        #[arg(long, default_value_t = 11112)]
        port: u16,
        /// Our AE title; associations calling another AE title are rejected.
        #[arg(long, default_value = "STORESCP")]
        aet: String,
        /// Accept any called AE title.
        #[arg(long)]
        any_called: bool,
        /// Directory where received instances are written as <SOPInstanceUID>.dcm.
        #[arg(long)]
        out: PathBuf,
        /// Stop after this many associations (0: until SIGTERM).
        #[arg(long, default_value_t = 0)]
        max_associations: u64,
        /// Read/write timeout per network operation, in seconds.
        #[arg(long, default_value_t = 30)]
        timeout_secs: u64,
        /// Accept only associations carrying this user identity (with --require-password).
        #[arg(long, value_name = "NAME", requires = "require_password")]
        require_user: Option<String>,
        /// The password --require-user must come with.
        #[arg(long, value_name = "PASSWORD", requires = "require_user")]
        require_password: Option<String>,
        /// The largest data set accepted in one C-STORE, in MiB (more aborts the
        /// association; memory grows only with the bytes received).
        #[arg(long, value_name = "N", default_value_t = (crate::bounds::DEFAULT_MAX_DATASET >> 20) as u64,
              value_parser = clap::value_parser!(u64).range(1..=4096))]
        max_dataset_mb: u64,
    },
    /// Capture packets on an interface into a pcapng file until SIGTERM or SIGINT.
    #[command(
        after_help = "Example:\n  lab-agent sniff --iface br-lab --out /captures/capture.pcapng"
    )]
    Sniff {
        /// Network interface to capture on (e.g. the lab network's bridge).
        #[arg(long)]
        iface: String,
        /// The pcapng file to write.
        #[arg(long)]
        out: PathBuf,
        /// Bytes kept per packet.
        #[arg(long, default_value_t = 262_144)]
        snaplen: u32,
        /// The largest capture file: capturing stops there (the file stays a valid
        /// pcapng), a `capture_limit` line says so, and the sniffer waits for SIGTERM.
        #[arg(long)]
        max_bytes: Option<u64>,
    },
    /// Attacker and IDS tools (aet-scan, flood, rest-probe, ...).
    #[command(flatten)]
    Attack(crate::attack::cli::AttackCommand),
}

#[derive(Debug, Args)]
pub struct PeerArgs {
    /// Host name or address of the peer (the PACS).
    #[arg(long)]
    pub host: String,
    /// DICOM port of the peer.
    #[arg(long, default_value_t = 4242)]
    pub port: u16,
    /// Our AE title (calling AE).
    #[arg(long, default_value = "MODALITY")]
    pub calling: String,
    /// The peer's AE title (called AE).
    #[arg(long, default_value = "ORTHANC")]
    pub called: String,
    /// Timeout for the connection and for each read or write, in seconds.
    #[arg(long, default_value_t = 10)]
    pub timeout_secs: u64,
    /// User identity negotiation: the username sent in the A-ASSOCIATE-RQ.
    #[arg(long, value_name = "NAME")]
    pub username: Option<String>,
    /// User identity negotiation: the password sent with --username (in clear inside the
    /// A-ASSOCIATE-RQ unless --tls).
    #[arg(long, value_name = "PASSWORD", requires = "username")]
    pub password: Option<String>,
    #[command(flatten)]
    pub tls: TlsArgs,
}

#[derive(Debug, Args)]
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

impl TlsArgs {
    fn transport(&self) -> Result<Transport, AgentError> {
        if !self.tls {
            if self.ca.is_some() || self.cert.is_some() || self.key.is_some() {
                return Err(AgentError::other(
                    "--ca, --cert and --key are TLS options: add --tls",
                ));
            }
            return Ok(Transport::Plain);
        }
        let Some(ca) = &self.ca else {
            return Err(AgentError::other(
                "--tls needs --ca FILE (the CA that signed the PACS certificate)",
            ));
        };
        let client = TlsClient::load(&TlsFiles {
            ca: ca.clone(),
            cert: self.cert.clone(),
            key: self.key.clone(),
            server_name: self.server_name.clone(),
            version: self.tls_version,
        })?;
        Ok(Transport::Tls(Arc::new(client)))
    }
}

impl PeerArgs {
    fn to_peer(&self) -> Result<Peer, AgentError> {
        for (what, ae) in [("--calling", &self.calling), ("--called", &self.called)] {
            if ae.trim().is_empty() || ae.len() > 16 || !ae.is_ascii() {
                return Err(AgentError::other(format!(
                    "{what} '{ae}' is not a valid AE title: 1 to 16 ASCII characters"
                )));
            }
        }
        Ok(Peer {
            host: self.host.clone(),
            port: self.port,
            calling: self.calling.clone(),
            called: self.called.clone(),
            timeout: Duration::from_secs(self.timeout_secs.max(1)),
            transport: self.tls.transport()?,
            user: match &self.username {
                Some(u) if u.is_empty() || u.len() > 65535 => {
                    return Err(AgentError::other("--username must be 1 to 65535 bytes"));
                }
                Some(u) => Some(client::UserId {
                    username: u.clone(),
                    password: self.password.clone(),
                }),
                None => None,
            },
        })
    }
}

#[derive(Debug, Args)]
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

impl StudyArgs {
    pub fn to_spec(&self) -> StudySpec {
        StudySpec {
            modality: self.modality,
            syntax: self.syntax,
            instances: self.instances,
            patient_name: self.patient.clone(),
            patient_id: self.patient_id.clone(),
            seed: self.seed,
            rows: self.rows,
            cols: self.cols,
            bits_stored: self.bits,
        }
    }
}

/// Print one JSON line on stdout and flush (the engine reads it line by line).
pub fn emit(v: &Value) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{v}");
    let _ = out.flush();
}

fn fail(mut v: Value, e: &AgentError) -> ExitCode {
    v["ok"] = json!(false);
    v["error"] = json!(e.message);
    emit(&v);
    eprintln!("lab-agent: {}", e.message);
    ExitCode::from(e.exit_code())
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("cannot start the async runtime")
}

/// Install the SIGTERM and SIGINT handlers now (call inside the runtime) and return a future
/// that resolves at the first of them. Installing before any readiness line is printed means
/// a signal sent right after readiness is never lost to the default action.
pub fn shutdown_signal() -> impl std::future::Future<Output = ()> + Send + 'static {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("cannot install the SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("cannot install the SIGINT handler");
    async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
    }
}

/// Entry point of `lab-agent`.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    run(cli.command)
}

pub fn run(cmd: Command) -> ExitCode {
    match cmd {
        Command::Idle => {
            let rt = runtime();
            let signal = {
                let _guard = rt.enter();
                shutdown_signal()
            };
            rt.block_on(signal);
            ExitCode::SUCCESS
        }
        Command::Echo { peer, wait_secs } => cmd_echo(&peer, wait_secs),
        Command::Store {
            peer,
            study,
            save_dir,
            files,
            associations,
            summary,
        } => cmd_store(
            &peer,
            &study,
            save_dir,
            &files,
            associations as usize,
            summary,
        ),
        Command::Generate { study, out } => cmd_generate(&study, &out),
        Command::Find {
            peer,
            level,
            keys,
            limit,
        } => cmd_find(&peer, level, &keys, limit),
        Command::Move {
            peer,
            level,
            keys,
            dest,
        } => cmd_retrieve(
            &peer,
            level,
            &keys,
            client::RetrieveMode::Move { destination: dest },
        ),
        Command::Get {
            peer,
            level,
            keys,
            out,
        } => cmd_retrieve(&peer, level, &keys, client::RetrieveMode::Get { out }),
        Command::Serve {
            bind,
            port,
            aet,
            any_called,
            out,
            max_associations,
            timeout_secs,
            require_user,
            require_password,
            max_dataset_mb,
        } => cmd_serve(ServeOptions {
            bind,
            port,
            aet,
            any_called,
            out,
            max_associations,
            timeout: Duration::from_secs(timeout_secs.max(1)),
            require_user: require_user.zip(require_password),
            max_dataset: (max_dataset_mb as usize) << 20,
        }),
        Command::Sniff {
            iface,
            out,
            snaplen,
            max_bytes,
        } => cmd_sniff(SniffOptions {
            iface,
            out,
            snaplen,
            max_bytes,
        }),
        Command::Attack(a) => crate::attack::cli::run(a),
    }
}

fn cmd_echo(args: &PeerArgs, wait_secs: u64) -> ExitCode {
    let start = Instant::now();
    let base = json!({"action": "echo"});
    let peer = match args.to_peer() {
        Ok(p) => p,
        Err(e) => return fail(base, &e),
    };
    let report = runtime().block_on(client::echo(&peer, Duration::from_secs(wait_secs)));
    let mut v = json!({
        "action": "echo",
        "elapsed_ms": start.elapsed().as_millis() as u64,
        "attempts": report.attempts,
    });
    if let Some(t) = &report.tls {
        v["tls"] = t.to_json();
    }
    match report.result {
        Ok(status) => {
            v["status"] = json!(status);
            v["status_name"] = json!(status_name(status));
            if status == 0 {
                v["ok"] = json!(true);
                emit(&v);
                ExitCode::SUCCESS
            } else {
                let e = AgentError::refused(format!(
                    "C-ECHO answered with status 0x{status:04X} ({})",
                    status_name(status)
                ));
                fail(v, &e)
            }
        }
        Err(e) => fail(v, &e),
    }
}

/// Peak resident memory of this process (VmHWM), in KiB; 0 where unknown.
pub fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|n| n.parse().ok()))
        })
        .unwrap_or(0)
}

fn cmd_store(
    args: &PeerArgs,
    study: &StudyArgs,
    save_dir: Option<PathBuf>,
    paths: &[PathBuf],
    associations: usize,
    summary: bool,
) -> ExitCode {
    let start = Instant::now();
    let base = json!({"action": "store"});
    let peer = match args.to_peer() {
        Ok(p) => p,
        Err(e) => return fail(base, &e),
    };
    let rt = runtime();
    // The producer fills a bounded channel: a few instances in memory, whatever the study.
    let cap = associations + 1;
    let (contexts, total, rx) = if paths.is_empty() {
        let st = match synth::Study::new(&study.to_spec()) {
            Ok(s) => s,
            Err(e) => return fail(base, &e.into()),
        };
        if let Some(dir) = &save_dir
            && let Err(e) = std::fs::create_dir_all(dir)
        {
            return fail(
                base,
                &AgentError::other(format!("cannot create {}: {e}", dir.display())),
            );
        }
        let contexts = client::store_contexts([(st.sop_class_uid(), st.transfer_syntax_uid())]);
        let total = st.len() as usize;
        (
            contexts,
            total,
            files::produce_synthetic(st, save_dir.clone(), cap),
        )
    } else {
        if save_dir.is_some() {
            return fail(
                base,
                &AgentError::other("--save-dir applies to synthetic studies, not to --files"),
            );
        }
        let list = match files::scan(paths) {
            Ok(l) => l,
            Err(e) => return fail(base, &e),
        };
        let contexts = client::store_contexts(
            list.iter()
                .map(|f| (f.sop_class_uid.as_str(), f.transfer_syntax_uid.as_str())),
        );
        let total = list.len();
        (contexts, total, files::produce_files(list, cap))
    };
    let report = rt.block_on(client::store_stream(&peer, &contexts, rx, associations));
    let elapsed = start.elapsed();
    let bytes: usize = report.results.iter().map(|r| r.bytes).sum();
    let secs = elapsed.as_secs_f64().max(1e-6);
    let mut v = json!({
        "action": "store",
        "elapsed_ms": elapsed.as_millis() as u64,
        "total": total,
        "stored": report.results.iter().filter(|r| client::status_is_ok(r.status)).count(),
        "bytes": bytes,
        "associations": report.associations,
        "instances_per_s": ((report.results.len() as f64 / secs) * 10.0).round() / 10.0,
        "mb_per_s": ((bytes as f64 / 1e6 / secs) * 10.0).round() / 10.0,
        "peak_rss_kib": peak_rss_kib(),
    });
    if !summary {
        v["instances"] = report
            .results
            .iter()
            .map(|r| {
                let mut item = json!({
                    "sop_instance_uid": r.sop_instance_uid,
                    "sop_class_uid": r.sop_class_uid,
                    "status": r.status,
                    "status_name": status_name(r.status),
                    "bytes": r.bytes,
                });
                if let Some(h) = &r.pixel_sha256 {
                    item["pixel_sha256"] = json!(h);
                }
                item
            })
            .collect();
    }
    if let Some(t) = &report.tls {
        v["tls"] = t.to_json();
    }
    if !report.warnings.is_empty() {
        for w in &report.warnings {
            eprintln!("lab-agent: warning: {w}");
        }
        v["warnings"] = json!(report.warnings);
    }
    if let Some(dir) = &save_dir {
        v["saved"] = json!(
            report
                .results
                .iter()
                .map(|r| dir
                    .join(format!("{}.dcm", r.sop_instance_uid))
                    .display()
                    .to_string())
                .collect::<Vec<_>>()
        );
    }
    let error = report.error.or_else(|| {
        (report.results.len() < total).then(|| {
            AgentError::other(format!(
                "only {} of {total} instances were sent",
                report.results.len()
            ))
        })
    });
    match error {
        None => {
            v["ok"] = json!(true);
            emit(&v);
            ExitCode::SUCCESS
        }
        Some(e) => fail(v, &e),
    }
}

fn cmd_generate(study: &StudyArgs, out: &std::path::Path) -> ExitCode {
    let start = Instant::now();
    let base = json!({"action": "generate"});
    let st = match synth::Study::new(&study.to_spec()) {
        Ok(s) => s,
        Err(e) => return fail(base, &e.into()),
    };
    if let Err(e) = std::fs::create_dir_all(out) {
        return fail(
            base,
            &AgentError::other(format!("cannot create {}: {e}", out.display())),
        );
    }
    let mut bytes = 0u64;
    for i in 0..st.len() {
        let r = st.instance(i).and_then(|inst| {
            let p = out.join(inst.file_name());
            inst.write_part10(&p)?;
            Ok(std::fs::metadata(&p).map(|m| m.len()).unwrap_or(0))
        });
        match r {
            Ok(n) => bytes += n,
            Err(e) => return fail(base, &e.into()),
        }
    }
    emit(&json!({
        "action": "generate",
        "ok": true,
        "files": st.len(),
        "bytes": bytes,
        "out": out.display().to_string(),
        "elapsed_ms": start.elapsed().as_millis() as u64,
    }));
    ExitCode::SUCCESS
}

/// Parse `KEYWORD=VALUE` (or a tag as `GGGGEEEE=VALUE`).
pub fn parse_key(s: &str) -> Result<(dicom_core::Tag, String), AgentError> {
    use dicom_core::dictionary::{DataDictionary, DataDictionaryEntry};
    let (k, v) = s.split_once('=').unwrap_or((s, ""));
    let tag = if k.len() == 8 && k.chars().all(|c| c.is_ascii_hexdigit()) {
        let g = u16::from_str_radix(&k[..4], 16).unwrap_or(0);
        let e = u16::from_str_radix(&k[4..], 16).unwrap_or(0);
        dicom_core::Tag(g, e)
    } else {
        dicom_dictionary_std::StandardDataDictionary
            .by_name(k)
            .map(|e| e.tag())
            .ok_or_else(|| {
                AgentError::other(format!(
                    "unknown attribute '{k}' in -k {s}: use a DICOM keyword such as \
                     PatientName or a tag as GGGGEEEE"
                ))
            })?
    };
    Ok((tag, v.to_string()))
}

fn cmd_find(args: &PeerArgs, level: FindLevel, keys: &[String], limit: usize) -> ExitCode {
    let start = Instant::now();
    let base = json!({"action": "find", "level": level.code()});
    let peer = match args.to_peer() {
        Ok(p) => p,
        Err(e) => return fail(base, &e),
    };
    let mut parsed = Vec::new();
    for k in keys {
        match parse_key(k) {
            Ok(p) => parsed.push(p),
            Err(e) => return fail(base, &e),
        }
    }
    let q = FindQuery {
        level,
        keys: parsed,
        limit: limit.max(1),
    };
    let report = runtime().block_on(client::find(&peer, &q));
    let mut v = json!({
        "action": "find",
        "level": level.code(),
        "elapsed_ms": start.elapsed().as_millis() as u64,
        "count": report.matches.len(),
        "matches": report.matches,
        "cancelled": report.cancelled,
    });
    if let Some(s) = report.status {
        v["status"] = json!(s);
        v["status_name"] = json!(status_name(s));
    }
    if let Some(t) = &report.tls {
        v["tls"] = t.to_json();
    }
    match report.error {
        None => {
            v["ok"] = json!(true);
            emit(&v);
            ExitCode::SUCCESS
        }
        Some(e) => fail(v, &e),
    }
}

fn cmd_retrieve(
    args: &PeerArgs,
    level: FindLevel,
    keys: &[String],
    mode: client::RetrieveMode,
) -> ExitCode {
    let start = Instant::now();
    let action = match mode {
        client::RetrieveMode::Move { .. } => "move",
        client::RetrieveMode::Get { .. } => "get",
    };
    let base = json!({"action": action, "level": level.code()});
    if let client::RetrieveMode::Move { destination } = &mode
        && (destination.trim().is_empty() || destination.len() > 16 || !destination.is_ascii())
    {
        return fail(
            base,
            &AgentError::other(format!(
                "--dest '{destination}' is not a valid AE title: 1 to 16 ASCII characters"
            )),
        );
    }
    let peer = match args.to_peer() {
        Ok(p) => p,
        Err(e) => return fail(base, &e),
    };
    let mut parsed = Vec::new();
    for k in keys {
        match parse_key(k) {
            Ok(p) => parsed.push(p),
            Err(e) => return fail(base, &e),
        }
    }
    if parsed.is_empty() {
        return fail(
            base,
            &AgentError::other(
                "a retrieve needs at least one key: -k StudyInstanceUID=... (or PatientID=..., \
                 SeriesInstanceUID=...)",
            ),
        );
    }
    let q = client::RetrieveQuery {
        level,
        keys: parsed,
        mode: mode.clone(),
    };
    let report = runtime().block_on(client::retrieve(&peer, &q));
    let mut v = json!({
        "action": action,
        "level": level.code(),
        "elapsed_ms": start.elapsed().as_millis() as u64,
        "completed": report.subops.completed,
        "failed": report.subops.failed,
        "warning": report.subops.warning,
        "remaining": report.subops.remaining,
        "pending_responses": report.pending,
    });
    match &mode {
        client::RetrieveMode::Move { destination } => v["destination"] = json!(destination),
        client::RetrieveMode::Get { out } => {
            v["out"] = json!(out.display().to_string());
            v["received"] = json!(report.received.len());
            v["instances"] = json!(report.received);
        }
    }
    if let Some(s) = report.status {
        v["status"] = json!(s);
        v["status_name"] = json!(client::retrieve_status_name(s));
    }
    if let Some(t) = &report.tls {
        v["tls"] = t.to_json();
    }
    match report.error {
        None => {
            v["ok"] = json!(true);
            emit(&v);
            ExitCode::SUCCESS
        }
        Some(e) => fail(v, &e),
    }
}

fn cmd_serve(opts: ServeOptions) -> ExitCode {
    let rt = runtime();
    let signal = {
        let _guard = rt.enter();
        shutdown_signal()
    };
    match rt.block_on(serve::run(opts, signal, emit)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            emit(&json!({"event": "error", "ok": false, "error": e.message}));
            eprintln!("lab-agent: {}", e.message);
            ExitCode::from(e.exit_code())
        }
    }
}

fn cmd_sniff(opts: SniffOptions) -> ExitCode {
    let rt = runtime();
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let signal = {
        let _guard = rt.enter();
        shutdown_signal()
    };
    rt.spawn(async move {
        signal.await;
        flag.store(true, Ordering::SeqCst);
    });
    let iface = opts.iface.clone();
    let result = rt.block_on(async move {
        tokio::task::spawn_blocking(move || {
            let max = opts.max_bytes;
            sniff::run(
                &opts,
                stop,
                || {
                    emit(&json!({"event": "capturing", "iface": iface}));
                },
                |stats| {
                    emit(&json!({
                        "event": "capture_limit",
                        "max_bytes": max,
                        "packets": stats.packets,
                        "bytes": stats.bytes,
                    }));
                },
            )
        })
        .await
    });
    let result = match result {
        Ok(r) => r,
        Err(e) => Err(anyhow::anyhow!("the capture thread crashed: {e}")),
    };
    match result {
        Ok(stats) => {
            emit(&json!({
                "event": "stopped",
                "packets": stats.packets,
                "bytes": stats.bytes,
                "capture_limit_hit": stats.limit_hit,
            }));
            ExitCode::SUCCESS
        }
        Err(e) => {
            let msg = format!("{e:#}");
            emit(&json!({"event": "error", "error": msg}));
            eprintln!("lab-agent: {msg}");
            ExitCode::from(1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn keys_parse_by_keyword_or_tag() {
        let (t, v) = parse_key("PatientName=DOE*").unwrap();
        assert_eq!(t, dicom_dictionary_std::tags::PATIENT_NAME);
        assert_eq!(v, "DOE*");
        let (t, v) = parse_key("00100020").unwrap();
        assert_eq!(t, dicom_dictionary_std::tags::PATIENT_ID);
        assert_eq!(v, "");
        assert!(parse_key("Nope=1").unwrap_err().message.contains("Nope"));
    }
}
