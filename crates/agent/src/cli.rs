//! The `lab-agent` command line: parse it (the parser is [`protocol::Cli`]) and run the
//! modality's, the sniffer's and the storage SCP's subcommands. Each prints one JSON line on
//! stdout (a [`protocol::result`] type, which the engine reads) and, on failure, the same
//! message in words on stderr.
//!
//! Exit codes: 0 success; 3 association rejected/aborted or DIMSE failure status; 4 peer
//! unreachable (refused, no route, unknown host, timeout); 1 any other error; 2 bad usage.

use crate::client::{self, FindQuery, Peer, Transport, status_name};
use crate::error::AgentError;
use crate::files;
use crate::process::{emit, emit_value, runtime, shutdown_signal};
use crate::serve::{self, ServeOptions};
use crate::sniff::{self, SniffOptions};
use crate::synth::{self, StudySpec};
use crate::tls::{TlsClient, TlsFiles};
use clap::Parser;
use protocol::command::{PeerArgs, ServeArgs, SniffArgs, StudyArgs, TlsArgs};
use protocol::result::{self as out, Failure, tags};
use protocol::{Cli, Command, FindLevel};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// The transport the TLS options ask for (certificates loaded here).
fn transport(tls: &TlsArgs) -> Result<Transport, AgentError> {
    if !tls.tls {
        if tls.ca.is_some() || tls.cert.is_some() || tls.key.is_some() {
            return Err(AgentError::other(
                "--ca, --cert and --key are TLS options: add --tls",
            ));
        }
        return Ok(Transport::Plain);
    }
    let Some(ca) = &tls.ca else {
        return Err(AgentError::other(
            "--tls needs --ca FILE (the CA that signed the PACS certificate)",
        ));
    };
    let client = TlsClient::load(&TlsFiles {
        ca: ca.clone(),
        cert: tls.cert.clone(),
        key: tls.key.clone(),
        server_name: tls.server_name.clone(),
        version: tls.tls_version.into(),
    })?;
    Ok(Transport::Tls(Arc::new(client)))
}

/// The client's peer, AE titles and user identity checked.
fn to_peer(args: &PeerArgs) -> Result<Peer, AgentError> {
    for (what, ae) in [("--calling", &args.calling), ("--called", &args.called)] {
        if ae.trim().is_empty() || ae.len() > 16 || !ae.is_ascii() {
            return Err(AgentError::other(format!(
                "{what} '{ae}' is not a valid AE title: 1 to 16 ASCII characters"
            )));
        }
    }
    Ok(Peer {
        host: args.host.clone(),
        port: args.port,
        calling: args.calling.clone(),
        called: args.called.clone(),
        timeout: Duration::from_secs(args.timeout_secs.max(1)),
        transport: transport(&args.tls)?,
        user: match &args.username {
            Some(u) if u.is_empty() || u.len() > 65535 => {
                return Err(AgentError::other("--username must be 1 to 65535 bytes"));
            }
            Some(u) => Some(client::UserId {
                username: u.clone(),
                password: args.password.clone(),
            }),
            None => None,
        },
    })
}

/// The synthetic study the options describe.
pub fn to_spec(study: &StudyArgs) -> StudySpec {
    StudySpec {
        modality: study.modality.into(),
        syntax: study.syntax.into(),
        instances: study.instances,
        patient_name: study.patient.clone(),
        patient_id: study.patient_id.clone(),
        seed: study.seed,
        rows: study.rows,
        cols: study.cols,
        bits_stored: study.bits,
    }
}

/// Print a command's failure (its line, then the message on stderr) and exit.
fn fail<T: serde::Serialize>(line: &T, e: &AgentError) -> ExitCode {
    emit(line);
    eprintln!("lab-agent: {}", e.message);
    ExitCode::from(e.exit_code())
}

/// A failure before the command could start: the action, `ok: false` and the error.
fn fail_early(action: &str, level: Option<FindLevel>, e: &AgentError) -> ExitCode {
    let line = Failure {
        action: action.to_string(),
        error: e.message.clone(),
        level: level.map(|l| client_level(l).code().to_string()),
        ok: false,
    };
    fail(&line, e)
}

fn client_level(l: FindLevel) -> client::FindLevel {
    l.into()
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
        Command::Store { peer, study, opts } => cmd_store(
            &peer,
            &study,
            opts.save_dir,
            &opts.files,
            opts.associations as usize,
            opts.summary,
        ),
        Command::Generate { study, out } => cmd_generate(&study, &out),
        Command::Find { peer, query } => cmd_find(&peer, query.level, &query.keys, query.limit),
        Command::Move { peer, query } => cmd_retrieve(
            &peer,
            query.level,
            &query.keys,
            client::RetrieveMode::Move {
                destination: query.dest,
            },
        ),
        Command::Get { peer, query } => cmd_retrieve(
            &peer,
            query.level,
            &query.keys,
            client::RetrieveMode::Get { out: query.out },
        ),
        Command::Serve(ServeArgs {
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
        }) => cmd_serve(ServeOptions {
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
        Command::Sniff(SniffArgs {
            iface,
            out,
            snaplen,
            max_bytes,
        }) => cmd_sniff(SniffOptions {
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
    let peer = match to_peer(args) {
        Ok(p) => p,
        Err(e) => return fail_early(tags::Echo::TEXT, None, &e),
    };
    let report = runtime().block_on(client::echo(&peer, Duration::from_secs(wait_secs)));
    let mut line = out::EchoResult {
        action: tags::Echo,
        attempts: report.attempts,
        elapsed_ms: start.elapsed().as_millis() as u64,
        error: None,
        ok: false,
        status: None,
        status_name: None,
        tls: report.tls.as_ref().map(|t| t.to_result()),
    };
    let error = match report.result {
        Ok(status) => {
            line.status = Some(status);
            line.status_name = Some(status_name(status).to_string());
            (status != 0).then(|| {
                AgentError::refused(format!(
                    "C-ECHO answered with status 0x{status:04X} ({})",
                    status_name(status)
                ))
            })
        }
        Err(e) => Some(e),
    };
    match error {
        None => {
            line.ok = true;
            emit(&line);
            ExitCode::SUCCESS
        }
        Some(e) => {
            line.error = Some(e.message.clone());
            fail(&line, &e)
        }
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
    let early = |e: &AgentError| fail_early(tags::Store::TEXT, None, e);
    let peer = match to_peer(args) {
        Ok(p) => p,
        Err(e) => return early(&e),
    };
    let rt = runtime();
    // The producer fills a bounded channel: a few instances in memory, whatever the study.
    let cap = associations + 1;
    let (contexts, total, rx) = if paths.is_empty() {
        let st = match synth::Study::new(&to_spec(study)) {
            Ok(s) => s,
            Err(e) => return early(&e.into()),
        };
        if let Some(dir) = &save_dir
            && let Err(e) = std::fs::create_dir_all(dir)
        {
            return early(&AgentError::other(format!(
                "cannot create {}: {e}",
                dir.display()
            )));
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
            return early(&AgentError::other(
                "--save-dir applies to synthetic studies, not to --files",
            ));
        }
        let list = match files::scan(paths) {
            Ok(l) => l,
            Err(e) => return early(&e),
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
    for w in &report.warnings {
        eprintln!("lab-agent: warning: {w}");
    }
    let mut line = out::StoreResult {
        action: tags::Store,
        associations: report.associations as u64,
        bytes: bytes as u64,
        elapsed_ms: elapsed.as_millis() as u64,
        error: None,
        instances: (!summary).then(|| {
            report
                .results
                .iter()
                .map(|r| out::StoredInstance {
                    bytes: r.bytes as u64,
                    pixel_sha256: r.pixel_sha256.clone(),
                    sop_class_uid: r.sop_class_uid.clone(),
                    sop_instance_uid: r.sop_instance_uid.clone(),
                    status: r.status,
                    status_name: status_name(r.status).to_string(),
                })
                .collect()
        }),
        instances_per_s: ((report.results.len() as f64 / secs) * 10.0).round() / 10.0,
        mb_per_s: ((bytes as f64 / 1e6 / secs) * 10.0).round() / 10.0,
        ok: false,
        peak_rss_kib: peak_rss_kib(),
        saved: save_dir.as_ref().map(|dir| {
            report
                .results
                .iter()
                .map(|r| {
                    dir.join(format!("{}.dcm", r.sop_instance_uid))
                        .display()
                        .to_string()
                })
                .collect()
        }),
        stored: report
            .results
            .iter()
            .filter(|r| client::status_is_ok(r.status))
            .count() as u64,
        tls: report.tls.as_ref().map(|t| t.to_result()),
        total: total as u64,
        warnings: (!report.warnings.is_empty()).then(|| report.warnings.clone()),
    };
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
            line.ok = true;
            emit(&line);
            ExitCode::SUCCESS
        }
        Some(e) => {
            line.error = Some(e.message.clone());
            fail(&line, &e)
        }
    }
}

fn cmd_generate(study: &StudyArgs, out: &std::path::Path) -> ExitCode {
    let start = Instant::now();
    let early = |e: &AgentError| fail_early(tags::Generate::TEXT, None, e);
    let st = match synth::Study::new(&to_spec(study)) {
        Ok(s) => s,
        Err(e) => return early(&e.into()),
    };
    if let Err(e) = std::fs::create_dir_all(out) {
        return early(&AgentError::other(format!(
            "cannot create {}: {e}",
            out.display()
        )));
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
            Err(e) => return early(&e.into()),
        }
    }
    emit(&out::GenerateResult {
        action: tags::Generate,
        bytes,
        elapsed_ms: start.elapsed().as_millis() as u64,
        files: st.len() as u64,
        ok: true,
        out: out.display().to_string(),
    });
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

fn parse_keys(keys: &[String]) -> Result<Vec<(dicom_core::Tag, String)>, AgentError> {
    keys.iter().map(|k| parse_key(k)).collect()
}

fn cmd_find(args: &PeerArgs, level: FindLevel, keys: &[String], limit: usize) -> ExitCode {
    let start = Instant::now();
    let early = |e: &AgentError| fail_early(tags::Find::TEXT, Some(level), e);
    let level = client_level(level);
    let peer = match to_peer(args) {
        Ok(p) => p,
        Err(e) => return early(&e),
    };
    let parsed = match parse_keys(keys) {
        Ok(p) => p,
        Err(e) => return early(&e),
    };
    let q = FindQuery {
        level,
        keys: parsed,
        limit: limit.max(1),
    };
    let report = runtime().block_on(client::find(&peer, &q));
    let mut line = out::FindResult {
        action: tags::Find,
        cancelled: report.cancelled,
        count: report.matches.len() as u64,
        elapsed_ms: start.elapsed().as_millis() as u64,
        error: None,
        level: level.code().to_string(),
        matches: report.matches,
        ok: false,
        status: report.status,
        status_name: report.status.map(|s| status_name(s).to_string()),
        tls: report.tls.as_ref().map(|t| t.to_result()),
    };
    match report.error {
        None => {
            line.ok = true;
            emit(&line);
            ExitCode::SUCCESS
        }
        Some(e) => {
            line.error = Some(e.message.clone());
            fail(&line, &e)
        }
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
    let early = |e: &AgentError| fail_early(action, Some(level), e);
    let level = client_level(level);
    if let client::RetrieveMode::Move { destination } = &mode
        && (destination.trim().is_empty() || destination.len() > 16 || !destination.is_ascii())
    {
        return early(&AgentError::other(format!(
            "--dest '{destination}' is not a valid AE title: 1 to 16 ASCII characters"
        )));
    }
    let peer = match to_peer(args) {
        Ok(p) => p,
        Err(e) => return early(&e),
    };
    let parsed = match parse_keys(keys) {
        Ok(p) => p,
        Err(e) => return early(&e),
    };
    if parsed.is_empty() {
        return early(&AgentError::other(
            "a retrieve needs at least one key: -k StudyInstanceUID=... (or PatientID=..., \
             SeriesInstanceUID=...)",
        ));
    }
    let q = client::RetrieveQuery {
        level,
        keys: parsed,
        mode: mode.clone(),
    };
    let report = runtime().block_on(client::retrieve(&peer, &q));
    let (destination, out_dir) = match &mode {
        client::RetrieveMode::Move { destination } => (Some(destination.clone()), None),
        client::RetrieveMode::Get { out } => (None, Some(out.display().to_string())),
    };
    let get = out_dir.is_some();
    let mut line = out::RetrieveResult {
        action: action.to_string(),
        completed: report.subops.completed as u64,
        destination,
        elapsed_ms: start.elapsed().as_millis() as u64,
        error: None,
        failed: report.subops.failed as u64,
        level: level.code().to_string(),
        ok: false,
        out: out_dir,
        pending_responses: report.pending as u64,
        received: get.then_some(report.received.len() as u64),
        instances: get.then_some(report.received),
        remaining: report.subops.remaining as u64,
        status: report.status,
        status_name: report
            .status
            .map(|s| client::retrieve_status_name(s).to_string()),
        tls: report.tls.as_ref().map(|t| t.to_result()),
        warning: report.subops.warning as u64,
    };
    match report.error {
        None => {
            line.ok = true;
            emit(&line);
            ExitCode::SUCCESS
        }
        Some(e) => {
            line.error = Some(e.message.clone());
            fail(&line, &e)
        }
    }
}

fn cmd_serve(opts: ServeOptions) -> ExitCode {
    let rt = runtime();
    let signal = {
        let _guard = rt.enter();
        shutdown_signal()
    };
    match rt.block_on(serve::run(opts, signal, emit_value)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            emit(&out::ErrorEvent {
                error: e.message.clone(),
                event: tags::Error,
                ok: Some(false),
            });
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
                    emit(&out::Capturing {
                        alerts: None,
                        event: tags::Capturing,
                        iface,
                    });
                },
                |stats| {
                    emit(&out::CaptureLimit {
                        bytes: stats.bytes,
                        event: tags::CaptureLimit,
                        max_bytes: max,
                        packets: stats.packets,
                    });
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
            emit(&out::SniffStopped {
                bytes: stats.bytes,
                capture_limit_hit: stats.limit_hit,
                event: tags::Stopped,
                packets: stats.packets,
            });
            ExitCode::SUCCESS
        }
        Err(e) => {
            let msg = format!("{e:#}");
            emit(&out::ErrorEvent {
                error: msg.clone(),
                event: tags::Error,
                ok: None,
            });
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
    fn the_default_dataset_bound_is_the_protocols() {
        assert_eq!(
            (ServeArgs::DEFAULT_MAX_DATASET_MB as usize) << 20,
            crate::bounds::DEFAULT_MAX_DATASET
        );
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
