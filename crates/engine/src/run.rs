//! One run of a lab, phase by phase. Whatever happens after the first object is created,
//! the evidence gathered so far is saved and every object of the run is removed (unless
//! the user asked to keep the lab up).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use checks::{CAPTURE_FILE, Evidence, IDS_DIR, PACS_DIR};
use report::{REPORT_SCHEMA, RunReport, StepRecord, Verdict};
use runtime::{ContainerSpec, Docker, NetworkSpec, Removed};
use scenario::{Action, NodeKind, Scenario};

use crate::EngineError;
use crate::finish;
use crate::images::{self, Image};
use crate::lifecycle;
use crate::limits::{self, NodeBudget, Role};
use crate::lock::PlanLock;
use crate::orthanc;
use crate::pacs_evidence;
use crate::pki::{Identity, RunCa};
use crate::plan::{RunPlan, free_subnets, suffix_of};
use crate::progress::Progress;
use crate::save;
use crate::shutdown::Shutdown;
use crate::tools;

/// Where the sniffer writes inside its container; copied out after it stops.
pub(crate) const SNIFFER_OUT: &str = "/evidence/capture.pcapng";
/// Where the IDS appends its alerts inside its container.
pub(crate) const IDS_OUT: &str = "/evidence/alerts.jsonl";
/// Where an attacker's `sniff` daemon writes its own capture.
const ATTACKER_CAPTURE: &str = "/evidence/attacker.pcapng";
/// Where an attacker's own captures are saved in the run directory (`<node>.pcapng`).
const ATTACKER_CAPTURES_DIR: &str = "captures";
/// Where the raw output of attack tools (nmap's XML) is saved in the run directory.
const ATTACKS_DIR: &str = "attacks";
/// Where a TLS modality finds its CA, certificate and key.
const AGENT_TLS_DIR: &str = "/etc/lab-agent";
const READY_LIMIT: Duration = Duration::from_secs(90);
const STEP_LIMIT: Duration = Duration::from_secs(600);

#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Parent of the run directories (`runs/`).
    pub runs_dir: PathBuf,
    /// Leave the lab running afterwards (`lab up`, or `--keep` on failure).
    pub keep: KeepPolicy,
    pub progress: Progress,
    /// The process's signals (one handle per `lab` command, shared by a batch's runs).
    pub shutdown: Shutdown,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeepPolicy {
    Never,
    OnFailure,
    Always,
}

/// What a run left behind.
#[derive(Debug)]
pub struct RunResult {
    pub report: RunReport,
    pub run_dir: PathBuf,
    /// Whether the lab's containers are still up.
    pub kept: bool,
}

/// Runs a lab from start to teardown. `Err` only when nothing could be started (no run
/// directory); once the run exists, failures are recorded in its report (verdict error),
/// including a report that could not be saved: the lab is torn down all the same.
pub async fn run_lab(scenario: &Scenario, opts: &RunOptions) -> Result<RunResult, EngineError> {
    let started = Instant::now();
    let started_at = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    let progress = opts.progress;
    // SIGINT and SIGTERM are the caller's (`opts.shutdown`): every phase turns them into
    // exit 2 with the evidence saved, instead of the default (die, leaving the lab up).
    let signals = &opts.shutdown;
    if let Some(s) = signals.last() {
        return Err(EngineError::Setup(format!(
            "interrupted by {s} before the run began; nothing was started"
        )));
    }
    let docker = Docker::connect().await?;

    let needed = images::needed_by(scenario);
    tokio::select! {
        r = images::ensure(&docker, &needed, progress, false) => { r?; }
        s = signals.wait(1) => {
            return Err(EngineError::Setup(format!("interrupted by {s} while building images; nothing was started")));
        }
    }

    // Names and subnets are chosen under a host-wide lock, held until the run's
    // networks exist: many `lab` processes starting at once never pick the same.
    let lock = tokio::select! {
        l = PlanLock::acquire() => l?,
        s = signals.wait(1) => {
            return Err(EngineError::Setup(format!("interrupted by {s} while planning; nothing was started")));
        }
    };
    let plan = plan_unique(&docker, scenario, &opts.runs_dir).await?;
    let run_dir = opts.runs_dir.join(&plan.id);
    save::mkdir(&run_dir.join("logs"))?;
    save::write(&run_dir.join("scenario.yaml"), &scenario.resolved_text)?;
    progress.phase(&format!("run {} -> {}", plan.id, run_dir.display()));

    let mut run = Run {
        docker,
        plan,
        scenario,
        run_dir: run_dir.clone(),
        progress,
        steps: Vec::new(),
        taps_started: Vec::new(),
        identities: BTreeMap::new(),
        grader_password: format!("{:032x}", rand::random::<u128>()),
        plan_lock: Some(lock),
        phase: "planning".into(),
    };
    let outcome = tokio::select! {
        r = run.up_and_exercise() => r,
        s = signals.wait(1) => Err(EngineError::Interrupted(format!("{s} while {}", run.phase))),
    };
    run.plan_lock = None;
    let mut error = outcome.err().map(|e| e.to_string());
    // A node that met its memory or pids limit is the cause, whatever else failed after
    // it: named first. A node still at its pids limit is stopped before the evidence is
    // saved (it would only go on spending the host's CPU).
    let met = run.limits_met(true).await;
    if !met.is_empty() {
        let mut met = met;
        for (node, words) in &mut met {
            if words.contains("pids limit") {
                let container = run.plan.container(node);
                if run.docker.is_running(&container).await.unwrap_or(false)
                    && run.docker.signal(&container, "SIGKILL").await.is_ok()
                {
                    words.push_str(" (the engine stopped it)");
                }
            }
        }
        let words: Vec<&str> = met.iter().map(|(_, w)| w.as_str()).collect();
        let words = words.join("; ");
        error = Some(match error {
            Some(e) if e.contains(&words) => e,
            Some(e) => format!("{words}; then: {e}"),
            None => words,
        });
    }

    // Evidence first, whatever happened. A signal now lets the collection finish (it is
    // bounded); a second one stops it, and the lab is still torn down.
    progress.phase("saving evidence");
    let collected = tokio::select! {
        r = run.collect() => r,
        s = signals.wait(2) => Err(EngineError::Interrupted(format!("a second signal, {s}, while saving evidence"))),
    };
    if let Err(e) = collected {
        // A node killed as the steps ended can still look alive to Docker when they are
        // checked; a collection that then fails asks again, so the report names the cause.
        if error.is_none()
            && let Err(dead) = run.nodes_still_up(true).await
        {
            error = Some(dead.to_string());
        }
        let msg = format!("saving evidence: {e}");
        error = Some(error.map(|x| format!("{x}; {msg}")).unwrap_or(msg));
    }
    if error.is_none()
        && let Some(s) = signals.last()
    {
        error = Some(EngineError::Interrupted(format!("{s} while saving evidence")).to_string());
    }

    let mut report = grade_run(
        scenario,
        &run.run_dir,
        run.plan.id.clone(),
        started_at,
        std::mem::take(&mut run.steps),
    );
    report.duration_s = started.elapsed().as_secs_f64();
    if let Some(e) = error {
        report.error = Some(e);
        report.verdict = Verdict::Error;
    }
    let (report, kept) = finish::save_and_end(&run, report, opts).await;
    Ok(RunResult {
        report,
        run_dir,
        kept,
    })
}

/// A plan whose id and bridges are not used on the daemon nor by a run directory.
async fn plan_unique(
    docker: &Docker,
    scenario: &Scenario,
    runs_dir: &Path,
) -> Result<RunPlan, EngineError> {
    let mut taken: Vec<String> = docker
        .used_bridges()
        .await?
        .iter()
        .filter_map(|b| suffix_of(b))
        .collect();
    for (_, labels) in docker.labelled_networks(runtime::LABEL_RUN, None).await? {
        taken.extend(labels.get(runtime::LABEL_RUN).and_then(|r| suffix_of(r)));
    }
    for c in docker.containers(runtime::LABEL_RUN, None).await? {
        taken.extend(c.labels.get(runtime::LABEL_RUN).and_then(|r| suffix_of(r)));
    }
    loop {
        let plan = RunPlan::avoiding(scenario, &taken, runs_dir);
        if !runs_dir.join(&plan.id).exists() {
            return Ok(plan);
        }
        taken.push(plan.suffix);
    }
}

/// Grades a run directory again from its saved evidence (`lab report`).
pub fn regrade(run_dir: &Path) -> Result<RunReport, EngineError> {
    let scenario_path = run_dir.join("scenario.yaml");
    let scenario = scenario::load(&scenario_path, &BTreeMap::new())?;
    let previous: Option<RunReport> = std::fs::read(run_dir.join("report.json"))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok());
    let (run_id, started_at, steps, duration, error) = match previous {
        Some(p) => (p.run_id, p.started_at, p.steps, p.duration_s, p.error),
        None => (
            run_dir
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned(),
            String::new(),
            Vec::new(),
            0.0,
            None,
        ),
    };
    let mut report = grade_run(&scenario, run_dir, run_id, started_at, steps);
    report.duration_s = duration;
    if let Some(e) = error {
        report.error = Some(e);
        report.verdict = Verdict::Error;
    }
    write_report(run_dir, &report)?;
    Ok(report)
}

/// Removes every container and network of run `id` (or of every run), by label alone.
pub async fn teardown(docker: &Docker, id: Option<&str>) -> Result<Removed, EngineError> {
    Ok(docker.remove_runs(id).await?)
}

pub(crate) struct Run<'a> {
    pub(crate) docker: Docker,
    pub(crate) plan: RunPlan,
    scenario: &'a Scenario,
    pub(crate) run_dir: PathBuf,
    progress: Progress,
    steps: Vec<StepRecord>,
    /// Sniffer and IDS nodes started so far (their evidence is copied out at the end).
    pub(crate) taps_started: Vec<String>,
    /// TLS identities from the run's CA, by node.
    identities: BTreeMap<String, Identity>,
    /// The engine's own REST account on every PACS of the run (for state snapshots).
    grader_password: String,
    /// Held from planning until the run's networks exist.
    plan_lock: Option<PlanLock>,
    /// What the run is doing, in words ("waiting for the PACS"), for interruptions.
    pub(crate) phase: String,
}

impl Run<'_> {
    async fn up_and_exercise(&mut self) -> Result<(), EngineError> {
        self.progress.phase(&format!(
            "starting {} ({} nodes)",
            self.scenario.metadata.name,
            self.scenario.nodes.len()
        ));
        self.make_identities()?;
        self.phase = "creating the networks".into();
        let bridges = self.create_networks().await?;
        // Other runs may plan now: our names and subnets exist.
        self.plan_lock = None;
        self.phase = "starting the nodes".into();
        for node in &self.scenario.nodes {
            match &node.kind {
                NodeKind::Orthanc {
                    aet,
                    config,
                    version,
                    networks,
                    tls,
                    lua,
                    verbose,
                } => {
                    let mut files = Vec::new();
                    let tls_settings = match (tls, self.identities.get(&node.name)) {
                        (Some(t), Some(id)) => {
                            for (name, pem) in [
                                ("server.pem", &id.cert_pem),
                                ("server.key", &id.key_pem),
                                ("ca.pem", &id.ca_pem),
                            ] {
                                files.push((
                                    orthanc::CONFIG_DIR.to_string(),
                                    name.to_string(),
                                    pem.clone().into_bytes(),
                                ));
                            }
                            Some(t.require_client_certificate)
                        }
                        _ => None,
                    };
                    let mut cfg = orthanc::config(
                        &node.name,
                        aet,
                        tls_settings,
                        config,
                        &self.grader_password,
                    );
                    if let Some(script) = lua {
                        files.push((
                            orthanc::CONFIG_DIR.into(),
                            "lab.lua".into(),
                            script.clone().into_bytes(),
                        ));
                        cfg["LuaScripts"] =
                            serde_json::json!([format!("{}/lab.lua", orthanc::CONFIG_DIR)]);
                    }
                    files.push((
                        pacs_evidence::GRADER_NETRC_DIR.into(),
                        pacs_evidence::GRADER_NETRC_FILE.into(),
                        pacs_evidence::grader_netrc(&self.grader_password),
                    ));
                    files.push((
                        orthanc::CONFIG_DIR.into(),
                        "orthanc.json".into(),
                        serde_json::to_vec_pretty(&cfg).expect("json"),
                    ));
                    let spec = ContainerSpec {
                        name: self.plan.container(&node.name),
                        image: Image::Orthanc {
                            version: version.clone(),
                        }
                        .tag(),
                        cmd: orthanc::command(*verbose),
                        // DCMTK inside Orthanc sets TCP_NODELAY on its sockets when this is set:
                        // only timing changes (no 40 ms Nagle/delayed-ACK stalls), not the wire.
                        env: vec!["TCP_NODELAY=1".into()],
                        labels: self.plan.labels(&node.name),
                        networks: self.attach(&node.name, networks),
                        files,
                        tmpfs: vec![(orthanc::STORAGE_DIR.into(), orthanc::STORAGE_TMPFS.into())],
                        cap_add: Role::Pacs.caps(),
                        limits: Some(NodeBudget::of(node).limits()),
                        ..Default::default()
                    };
                    self.docker.start_container(&spec).await?;
                }
                NodeKind::Modality { networks, .. } => {
                    let files = match self.identities.get(&node.name) {
                        Some(id) => [
                            ("client.pem", &id.cert_pem),
                            ("client.key", &id.key_pem),
                            ("ca.pem", &id.ca_pem),
                        ]
                        .into_iter()
                        .map(|(name, pem)| {
                            (
                                AGENT_TLS_DIR.to_string(),
                                name.to_string(),
                                pem.clone().into_bytes(),
                            )
                        })
                        .collect(),
                        None => Vec::new(),
                    };
                    let image = images::of_node(&node.kind);
                    let spec = ContainerSpec {
                        name: self.plan.container(&node.name),
                        image: image.tag(),
                        cmd: vec!["lab-agent".into(), "idle".into()],
                        labels: self.plan.labels(&node.name),
                        networks: self.attach(&node.name, networks),
                        files,
                        cap_add: Role::Modality.caps(),
                        limits: Some(NodeBudget::of(node).limits()),
                        ..Default::default()
                    };
                    self.docker.start_container(&spec).await?;
                }
                NodeKind::Attacker {
                    networks, daemon, ..
                } => {
                    let cmd = match daemon {
                        Some(d) => daemon_cmd(self.scenario, node, d),
                        None => vec!["lab-agent".into(), "idle".into()],
                    };
                    let image = images::of_node(&node.kind);
                    let mine = |verb: &str| {
                        self.scenario
                            .steps
                            .iter()
                            .filter(|s| s.node == node.name && s.action.verb() == verb)
                            .collect::<Vec<_>>()
                    };
                    // An ARP spoofer forwards what it attracts (on-path, not a black hole), in
                    // its own network namespace only.
                    let sysctls = if mine("arp-spoof").is_empty() {
                        Default::default()
                    } else {
                        [
                            ("net.ipv4.ip_forward", "1"),
                            ("net.ipv4.conf.all.send_redirects", "0"),
                        ]
                        .into_iter()
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect()
                    };
                    // nmap's dicom-brute reads its guesses from a file (passdb).
                    let files = mine("dicom-brute")
                        .into_iter()
                        .map(|s| {
                            let list = match &s.action {
                                Action::Agent { with, .. } => with
                                    .get("called")
                                    .and_then(|v| v.as_array())
                                    .map(|a| {
                                        a.iter()
                                            .filter_map(|v| v.as_str())
                                            .map(|v| format!("{v}\n"))
                                            .collect::<String>()
                                    })
                                    .unwrap_or_default(),
                                _ => String::new(),
                            };
                            (
                                AGENT_TLS_DIR.to_string(),
                                format!("{}.aets", s.id),
                                list.into_bytes(),
                            )
                        })
                        .collect();
                    let spec = ContainerSpec {
                        name: self.plan.container(&node.name),
                        image: image.tag(),
                        cmd,
                        labels: self.plan.labels(&node.name),
                        networks: self.attach(&node.name, networks),
                        // Raw sockets for ARP and its own capture, in its own namespace only.
                        cap_add: Role::Attacker.caps(),
                        limits: Some(NodeBudget::of(node).limits()),
                        sysctls,
                        files,
                        ..Default::default()
                    };
                    self.docker.start_container(&spec).await?;
                }
                // Both tap a bridge from the host side; started once the lab is ready.
                NodeKind::Sniffer { .. } | NodeKind::Ids { .. } => {}
            }
        }

        // Isolation (gateway routes removed) goes on while the PACS starts: the probes
        // stay on-link and do not need a gateway.
        self.phase = "waiting for the PACS".into();
        self.progress
            .phase("waiting for the PACS to answer REST and C-ECHO");
        let (isolated, ready) = tokio::join!(self.isolate_nodes(), self.wait_ready());
        isolated?;
        ready?;
        self.phase = "starting the taps".into();

        for node in &self.scenario.nodes {
            if let NodeKind::Attacker {
                daemon: Some(d), ..
            } = &node.kind
            {
                let marker = if d.action == "sniff" {
                    "\"capturing\""
                } else {
                    "\"listening\""
                };
                self.wait_for_line(&node.name, &[marker], &format!("running its {}", d.action))
                    .await?;
            }
        }
        for node in &self.scenario.nodes {
            match &node.kind {
                NodeKind::Sniffer { tap } => {
                    self.start_tap(&node.name, &bridges[tap], false).await?
                }
                NodeKind::Ids { tap } => self.start_tap(&node.name, &bridges[tap], true).await?,
                _ => {}
            }
        }

        for step in &self.scenario.steps {
            self.phase = format!("running step {} ({})", step.index, step.id);
            let record = self.run_step(step).await?;
            let unexpected = match step.expect {
                scenario::StepExpect::Success => !record.ok,
                scenario::StepExpect::Failure => record.ok,
                scenario::StepExpect::Any => false,
            };
            let said = record
                .error
                .clone()
                .unwrap_or_else(|| "it succeeded".into());
            // The OOM flag after every step; the process counts (up to a second) after a
            // step that failed, and once the steps are over (`run_lab`).
            let failed = !record.ok;
            self.steps.push(record);
            let met = self.limits_met(failed).await;
            if !met.is_empty() {
                let words: Vec<String> = met.into_iter().map(|(_, w)| w).collect();
                return Err(EngineError::Setup(words.join("; ")));
            }
            if unexpected {
                // Later steps may depend on this one; the checks say what it cost.
                self.progress.phase(&format!(
                    "step {} ({}) did not end as expected ({said}); grading what happened",
                    step.index, step.id
                ));
                break;
            }
        }
        self.phase = "checking the nodes".into();
        self.nodes_still_up(false).await
    }

    /// Every node is still up once the steps are over: a PACS that died mid-transfer, a
    /// sniffer that stopped (the capture then misses part of the exchange) make the run
    /// an error, named in words, rather than a verdict drawn from partial evidence.
    /// `collected`: asked after the collection, which stops the taps and attacker daemons
    /// itself (SIGTERM: they exit 0, or 143); those ends are not deaths.
    async fn nodes_still_up(&self, collected: bool) -> Result<(), EngineError> {
        let mut dead = Vec::new();
        for node in &self.scenario.nodes {
            let tap = matches!(node.kind, NodeKind::Sniffer { .. } | NodeKind::Ids { .. });
            if tap && !self.taps_started.contains(&node.name) {
                continue;
            }
            let stopped_by_collect = collected
                && (tap
                    || matches!(
                        node.kind,
                        NodeKind::Attacker {
                            daemon: Some(_),
                            ..
                        }
                    ));
            let container = self.plan.container(&node.name);
            let state = self.docker.describe_state(&container).await?;
            let stopped_by_us = stopped_by_collect
                && (state == "exited with code 0" || state.starts_with("exited with code 143"));
            if state != "running" && !stopped_by_us {
                let what = match node.kind {
                    NodeKind::Orthanc { .. } => "the PACS",
                    NodeKind::Sniffer { .. } => "the sniffer; the capture stops where it died",
                    NodeKind::Ids { .. } => "the IDS; alerts stop where it died",
                    _ => "a lab node",
                };
                dead.push(format!(
                    "node `{}` ({what}) {state} during the run",
                    node.name
                ));
            }
        }
        if dead.is_empty() {
            Ok(())
        } else {
            Err(EngineError::Setup(dead.join("; ")))
        }
    }

    /// The nodes that met their memory or pids limit, each with words naming the node and
    /// the limit (`limits::hits`); `count_processes` also reads the running nodes' process
    /// counts. All nodes at once; a node not created yet, or a tap not started, is skipped.
    async fn limits_met(&self, count_processes: bool) -> Vec<(String, String)> {
        let nodes = self.scenario.nodes.iter().filter(|node| {
            let tap = matches!(node.kind, NodeKind::Sniffer { .. } | NodeKind::Ids { .. });
            !tap || self.taps_started.contains(&node.name)
        });
        let looks = nodes.map(|node| async move {
            let container = self.plan.container(&node.name);
            let Ok(state) = self.docker.limit_state(&container, count_processes).await else {
                return Vec::new();
            };
            let tail = if state.running {
                String::new()
            } else {
                let logs = self.docker.logs(&container).await.unwrap_or_default();
                let start = logs.len().saturating_sub(4096);
                let start = (start..logs.len())
                    .find(|&i| logs.is_char_boundary(i))
                    .unwrap_or(logs.len());
                logs[start..].to_string()
            };
            limits::hits(&node.name, NodeBudget::of(node), &state, &tail)
                .into_iter()
                .map(|words| (node.name.clone(), words))
                .collect::<Vec<_>>()
        });
        futures_util::future::join_all(looks)
            .await
            .into_iter()
            .flatten()
            .collect()
    }

    /// Every node on internal networks only loses its gateway routes: no way out, seen
    /// in its own routing table. Run for all nodes at once.
    async fn isolate_nodes(&self) -> Result<(), EngineError> {
        let internal: Vec<&str> = self
            .scenario
            .networks
            .iter()
            .filter(|n| n.internal)
            .map(|n| n.name.as_str())
            .collect();
        let nodes: Vec<&str> = self
            .scenario
            .nodes
            .iter()
            .filter(|n| !matches!(n.kind, NodeKind::Sniffer { .. } | NodeKind::Ids { .. }))
            .filter(|n| {
                let nets = n.networks();
                !nets.is_empty() && nets.iter().all(|x| internal.contains(&x.as_str()))
            })
            .map(|n| n.name.as_str())
            .collect();
        let results = futures_util::future::join_all(
            nodes
                .iter()
                .map(|n| lifecycle::isolate(&self.docker, &self.plan, n)),
        )
        .await;
        results.into_iter().collect()
    }

    /// A CA for the run and a certificate for every node that speaks TLS, saved as
    /// evidence in `pki/`.
    fn make_identities(&mut self) -> Result<(), EngineError> {
        let tls_nodes: Vec<(&str, bool)> = self
            .scenario
            .nodes
            .iter()
            .filter_map(|n| match &n.kind {
                NodeKind::Orthanc { tls: Some(_), .. } => Some((n.name.as_str(), true)),
                NodeKind::Modality { tls: Some(_), .. } => Some((n.name.as_str(), false)),
                _ => None,
            })
            .collect();
        if tls_nodes.is_empty() {
            return Ok(());
        }
        let ca = RunCa::new(&self.plan.id)?;
        let dir = self.run_dir.join("pki");
        save::mkdir(&dir)?;
        save::write(&dir.join("ca.pem"), ca.ca_pem())?;
        for (name, server) in tls_nodes {
            let id = ca.issue(name, server)?;
            save::write(&dir.join(format!("{name}.pem")), &id.cert_pem)?;
            save::write(&dir.join(format!("{name}.key")), &id.key_pem)?;
            self.identities.insert(name.to_string(), id);
        }
        Ok(())
    }

    /// The agent's peer arguments from `modality` to `pacs`, TLS options included.
    fn peer_args(&self, action: &str, modality: &str, pacs: &str, host: &str) -> Vec<String> {
        let node = |n: &str| self.scenario.nodes.iter().find(|x| x.name == n);
        let calling = node(modality).and_then(|n| n.aet()).unwrap_or("MODALITY");
        let called = node(pacs).and_then(|n| n.aet()).unwrap_or("ORTHANC");
        let mut args = vec![
            action.to_string(),
            "--host".into(),
            host.into(),
            "--port".into(),
            orthanc::DICOM_PORT.to_string(),
            "--calling".into(),
            calling.into(),
            "--called".into(),
            called.into(),
        ];
        if let Some(NodeKind::Modality { tls: Some(tls), .. }) = node(modality).map(|n| &n.kind) {
            args.extend([
                "--tls".into(),
                "--ca".into(),
                format!("{AGENT_TLS_DIR}/ca.pem"),
                "--server-name".into(),
                pacs.into(),
            ]);
            if tls.client_certificate {
                args.extend([
                    "--cert".into(),
                    format!("{AGENT_TLS_DIR}/client.pem"),
                    "--key".into(),
                    format!("{AGENT_TLS_DIR}/client.key"),
                ]);
            }
        }
        args
    }

    fn attach(&self, node: &str, networks: &[String]) -> Vec<(String, Vec<String>)> {
        networks
            .iter()
            .map(|n| (self.plan.network(n), vec![node.to_string()]))
            .collect()
    }

    /// Creates the run's networks on free subnets of the pool; returns each lab network's
    /// bridge interface name.
    async fn create_networks(&self) -> Result<BTreeMap<String, String>, EngineError> {
        let mut bridges = BTreeMap::new();
        for (index, net) in self.scenario.networks.iter().enumerate() {
            let bridge = self.plan.bridge(index);
            let mut last_err = None;
            // Another run may take the same subnet between our look and our create: retry.
            // Subnets refused as overlapping: a network another run is creating or removing
            // can hold its pool before (or after) it shows in the list.
            let mut refused: Vec<String> = Vec::new();
            for _attempt in 0..16 {
                let mut used = self.docker.used_subnets().await?;
                used.extend(refused.iter().cloned());
                let Some(subnet) = free_subnets(&used).next() else {
                    return Err(EngineError::Setup(
                        "every /24 of the lab pool 10.213.0.0/16 is in use\n  fix: `lab down --all` or `lab gc`".into(),
                    ));
                };
                let spec = NetworkSpec {
                    name: self.plan.network(&net.name),
                    bridge: bridge.clone(),
                    subnet: subnet.clone(),
                    internal: net.internal,
                    labels: self.plan.labels(&net.name),
                };
                match self.docker.create_network(&spec).await {
                    Ok(()) => {
                        last_err = None;
                        break;
                    }
                    Err(e) if e.to_string().contains("overlap") => {
                        last_err = Some(e);
                        refused.push(subnet);
                        tokio::time::sleep(Duration::from_millis(20 + rand::random::<u64>() % 80))
                            .await;
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            if let Some(e) = last_err {
                return Err(e.into());
            }
            bridges.insert(net.name.clone(), bridge);
        }
        Ok(bridges)
    }

    async fn wait_ready(&self) -> Result<(), EngineError> {
        for node in &self.scenario.nodes {
            let NodeKind::Orthanc { .. } = &node.kind else {
                continue;
            };
            let container = self.plan.container(&node.name);
            let deadline = Instant::now() + READY_LIMIT;
            let probe = pacs_evidence::curl("/system", 2);
            loop {
                if !self.docker.is_running(&container).await? {
                    let logs = self.docker.logs(&container).await.unwrap_or_default();
                    let tail: Vec<&str> = logs
                        .lines()
                        .rev()
                        .take(15)
                        .collect::<Vec<_>>()
                        .into_iter()
                        .rev()
                        .collect();
                    return Err(EngineError::Setup(format!(
                        "node `{}` (Orthanc) stopped during start-up; its last log lines:\n{}",
                        node.name,
                        tail.join("\n")
                    )));
                }
                let out = self
                    .docker
                    .exec(&container, &probe, Duration::from_secs(10))
                    .await?;
                if out.exit_code == 0 {
                    break;
                }
                if Instant::now() > deadline {
                    return Err(EngineError::Setup(format!(
                        "node `{}`: Orthanc's REST API did not answer within {} s",
                        node.name,
                        READY_LIMIT.as_secs()
                    )));
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            // The DICOM port answers too: a real C-ECHO from a modality on the same network.
            if let Some(modality) = self.scenario.nodes.iter().find(|m| {
                matches!(m.kind, NodeKind::Modality { .. })
                    && m.networks().iter().any(|n| node.networks().contains(n))
            }) {
                let mut cmd = vec!["lab-agent".to_string()];
                cmd.extend(self.peer_args("echo", &modality.name, &node.name, &node.name));
                cmd.extend(["--wait-secs".into(), READY_LIMIT.as_secs().to_string()]);
                let out = self
                    .docker
                    .exec(
                        &self.plan.container(&modality.name),
                        &cmd,
                        READY_LIMIT + Duration::from_secs(10),
                    )
                    .await?;
                // 3 = refused: the PACS answers DICOM but rejects this modality, which a
                // hardened lab may well do; only unreachable means not ready.
                if out.exit_code != 0 && out.exit_code != 3 {
                    return Err(EngineError::Setup(format!(
                        "node `{}` did not answer C-ECHO: {}",
                        node.name,
                        agent_error(&out.stdout, &out.stderr)
                    )));
                }
            }
        }
        Ok(())
    }

    /// Starts a node that taps a lab bridge from the host's network namespace: the
    /// sniffer (pcapng) or the IDS (alerts), and waits until it is capturing.
    async fn start_tap(&mut self, node: &str, bridge: &str, ids: bool) -> Result<(), EngineError> {
        let container = self.plan.container(node);
        let lab_node = self
            .node(node)
            .ok_or_else(|| EngineError::Setup(format!("tap `{node}` is not a node of the lab")))?;
        let budget = NodeBudget::of(lab_node);
        let max_capture = limits::capture_bytes(lab_node);
        let cmd: Vec<String> = if ids {
            vec![
                "lab-agent".into(),
                "ids".into(),
                "--iface".into(),
                bridge.into(),
                "--alerts".into(),
                IDS_OUT.into(),
            ]
        } else {
            vec![
                "lab-agent".into(),
                "sniff".into(),
                "--iface".into(),
                bridge.into(),
                "--out".into(),
                SNIFFER_OUT.into(),
                "--max-bytes".into(),
                max_capture.to_string(),
            ]
        };
        let spec = ContainerSpec {
            name: container.clone(),
            image: Image::Agent.tag(),
            cmd,
            labels: self.plan.labels(node),
            host_network: true,
            cap_add: Role::Tap.caps(),
            limits: Some(budget.limits()),
            ..Default::default()
        };
        self.docker.start_container(&spec).await?;
        self.taps_started.push(node.to_string());
        self.wait_for_line(
            node,
            &["\"capturing\"", "\"watching\"", "\"listening\""],
            &format!("capturing on {bridge}"),
        )
        .await
    }

    /// Waits until a node's log shows one of `markers` (its readiness line).
    async fn wait_for_line(
        &self,
        node: &str,
        markers: &[&str],
        what: &str,
    ) -> Result<(), EngineError> {
        let container = self.plan.container(node);
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let logs = self.docker.logs(&container).await?;
            if markers.iter().any(|m| logs.contains(m)) {
                return Ok(());
            }
            if !self.docker.is_running(&container).await? {
                return Err(EngineError::Setup(format!(
                    "node `{node}` stopped before {what}:\n{}",
                    logs.trim()
                )));
            }
            if Instant::now() > deadline {
                return Err(EngineError::Setup(format!(
                    "node `{node}` was not {what} within 20 s"
                )));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn run_step(&self, step: &scenario::Step) -> Result<StepRecord, EngineError> {
        // Through an on-path attacker, the modality connects to the proxy, still naming
        // (and, under TLS, verifying) the real PACS.
        let host = step.via.as_deref().unwrap_or(step.action.target());
        let pynetdicom = matches!(
            self.node(&step.node).map(|n| &n.kind),
            Some(NodeKind::Modality {
                implementation: scenario::ModalityImpl::Pynetdicom,
                ..
            })
        );
        match &step.action {
            Action::Echo { .. } | Action::Store { .. } if pynetdicom => {
                return self.run_pynetdicom_step(step, host).await;
            }
            Action::Agent { verb, to, with } if tools_verb(verb) => {
                return self.run_tool_step(step, verb, to, with, host).await;
            }
            _ => {}
        }
        let mut cmd = match &step.action {
            Action::Echo { to } => self.peer_args("echo", &step.node, to, host),
            Action::Store { to, study } => {
                let mut cmd = self.peer_args("store", &step.node, to, host);
                cmd.extend(tools::study_args(study));
                cmd
            }
            Action::Agent { verb, to, with } if verb == "arp-spoof" => {
                self.arp_spoof_args(&step.node, to, with).await?
            }
            Action::Agent { verb, to, with } => {
                let mut cmd = self.attack_args(verb, &step.node, to, host);
                cmd.extend(scenario::step_rules::agent_flags(verb, with));
                cmd
            }
        };
        cmd.insert(0, "lab-agent".into());
        let verb = step.action.verb();
        self.progress.phase(&format!(
            "step {} ({}): {} {verb}",
            step.index, step.id, step.node
        ));
        let t0 = Instant::now();
        let out = self
            .docker
            .exec(&self.plan.container(&step.node), &cmd, STEP_LIMIT)
            .await?;
        let mut result: Option<serde_json::Value> = out
            .stdout
            .lines()
            .rev()
            .find_map(|l| serde_json::from_str(l).ok());
        let ok = out.exit_code == 0;
        // An attacker's C-FIND is an enumeration: it succeeded when the PACS listed
        // anything to it.
        if verb == "find"
            && matches!(
                self.node(&step.node).map(|n| &n.kind),
                Some(NodeKind::Attacker { .. })
            )
            && let Some(r) = result.as_mut().filter(|r| r.is_object())
        {
            let listed = r["count"].as_u64().unwrap_or(0);
            r["success"] = serde_json::json!(ok && listed > 0);
        }
        Ok(StepRecord {
            index: step.index,
            id: step.id.clone(),
            node: step.node.clone(),
            action: verb.into(),
            ok,
            exit_code: out.exit_code,
            elapsed_ms: t0.elapsed().as_millis() as u64,
            error: (!ok).then(|| agent_error(&out.stdout, &out.stderr)),
            result,
        })
    }

    /// Runs a command in a node for a step and records it like a lab-agent step: its last
    /// JSON line is the result (or `result`, when the engine made it), exit 0 is ok.
    async fn exec_step(
        &self,
        step: &scenario::Step,
        cmd: &[String],
        t0: Instant,
        announce: bool,
    ) -> Result<(runtime::ExecOutput, Option<serde_json::Value>), EngineError> {
        let verb = step.action.verb();
        // Announced once per step (a pynetdicom store runs two commands).
        if announce {
            self.progress.phase(&format!(
                "step {} ({}): {} {verb}",
                step.index, step.id, step.node
            ));
        }
        let out = self
            .docker
            .exec(
                &self.plan.container(&step.node),
                cmd,
                STEP_LIMIT.saturating_sub(t0.elapsed()),
            )
            .await?;
        let result = out
            .stdout
            .lines()
            .rev()
            .find_map(|l| serde_json::from_str::<serde_json::Value>(l).ok());
        Ok((out, result))
    }

    fn record(
        step: &scenario::Step,
        ok: bool,
        exit_code: i64,
        t0: Instant,
        error: Option<String>,
        result: Option<serde_json::Value>,
    ) -> StepRecord {
        StepRecord {
            index: step.index,
            id: step.id.clone(),
            node: step.node.clone(),
            action: step.action.verb().into(),
            ok,
            exit_code,
            elapsed_ms: t0.elapsed().as_millis() as u64,
            error: if ok { None } else { error },
            result,
        }
    }

    /// echo and store through the paper's pynetdicom script (`impl: pynetdicom`): the same
    /// study as lab-agent's (`lab-agent generate` in the node), then `modality.py`, whose
    /// JSON line and exit codes are lab-agent's.
    async fn run_pynetdicom_step(
        &self,
        step: &scenario::Step,
        host: &str,
    ) -> Result<StepRecord, EngineError> {
        let t0 = Instant::now();
        let calling = self
            .node(&step.node)
            .and_then(|n| n.aet())
            .unwrap_or("MODALITY");
        let target = step.action.target();
        let called = self.node(target).and_then(|n| n.aet()).unwrap_or("ORTHANC");
        let cmd = match &step.action {
            Action::Store { study, .. } => {
                let dir = format!("/tmp/study-{}", step.id);
                let (out, result) = self
                    .exec_step(step, &tools::generate_cmd(study, &dir), t0, true)
                    .await?;
                if out.exit_code != 0 {
                    let why = format!(
                        "lab-agent generate failed before pynetdicom could send: {}",
                        agent_error(&out.stdout, &out.stderr)
                    );
                    return Ok(Self::record(
                        step,
                        false,
                        out.exit_code,
                        t0,
                        Some(why),
                        result,
                    ));
                }
                tools::pynetdicom_cmd(
                    "store",
                    host,
                    orthanc::DICOM_PORT,
                    calling,
                    called,
                    Some((study, &dir)),
                )
            }
            _ => tools::pynetdicom_cmd("echo", host, orthanc::DICOM_PORT, calling, called, None),
        };
        let announce = !matches!(step.action, Action::Store { .. });
        let (out, result) = self.exec_step(step, &cmd, t0, announce).await?;
        let ok = out.exit_code == 0;
        Ok(Self::record(
            step,
            ok,
            out.exit_code,
            t0,
            Some(agent_error(&out.stdout, &out.stderr)),
            result,
        ))
    }

    /// The steps `tools` turns into results: nmap's DICOM scripts and `harvest`.
    async fn run_tool_step(
        &self,
        step: &scenario::Step,
        verb: &str,
        to: &str,
        with: &BTreeMap<String, serde_json::Value>,
        host: &str,
    ) -> Result<StepRecord, EngineError> {
        let t0 = Instant::now();
        if verb == "harvest" {
            return self.harvest(step, t0).await;
        }
        let calling = self
            .node(&step.node)
            .and_then(|n| n.aet())
            .unwrap_or("ECHOSCU");
        let mut args = vec![format!("dicom.calling_aet={calling}")];
        match verb {
            "dicom-ping" => {
                if let Some(called) = with.get("called").and_then(|v| v.as_str()) {
                    args.push(format!("dicom.called_aet={called}"));
                }
            }
            _ => {
                args.push(format!("passdb={AGENT_TLS_DIR}/{}.aets", step.id));
                args.push("unpwdb.timelimit=60s".into());
                args.push("brute.firstonly=false".into());
            }
        }
        let cmd = tools::nmap_cmd(verb, host, orthanc::DICOM_PORT, &args);
        let (out, _) = self.exec_step(step, &cmd, t0, true).await?;
        let dir = self.run_dir.join(ATTACKS_DIR);
        save::mkdir(&dir)?;
        let file = format!("{}.nmap.xml", step.id);
        save::write(&dir.join(&file), &out.stdout)?;
        let target = format!("{to}:{}", orthanc::DICOM_PORT);
        let mut result = tools::nmap_result(verb, &target, &out.stdout);
        result["evidence"] = serde_json::json!(format!("{ATTACKS_DIR}/{file}"));
        let ok = out.exit_code == 0 && result["ok"] == true;
        let error = result["error"].as_str().map(str::to_string).or_else(|| {
            Some(format!(
                "nmap exited {}: {}",
                out.exit_code,
                out.stderr.trim()
            ))
        });
        Ok(Self::record(
            step,
            ok,
            out.exit_code,
            t0,
            error,
            Some(result),
        ))
    }

    /// `harvest`: the attacker's own capture so far (its `sniff` daemon), saved into
    /// `captures/<node>.<step>.pcapng` and read with `wire`: did patient data reach it?
    async fn harvest(&self, step: &scenario::Step, t0: Instant) -> Result<StepRecord, EngineError> {
        self.progress.phase(&format!(
            "step {} ({}): {} harvest",
            step.index, step.id, step.node
        ));
        // The sniffer flushes its file every 200 ms.
        tokio::time::sleep(Duration::from_millis(400)).await;
        let rel = format!("{ATTACKER_CAPTURES_DIR}/{}.{}.pcapng", step.node, step.id);
        let path = self.run_dir.join(&rel);
        save::copy_out(
            &self.docker,
            &self.plan.container(&step.node),
            ATTACKER_CAPTURE,
            &path,
            save::MAX_CAPTURE_BYTES,
        )
        .await?;
        match wire::analyze_file(&path) {
            Ok(analysis) => Ok(Self::record(
                step,
                true,
                0,
                t0,
                None,
                Some(tools::harvest_result(&analysis, &rel)),
            )),
            Err(e) => {
                let why = format!("the attacker's capture {rel} cannot be read: {e}");
                let result = serde_json::json!({"action": "harvest", "ok": false, "error": why});
                Ok(Self::record(step, false, 1, t0, Some(why), Some(result)))
            }
        }
    }

    /// `lab-agent arp-spoof` telling `victim` that the PACS `to` is at the attacker's MAC
    /// (and, with `both_ways`, the PACS that `victim` is).
    /// The addresses are asked of each node's own resolver (its name on its network), so
    /// an attacker on another segment sends to addresses it cannot reach.
    async fn arp_spoof_args(
        &self,
        attacker: &str,
        to: &str,
        with: &BTreeMap<String, serde_json::Value>,
    ) -> Result<Vec<String>, EngineError> {
        let victim = with
            .get("victim")
            .and_then(|v| v.as_str())
            .unwrap_or_default();
        let victim_ip = self.address_of(victim).await?;
        let pacs_ip = self.address_of(to).await?;
        let mut cmd = vec![
            "arp-spoof".to_string(),
            "--iface".into(),
            "eth0".into(),
            "--target".into(),
            victim_ip,
            "--impersonate".into(),
            pacs_ip,
        ];
        for (key, flag) in [("count", "--count"), ("interval_ms", "--interval-ms")] {
            if let Some(n) = with.get(key).and_then(|v| v.as_u64()) {
                cmd.extend([flag.to_string(), n.to_string()]);
            }
        }
        if with.get("both_ways").and_then(|v| v.as_bool()) == Some(true) {
            cmd.push("--both-ways".into());
        }
        let _ = attacker;
        Ok(cmd)
    }

    /// A node's IPv4 address on its (first) network, from its own resolver.
    async fn address_of(&self, node: &str) -> Result<String, EngineError> {
        let out = self
            .docker
            .exec(
                &self.plan.container(node),
                &["getent".into(), "ahostsv4".into(), node.into()],
                Duration::from_secs(10),
            )
            .await?;
        out.stdout
            .split_whitespace()
            .next()
            .filter(|a| a.parse::<std::net::Ipv4Addr>().is_ok())
            .map(str::to_string)
            .ok_or_else(|| {
                EngineError::Setup(format!(
                    "cannot find the address of node `{node}` (getent exit {}): {}",
                    out.exit_code,
                    out.stderr.trim()
                ))
            })
    }

    /// Arguments of an attacker's (or modality's) agent action other than echo/store:
    /// DICOM actions name the PACS by host, port and AE titles; REST actions by URL.
    fn attack_args(&self, verb: &str, actor: &str, pacs: &str, host: &str) -> Vec<String> {
        let url = format!("http://{host}:{}", orthanc::HTTP_PORT);
        match verb {
            "rest-probe" | "rest-write" | "upload-polyglot" => {
                vec![verb.into(), "--url".into(), url]
            }
            "aet-scan" | "flood" => {
                let calling = self.node(actor).and_then(|n| n.aet()).unwrap_or("ECHOSCU");
                vec![
                    verb.into(),
                    "--host".into(),
                    host.into(),
                    "--port".into(),
                    orthanc::DICOM_PORT.to_string(),
                    "--calling".into(),
                    calling.into(),
                ]
            }
            "fingerprint" => {
                let called = self.node(pacs).and_then(|n| n.aet()).unwrap_or("ORTHANC");
                vec![
                    verb.into(),
                    "--host".into(),
                    host.into(),
                    "--port".into(),
                    orthanc::DICOM_PORT.to_string(),
                    "--called".into(),
                    called.into(),
                    "--url".into(),
                    url,
                ]
            }
            _ => self.peer_args(verb, actor, pacs, host),
        }
    }

    fn node(&self, name: &str) -> Option<&scenario::Node> {
        self.scenario.nodes.iter().find(|n| n.name == name)
    }

    /// Saves PACS state, the capture and every node's log into the run directory.
    async fn collect(&mut self) -> Result<(), EngineError> {
        let mut problems = Vec::new();
        let nodes = self.scenario.nodes.clone();
        let this = &*self;
        // The PACS's state (read on its own loopback, never on the lab network) and the
        // taps' output are saved at the same time.
        let pacs = async {
            let mut problems = Vec::new();
            for node in nodes
                .iter()
                .filter(|n| matches!(n.kind, NodeKind::Orthanc { .. }))
            {
                if let Err(e) = this.save_pacs_state(&node.name).await {
                    problems.push(format!("PACS `{}` state: {e}", node.name));
                }
            }
            problems
        };
        let taps = async {
            let mut problems = Vec::new();
            // Attacker daemons print their summary when stopped; stop them before their
            // logs are read (and before the taps, which then see their last packets).
            for node in &nodes {
                if let NodeKind::Attacker {
                    daemon: Some(d), ..
                } = &node.kind
                {
                    let container = this.plan.container(&node.name);
                    if this.docker.is_running(&container).await.unwrap_or(false) {
                        let _ = this.docker.signal(&container, "SIGTERM").await;
                        let _ = this
                            .docker
                            .wait_stopped(&container, Duration::from_secs(10))
                            .await;
                    }
                    // An attacker's own capture is evidence too: what reached it, whole.
                    if d.action == "sniff" {
                        let dest = this
                            .run_dir
                            .join(ATTACKER_CAPTURES_DIR)
                            .join(format!("{}.pcapng", node.name));
                        let saved = save::copy_out(
                            &this.docker,
                            &container,
                            ATTACKER_CAPTURE,
                            &dest,
                            save::MAX_CAPTURE_BYTES,
                        )
                        .await;
                        if let Err(e) = saved {
                            problems.push(format!("capture of attacker `{}`: {e}", node.name));
                        }
                    }
                }
            }
            for node in &nodes {
                if !this.taps_started.contains(&node.name) {
                    continue;
                }
                // One tap's failure (its folder cannot be made, the disk is full) is a
                // problem of its own: the other taps and the logs are still saved.
                let saved = match &node.kind {
                    NodeKind::Sniffer { .. } => {
                        this.save_tap_output(
                            &node.name,
                            SNIFFER_OUT,
                            &this.run_dir.join(CAPTURE_FILE),
                            save::MAX_CAPTURE_BYTES,
                        )
                        .await
                    }
                    NodeKind::Ids { .. } => {
                        let dest = this
                            .run_dir
                            .join(IDS_DIR)
                            .join(&node.name)
                            .join("alerts.jsonl");
                        this.save_tap_output(&node.name, IDS_OUT, &dest, save::MAX_ALERTS_BYTES)
                            .await
                    }
                    _ => Ok(()),
                };
                if let Err(e) = saved {
                    problems.push(format!("evidence of `{}`: {e}", node.name));
                }
            }
            problems
        };
        let (pacs, taps) = tokio::join!(pacs, taps);
        problems.extend(pacs);
        problems.extend(taps);
        for node in &nodes {
            let container = self.plan.container(&node.name);
            if let Ok(logs) = self.docker.logs(&container).await {
                let dest = self.run_dir.join("logs").join(format!("{}.log", node.name));
                if let Err(e) = save::write(&dest, logs) {
                    problems.push(format!("log of `{}`: {e}", node.name));
                }
            }
        }
        let steps_log: String = self
            .steps
            .iter()
            .map(|s| format!("{}\n", serde_json::to_string(s).unwrap_or_default()))
            .collect();
        if let Err(e) = save::write(&self.run_dir.join("logs").join("steps.jsonl"), steps_log) {
            problems.push(format!("step results: {e}"));
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(EngineError::Setup(problems.join("; ")))
        }
    }

    async fn save_pacs_state(&self, node: &str) -> Result<(), EngineError> {
        let file_checks: Vec<String> = self
            .scenario
            .checks
            .iter()
            .filter_map(|check| match &check.kind {
                scenario::CheckKind::PacsFileWritten { node: n, path, .. } if n == node => {
                    Some(path.clone())
                }
                _ => None,
            })
            .collect();
        pacs_evidence::save(
            &self.docker,
            &self.plan.container(node),
            &self.run_dir.join(PACS_DIR).join(node),
            &file_checks,
        )
        .await
    }

    /// Stops a tap node (it flushes on SIGTERM) and copies its output file out.
    async fn save_tap_output(
        &self,
        node: &str,
        inner: &str,
        dest: &Path,
        max: u64,
    ) -> Result<(), EngineError> {
        let container = self.plan.container(node);
        // Let the last segments of the exchange (FIN, final ACKs) reach the capture.
        tokio::time::sleep(Duration::from_millis(200)).await;
        if self.docker.is_running(&container).await.unwrap_or(false) {
            self.docker.signal(&container, "SIGTERM").await?;
            if self
                .docker
                .wait_stopped(&container, Duration::from_secs(15))
                .await?
                .is_none()
            {
                return Err(EngineError::Setup(
                    "it did not stop within 15 s of SIGTERM".into(),
                ));
            }
        }
        save::copy_out(&self.docker, &container, inner, dest, max).await?;
        Ok(())
    }
}

/// The command line of an attacker's daemon (its main process).
pub(crate) fn daemon_cmd(
    scenario: &Scenario,
    node: &scenario::Node,
    d: &scenario::Daemon,
) -> Vec<String> {
    if d.action == "sniff" {
        // The attacker's own interface: what reaches it, and nothing more.
        let mut cmd: Vec<String> = [
            "lab-agent",
            "sniff",
            "--iface",
            "eth0",
            "--out",
            ATTACKER_CAPTURE,
            "--max-bytes",
        ]
        .map(String::from)
        .to_vec();
        cmd.push(limits::capture_bytes(node).to_string());
        return cmd;
    }
    let text = |k: &str| d.with.get(k).and_then(|v| v.as_str()).map(str::to_string);
    let upstream = text("upstream").or_else(|| {
        scenario
            .nodes
            .iter()
            .find(|n| matches!(n.kind, NodeKind::Orthanc { .. }))
            .map(|n| n.name.clone())
    });
    let mut cmd = vec![
        "lab-agent".to_string(),
        d.action.clone(),
        "--listen".into(),
        format!("0.0.0.0:{}", orthanc::DICOM_PORT),
        "--upstream".into(),
        format!(
            "{}:{}",
            upstream.unwrap_or_else(|| "pacs".into()),
            orthanc::DICOM_PORT
        ),
        "--max-secs".into(),
        STEP_LIMIT.as_secs().to_string(),
    ];
    if let Some(name) = text("rewrite_patient") {
        cmd.extend(["--rewrite-patient".into(), name]);
    }
    if d.with.get("tamper_pixels").and_then(|v| v.as_bool()) == Some(true) {
        cmd.push("--tamper-pixels".into());
    }
    cmd
}

/// Actions the engine runs through `tools` rather than as one lab-agent command line.
fn tools_verb(verb: &str) -> bool {
    scenario::step_rules::NMAP_ACTIONS.contains(&verb) || verb == "harvest"
}

/// The agent's own words for a failure: the `error` of its JSON line, else its stderr.
fn agent_error(stdout: &str, stderr: &str) -> String {
    stdout
        .lines()
        .rev()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find_map(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_string))
        .unwrap_or_else(|| {
            stderr
                .trim()
                .lines()
                .last()
                .unwrap_or("no output")
                .to_string()
        })
}

pub(crate) fn grade_run(
    scenario: &Scenario,
    run_dir: &Path,
    run_id: String,
    started_at: String,
    steps: Vec<StepRecord>,
) -> RunReport {
    let evidence = Evidence::load(run_dir);
    if let Ok(analysis) = &evidence.capture {
        let lines: String = analysis
            .events
            .iter()
            .map(|e| format!("{}\n", serde_json::to_string(e).unwrap_or_default()))
            .collect();
        // Derived from the capture (`lab report` rebuilds it): a failure here shows in
        // the report's own write, which follows.
        let _ = save::write(&run_dir.join("timeline.json"), lines);
    }
    let checks = checks::grade(scenario, &evidence);
    let verdict = Verdict::of(&checks);
    let mut evidence_files: Vec<String> = Vec::new();
    collect_files(run_dir, run_dir, &mut evidence_files);
    evidence_files.retain(|f| f != "report.json" && f != "SHA256SUMS");
    evidence_files.sort();
    let m = &scenario.metadata;
    RunReport {
        schema: REPORT_SCHEMA.into(),
        run_id,
        lab: m.name.clone(),
        title: m.title.clone(),
        threat: m.threat.clone(),
        variant: format!("{:?}", m.variant).to_lowercase(),
        mitre: m.mitre.clone(),
        started_at,
        duration_s: 0.0,
        verdict,
        error: None,
        notes: capture_notes(scenario, run_dir),
        steps,
        checks,
        evidence: evidence_files,
    }
}

/// A note for each capture that stopped at its size cap, read from the saved logs (a
/// `capture_limit` line of the sniffer's, or of an attacker's `sniff` daemon).
fn capture_notes(scenario: &Scenario, run_dir: &Path) -> Vec<String> {
    let mut notes = Vec::new();
    for node in &scenario.nodes {
        let file = match &node.kind {
            NodeKind::Sniffer { .. } => CAPTURE_FILE.to_string(),
            NodeKind::Attacker {
                daemon: Some(d), ..
            } if d.action == "sniff" => format!("{ATTACKER_CAPTURES_DIR}/{}.pcapng", node.name),
            _ => continue,
        };
        let log = run_dir.join("logs").join(format!("{}.log", node.name));
        let Ok(text) = std::fs::read_to_string(&log) else {
            continue;
        };
        let hit = text
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l.trim()).ok())
            .find(|v| v["event"] == "capture_limit");
        if let Some(v) = hit {
            let max = v["max_bytes"]
                .as_u64()
                .unwrap_or_else(|| limits::capture_bytes(node));
            notes.push(format!(
                "the capture of `{}` stopped at its size cap ({}, `limits.capture`) after {} packets: what came later is not in {file}",
                node.name,
                scenario::limit_rules::format_size(max),
                v["packets"].as_u64().unwrap_or(0),
            ));
        }
    }
    notes
}

fn collect_files(root: &Path, dir: &Path, out: &mut Vec<String>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            collect_files(root, &p, out);
        } else if let Ok(rel) = p.strip_prefix(root) {
            out.push(rel.to_string_lossy().into_owned());
        }
    }
}

pub(crate) fn write_report(run_dir: &Path, report: &RunReport) -> Result<(), EngineError> {
    // report.json, junit.xml, report.sarif and report.html (from the report and the run
    // directory alone), then SHA256SUMS over every file of the run directory, the reports
    // included, in `sha256sum -c` format (`lab verify` checks it).
    report::write_all(run_dir, report).map_err(EngineError::io("writing the reports"))?;
    report::write_sums(run_dir).map_err(EngineError::io("writing SHA256SUMS"))?;
    Ok(())
}
