//! The `lab-agent` command line. Each subcommand prints one JSON line on stdout (the engine
//! parses it) and, on failure, the same message in words on stderr.
//!
//! Exit codes: 0 success; 3 association rejected/aborted or DIMSE failure status; 4 peer
//! unreachable (refused, no route, unknown host, timeout); 1 any other error; 2 bad usage.

use crate::client::{self, Peer, Transport, status_name};
use crate::error::AgentError;
use crate::sniff::{self, SniffOptions};
use crate::synth::{self, Modality, StudySpec, Syntax};
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
    about = "dicom-range agent: modality simulator and sniffer, run inside lab containers",
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
    },
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
            transport: Transport::Plain,
        })
    }
}

#[derive(Debug, Args)]
pub struct StudyArgs {
    /// XA (X-ray angiography, the paper's case) or CT.
    #[arg(long, default_value = "XA")]
    pub modality: Modality,
    /// Number of instances in the series.
    #[arg(long, default_value_t = 1)]
    pub instances: u32,
    /// jpeg-baseline (encapsulated 8-bit JPEG) or explicit-le (native pixels).
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
        } => cmd_store(&peer, &study, save_dir),
        Command::Sniff {
            iface,
            out,
            snaplen,
        } => cmd_sniff(SniffOptions {
            iface,
            out,
            snaplen,
        }),
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

fn cmd_store(args: &PeerArgs, study: &StudyArgs, save_dir: Option<PathBuf>) -> ExitCode {
    let start = Instant::now();
    let base = json!({"action": "store"});
    let peer = match args.to_peer() {
        Ok(p) => p,
        Err(e) => return fail(base, &e),
    };
    let instances = match synth::generate(&study.to_spec()) {
        Ok(i) => i,
        Err(e) => return fail(base, &e.into()),
    };
    let mut saved = Vec::new();
    if let Some(dir) = &save_dir {
        match synth::save_all(&instances, dir) {
            Ok(paths) => saved = paths,
            Err(e) => return fail(base, &e.into()),
        }
    }
    let report = runtime().block_on(client::store(&peer, &instances));
    let list: Vec<Value> = report
        .results
        .iter()
        .map(|r| {
            json!({
                "sop_instance_uid": r.sop_instance_uid,
                "sop_class_uid": r.sop_class_uid,
                "status": r.status,
                "status_name": status_name(r.status),
                "bytes": r.bytes,
            })
        })
        .collect();
    let mut v = json!({
        "action": "store",
        "instances": list,
        "elapsed_ms": start.elapsed().as_millis() as u64,
    });
    if save_dir.is_some() {
        v["saved"] = json!(
            saved
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
        );
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
            sniff::run(&opts, stop, || {
                emit(&json!({"event": "capturing", "iface": iface}));
            })
        })
        .await
    });
    let result = match result {
        Ok(r) => r,
        Err(e) => Err(anyhow::anyhow!("the capture thread crashed: {e}")),
    };
    match result {
        Ok(stats) => {
            emit(&json!({"event": "stopped", "packets": stats.packets, "bytes": stats.bytes}));
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
