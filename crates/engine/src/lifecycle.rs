//! Runs after (and around) `run_lab`: what is up (`lab status`), what a dead process left
//! (`lab gc`), a lab left running for exploration (`lab up`: the PACS from the host), live
//! capture (`lab capture`).
//!
//! Everything here works from Docker labels alone (plus the run directory named by the
//! `dicom-range.runs-dir` label, when `lab gc` saves what a killed run left).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Duration;

use rundir::RunDir;
use runtime::{
    ContainerSpec, Docker, LABEL_HELPER, LABEL_KEPT, LABEL_NODE, LABEL_OWNER_PID,
    LABEL_OWNER_START, LABEL_RUN, LABEL_RUNS_DIR, Removed,
};
use scenario::NodeKind;

use crate::EngineError;
use crate::grading::{Previous, grade_run, write_report};
use crate::images::Image;
use crate::limits::Role;
use crate::orthanc;
use crate::plan::process_start;
use crate::save;

/// The port on a PACS's lab address where `lab up` forwards Orthanc's REST API and web
/// UI for the host (and only the host: other peers are refused).
pub const UI_PORT: u16 = 8043;

/// A TCP forwarder run in a PACS's network namespace for `lab up`: it listens on the
/// PACS's lab address, accepts only the host (the bridge's own address) and connects each
/// client to Orthanc's REST port on the PACS's loopback, where Orthanc answers although
/// `RemoteAccessAllowed` is false.
const UI_FORWARDER: &str = include_str!("../../../compose/helpers/ui-forwarder.pl");

/// One node of a run as `lab status` shows it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct NodeStatus {
    pub node: String,
    pub container: String,
    pub state: String,
    pub status: String,
}

/// A run on the daemon, from its labels.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RunStatus {
    pub run: String,
    pub lab: String,
    pub nodes: Vec<NodeStatus>,
    pub networks: Vec<String>,
    /// `healthy` (every node running), or what is not.
    pub health: String,
    /// Seconds since the first object was created.
    pub age_s: i64,
    pub owner_pid: Option<u32>,
    /// The process that created it is still alive.
    pub owner_alive: bool,
    /// Kept on purpose (`lab up`, `--keep`).
    pub kept: bool,
    pub runs_dir: Option<String>,
}

impl RunStatus {
    /// Nobody will tear it down: its owner is gone and it was not kept on purpose.
    /// Objects that name no owner (made by other tools, or by hand) are never orphans.
    pub fn orphaned(&self) -> bool {
        self.owner_pid.is_some() && !self.owner_alive && !self.kept
    }
}

/// Whether the process named by an object's owner labels is still the one that made it.
fn owner_alive(labels: &HashMap<String, String>) -> (Option<u32>, bool) {
    let Some(pid) = labels
        .get(LABEL_OWNER_PID)
        .and_then(|p| p.parse::<u32>().ok())
    else {
        return (None, false);
    };
    let alive = match (
        process_start(pid),
        labels.get(LABEL_OWNER_START).filter(|s| !s.is_empty()),
    ) {
        (None, _) => false,
        (Some(now), Some(then)) => &now == then,
        // Objects from before the start-time label: the pid alone.
        (Some(_), None) => true,
    };
    (Some(pid), alive)
}

/// Every run on the daemon (or those whose evidence goes to `runs_dir`), oldest first.
pub async fn list_runs(
    docker: &Docker,
    runs_dir: Option<&Path>,
) -> Result<Vec<RunStatus>, EngineError> {
    let scope = runs_dir.map(abs);
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let mut runs: BTreeMap<String, RunStatus> = BTreeMap::new();
    let mut entry = |labels: &HashMap<String, String>| -> Option<String> {
        let id = labels.get(LABEL_RUN)?.clone();
        if let Some(scope) = &scope
            && labels.get(LABEL_RUNS_DIR) != Some(scope)
        {
            return None;
        }
        let (pid, alive) = owner_alive(labels);
        runs.entry(id.clone()).or_insert_with(|| RunStatus {
            run: id.clone(),
            lab: labels.get(runtime::LABEL_LAB).cloned().unwrap_or_default(),
            nodes: Vec::new(),
            networks: Vec::new(),
            health: String::new(),
            age_s: 0,
            owner_pid: pid,
            owner_alive: alive,
            kept: false,
            runs_dir: labels.get(LABEL_RUNS_DIR).cloned(),
        });
        Some(id)
    };
    let containers = docker.containers(LABEL_RUN, None).await?;
    let networks = docker.labelled_networks(LABEL_RUN, None).await?;
    let volumes = docker.labelled_volumes(LABEL_RUN, None).await?;
    let mut ids = Vec::new();
    for c in &containers {
        ids.push(entry(&c.labels));
    }
    let net_ids: Vec<_> = networks.iter().map(|n| entry(&n.labels)).collect();
    let vol_ids: Vec<_> = volumes.iter().map(|v| entry(&v.labels)).collect();
    for (c, id) in containers.iter().zip(ids) {
        let Some(r) = id.and_then(|id| runs.get_mut(&id)) else {
            continue;
        };
        let age = now - c.created;
        r.age_s = r.age_s.max(age);
        r.nodes.push(NodeStatus {
            node: c.labels.get(LABEL_NODE).cloned().unwrap_or_default(),
            container: c.name.clone(),
            state: c.state.clone(),
            status: c.status.clone(),
        });
    }
    for (n, id) in networks.iter().zip(net_ids) {
        if let Some(r) = id.and_then(|id| runs.get_mut(&id)) {
            r.networks.push(n.name.clone());
        }
    }
    for (v, id) in volumes.iter().zip(vol_ids) {
        if let Some(r) = id.and_then(|id| runs.get_mut(&id)) {
            r.kept |= v.labels.get(LABEL_KEPT).is_some_and(|v| v == "true");
        }
    }
    let mut out: Vec<RunStatus> = runs.into_values().collect();
    for r in &mut out {
        r.nodes.sort_by(|a, b| a.node.cmp(&b.node));
        let down: Vec<String> = r
            .nodes
            .iter()
            .filter(|n| n.state != "running")
            .map(|n| format!("{} {}", n.node, n.status.to_lowercase()))
            .collect();
        r.health = if r.nodes.is_empty() {
            "no containers (networks only)".into()
        } else if down.is_empty() {
            "healthy".into()
        } else {
            format!("degraded: {}", down.join(", "))
        };
    }
    out.sort_by_key(|r| std::cmp::Reverse(r.age_s));
    Ok(out)
}

fn abs(p: &Path) -> String {
    std::path::absolute(p)
        .unwrap_or_else(|_| p.to_path_buf())
        .display()
        .to_string()
}

/// What `lab gc` did to one run.
#[derive(Debug)]
pub struct Collected {
    pub run: String,
    /// Why it was garbage.
    pub reason: String,
    /// Where its evidence was saved, when its run directory was found.
    pub saved: Option<PathBuf>,
    pub removed: Removed,
    /// Saving what it left failed (a full disk, a read-only runs folder), so it was left in
    /// place, untouched: removing it would lose the evidence for good.
    pub left: Option<String>,
}

/// Removes every run whose owning process is gone and that was not kept on purpose, after
/// saving what it left (node logs, the capture, IDS alerts, a report whose verdict is
/// error with the cause) into its run directory. A run whose salvage fails is left up
/// (`Collected::left` says why); the next `gc` tries again. Also removes `lab capture`
/// helpers whose process is gone. Runs with a live owner are never touched.
pub async fn gc(docker: &Docker, runs_dir: Option<&Path>) -> Result<Vec<Collected>, EngineError> {
    let mut out = Vec::new();
    for run in list_runs(docker, runs_dir).await? {
        if run.orphaned() {
            let reason = match run.owner_pid {
                Some(pid) => format!(
                    "the `lab` process that ran it (pid {pid}) is gone without tearing it down (killed?)"
                ),
                None => unreachable!("orphans name their owner"),
            };
            let (saved, removed, left) = match salvage(docker, &run, &reason).await {
                Ok(saved) => (saved, docker.remove_runs(Some(&run.run)).await?, None),
                Err(e) => (None, Removed::default(), Some(e.to_string())),
            };
            out.push(Collected {
                run: run.run,
                reason,
                saved,
                removed,
                left,
            });
        }
    }
    // Capture helpers of live runs whose `lab capture` died.
    for c in docker.containers(LABEL_HELPER, Some("capture")).await? {
        let (_, alive) = owner_alive(&c.labels);
        let in_scope = runs_dir.is_none_or(|d| c.labels.get(LABEL_RUNS_DIR) == Some(&abs(d)));
        if !alive && in_scope {
            docker.remove_container(&c.name).await?;
            out.push(Collected {
                run: c.labels.get(LABEL_RUN).cloned().unwrap_or_default(),
                reason: "a `lab capture` helper whose process is gone".into(),
                saved: None,
                removed: Removed {
                    containers: vec![c.name],
                    ..Default::default()
                },
                left: None,
            });
        }
    }
    Ok(out)
}

/// Saves what an orphaned run left into its run directory: logs, the sniffer's capture
/// and IDS alerts so far, and a report (verdict error, with `reason`). `Ok(None)` when
/// there is nowhere to save to (no run directory with its `scenario.yaml`); `Err` when a
/// file could not be written, or the lab file there cannot be read.
async fn salvage(
    docker: &Docker,
    run: &RunStatus,
    reason: &str,
) -> Result<Option<PathBuf>, EngineError> {
    let Some(runs_dir) = run.runs_dir.as_ref() else {
        return Ok(None);
    };
    let dir = RunDir::new(Path::new(runs_dir).join(&run.run));
    if !dir.scenario().is_file() {
        return Ok(None);
    }
    let scenario = scenario::load(&dir.scenario(), &BTreeMap::new())?;
    save::mkdir(&dir.logs())?;
    for node in &scenario.nodes {
        let container = format!("lab-{}-{}", run.run, node.name);
        if let Some(out) = crate::node::output(node, &dir)
            && !out.dest.exists()
        {
            if docker.is_running(&container).await.unwrap_or(false) {
                let _ = docker.signal(&container, "SIGTERM").await;
                let _ = docker
                    .wait_stopped(&container, Duration::from_secs(15))
                    .await;
            }
            // The host could not take it: stop, keep the run. Other errors mean the node
            // never wrote the file, or is gone: nothing to save.
            if let Err(e @ (EngineError::Save(_) | EngineError::Io { .. })) =
                save::copy_out(docker, &container, out.inner, &out.dest, out.max).await
            {
                return Err(e);
            }
        }
        let log = dir.node_log(&node.name);
        if !log.exists()
            && let Ok(text) = docker.logs(&container).await
        {
            save::write(&log, text)?;
        }
    }
    let previous = Previous::of(&dir);
    let mut report = grade_run(
        &scenario,
        &dir,
        &dir.record(),
        run.run.clone(),
        previous.started_at,
        previous.steps,
    );
    report.error = Some(format!(
        "{reason}; `lab gc` saved the logs and capture it left and removed the run"
    ));
    report.verdict = report::Verdict::Error;
    report.duration_s = run.age_s as f64;
    write_report(&dir, &report)?;
    Ok(Some(dir.root().to_path_buf()))
}

/// Removes every run (or every run whose evidence goes to `runs_dir`), by label alone.
pub async fn down_all(docker: &Docker, runs_dir: Option<&Path>) -> Result<Removed, EngineError> {
    let mut total = Removed::default();
    for run in list_runs(docker, runs_dir).await? {
        let r = docker.remove_runs(Some(&run.run)).await?;
        total.containers.extend(r.containers);
        total.networks.extend(r.networks);
        total.volumes.extend(r.volumes);
    }
    Ok(total)
}

/// How the host reaches a PACS of a lab left running (`lab up`).
#[derive(Debug, Clone, serde::Serialize)]
pub struct PacsEndpoint {
    pub node: String,
    pub aet: String,
    /// The PACS's address on its lab network: routed from the host through the bridge.
    pub address: String,
    pub dicom_port: u16,
    /// Orthanc's web UI through the host-only forwarder.
    pub web: String,
    pub tls: bool,
}

/// For a lab left running: starts a host-only forwarder to each Orthanc's web UI and says
/// how the host reaches each PACS (DICOM directly on its lab address: lab networks are
/// internal, but the host owns the bridge's address, so it reaches them, and only it).
pub async fn expose(
    docker: &Docker,
    run_id: &str,
    scenario: &scenario::Scenario,
) -> Result<Vec<PacsEndpoint>, EngineError> {
    let mut out = Vec::new();
    for node in &scenario.nodes {
        let NodeKind::Orthanc { aet, tls, .. } = &node.kind else {
            continue;
        };
        let container = format!("lab-{run_id}-{}", node.name);
        let addrs = docker.addresses(&container).await?;
        let Some(runtime::Address {
            ip, gateway: gw, ..
        }) = addrs.into_iter().find(|a| !a.gateway.is_empty())
        else {
            continue;
        };
        let labels_of = docker.containers(LABEL_RUN, Some(run_id)).await?;
        let mut labels = labels_of
            .iter()
            .find(|c| c.name == container)
            .map(|c| c.labels.clone())
            .unwrap_or_default();
        labels.insert(LABEL_NODE.into(), format!("{}-ui", node.name));
        labels.insert(LABEL_HELPER.into(), "ui".into());
        let name = format!("{container}-ui");
        let spec = ContainerSpec {
            name: name.clone(),
            image: Image::Agent.tag(),
            cmd: vec![
                "perl".into(),
                "-e".into(),
                UI_FORWARDER.into(),
                format!("{ip}:{UI_PORT}"),
                gw.clone(),
                format!("127.0.0.1:{}", orthanc::HTTP_PORT),
            ],
            labels,
            network_container: Some(container.clone()),
            cap_add: Role::UiForwarder.caps(),
            limits: Some(Role::UiForwarder.limits()),
            ..Default::default()
        };
        docker.remove_container(&name).await?;
        docker.start_container(&spec).await?;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let logs = docker.logs(&name).await.unwrap_or_default();
            if logs.contains("\"listening\"") {
                break;
            }
            if tokio::time::Instant::now() > deadline
                || !docker.is_running(&name).await.unwrap_or(false)
            {
                return Err(EngineError::Helper(format!(
                    "the web UI forwarder of `{}` did not start: {}",
                    node.name,
                    logs.trim()
                )));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        out.push(PacsEndpoint {
            node: node.name.clone(),
            aet: aet.clone(),
            address: ip.clone(),
            dicom_port: orthanc::DICOM_PORT,
            web: format!("http://{ip}:{UI_PORT}/app/explorer.html"),
            tls: tls.is_some(),
        });
    }
    Ok(out)
}

/// Starts a live capture of a run's network (the first one, or `network` by its lab
/// name) from the host's side of its bridge: a short-lived labelled container running
/// `lab-agent sniff` with the pcapng on its stderr. Returns the helper's name (remove it
/// when done) and the stream of its output: stderr carries the pcapng.
pub async fn capture(
    docker: &Docker,
    run_id: &str,
    network: Option<&str>,
) -> Result<
    (
        String,
        impl futures_util::Stream<Item = Result<runtime::Output, runtime::RuntimeError>> + use<>,
    ),
    EngineError,
> {
    let nets = docker.labelled_networks(LABEL_RUN, Some(run_id)).await?;
    if nets.is_empty() {
        return Err(EngineError::NotUp(format!(
            "no network is labelled with run {run_id}\n  fix: `lab status` lists the runs that are up"
        )));
    }
    let chosen = match network {
        Some(n) => nets
            .iter()
            .find(|net| net.labels.get(LABEL_NODE).map(String::as_str) == Some(n))
            .ok_or_else(|| {
                let names: Vec<String> = nets
                    .iter()
                    .filter_map(|net| net.labels.get(LABEL_NODE).cloned())
                    .collect();
                EngineError::NotUp(format!(
                    "run {run_id} has no network `{n}`; it has: {}",
                    names.join(", ")
                ))
            })?,
        None => &nets[0],
    };
    let info = docker.network(&chosen.name).await?;
    let bridge = info.bridge.ok_or_else(|| {
        EngineError::NotUp(format!(
            "network {} has no named bridge to tap (not made by dicom-range?)",
            chosen.name
        ))
    })?;
    let mut labels = chosen.labels.clone();
    let tag = format!("{:04x}", rand::random::<u16>());
    labels.insert(LABEL_NODE.into(), format!("capture-{tag}"));
    labels.insert(LABEL_HELPER.into(), "capture".into());
    labels.insert(LABEL_OWNER_PID.into(), std::process::id().to_string());
    labels.insert(
        LABEL_OWNER_START.into(),
        process_start(std::process::id()).unwrap_or_default(),
    );
    let name = format!("lab-{run_id}-capture-{tag}");
    let spec = ContainerSpec {
        name: name.clone(),
        image: Image::Agent.tag(),
        cmd: protocol::step::sniff_command(&bridge, "/dev/stderr", None).to_argv(),
        labels,
        host_network: true,
        cap_add: Role::LiveCapture.caps(),
        limits: Some(Role::LiveCapture.limits()),
        attached: true,
        ..Default::default()
    };
    docker.create_container(&spec).await?;
    match docker.start_attached(&name).await {
        Ok(stream) => Ok((name, stream)),
        Err(e) => {
            let _ = docker.remove_container(&name).await;
            Err(e.into())
        }
    }
}
