//! One run of a lab, phase by phase: `run_lab` is the story. Whatever happens after the
//! first object is created, the evidence gathered so far is saved and every object of the
//! run is removed (unless the user asked to keep the lab up).
//!
//! The phases live in `run/`: `up` (identities, networks, nodes, isolation), `ready`
//! (readiness probes, the taps), `steps` (each step kind), `health` (nodes that died or met
//! a limit), `collect` (evidence); grading is `grading`, the end `finish`.

mod collect;
mod finish;
mod health;
mod ready;
mod steps;
mod up;

pub(crate) use steps::step_target;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use report::{RunReport, StepRecord, Verdict};
use rundir::RunDir;
use runtime::{Docker, Removed};
use scenario::Scenario;

use crate::EngineError;
use crate::grading::grade_run;
use crate::images;
use crate::lock::PlanLock;
use crate::pki::Identity;
use crate::plan::{RunPlan, suffix_of};
use crate::progress::Progress;
use crate::save;
use crate::shutdown::Shutdown;

/// How long a PACS may take to answer REST and C-ECHO.
const READY_LIMIT: Duration = Duration::from_secs(90);
/// How long one step may take.
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
    // SIGINT and SIGTERM are the caller's (`opts.shutdown`): every phase turns them into
    // exit 2 with the evidence saved, instead of the default (die, leaving the lab up).
    let signals = &opts.shutdown;
    let not_started = |signal, when| EngineError::NotStarted { signal, when };
    if let Some(s) = signals.last() {
        return Err(not_started(s, "before the run began; nothing was started"));
    }
    let docker = Docker::connect().await?;
    let needed = images::needed_by(scenario);
    tokio::select! {
        r = images::ensure(&docker, &needed, opts.progress, false) => { r?; }
        s = signals.wait(1) => return Err(not_started(s, "while building images; nothing was started")),
    }
    // Names and subnets are chosen under a host-wide lock, held until the run's networks
    // exist: many `lab` processes starting at once never pick the same.
    let lock = tokio::select! {
        l = PlanLock::acquire() => l?,
        s = signals.wait(1) => return Err(not_started(s, "while planning; nothing was started")),
    };
    let plan = plan_unique(&docker, scenario, &opts.runs_dir).await?;
    let mut run = Run::new(docker, plan, scenario, opts, lock)?;

    let outcome = tokio::select! {
        r = run.up_and_exercise() => r,
        s = signals.wait(1) => Err(EngineError::Interrupted(format!("{s} while {}", run.phase))),
    };
    run.plan_lock = None;
    // A node that met its memory or pids limit is the cause, whatever else failed after it.
    let mut error = run.limits_cause(outcome.err().map(|e| e.to_string())).await;

    // Evidence first, whatever happened. A signal now lets the collection finish (it is
    // bounded); a second one stops it, and the lab is still torn down.
    opts.progress.phase("saving evidence");
    let collected = tokio::select! {
        r = run.collect() => r,
        s = signals.wait(2) => Err(EngineError::Interrupted(format!("a second signal, {s}, while saving evidence"))),
    };
    if let Err(e) = collected {
        error = run.collection_failed(error, e).await;
    }
    if error.is_none()
        && let Some(s) = signals.last()
    {
        error = Some(EngineError::Interrupted(format!("{s} while saving evidence")).to_string());
    }

    let steps = std::mem::take(&mut run.steps);
    let (dir, id) = (&run.dir, run.plan.id.clone());
    let mut report = grade_run(scenario, dir, &dir.record(), id, started_at, steps);
    report.duration_s = started.elapsed().as_secs_f64();
    if let Some(e) = error {
        report.error = Some(e);
        report.verdict = Verdict::Error;
    }
    let (report, kept) = finish::save_and_end(&run, report, opts).await;
    Ok(RunResult {
        report,
        run_dir: run.dir.root().to_path_buf(),
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
    for net in docker.labelled_networks(runtime::LABEL_RUN, None).await? {
        taken.extend(
            net.labels
                .get(runtime::LABEL_RUN)
                .and_then(|r| suffix_of(r)),
        );
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

/// Removes every container and network of run `id` (or of every run), by label alone.
pub async fn teardown(docker: &Docker, id: Option<&str>) -> Result<Removed, EngineError> {
    Ok(docker.remove_runs(id).await?)
}

/// A run under way: what it planned, what it started, what its steps said.
pub(crate) struct Run<'a> {
    pub(crate) docker: Docker,
    pub(crate) plan: RunPlan,
    scenario: &'a Scenario,
    pub(crate) dir: RunDir,
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

impl<'a> Run<'a> {
    /// Makes the run directory (with the resolved lab file in it) for `plan`.
    fn new(
        docker: Docker,
        plan: RunPlan,
        scenario: &'a Scenario,
        opts: &RunOptions,
        lock: PlanLock,
    ) -> Result<Run<'a>, EngineError> {
        let dir = RunDir::new(opts.runs_dir.join(&plan.id));
        save::mkdir(&dir.logs())?;
        save::write(&dir.scenario(), &scenario.resolved_text)?;
        opts.progress
            .phase(&format!("run {} -> {}", plan.id, dir.root().display()));
        Ok(Run {
            docker,
            plan,
            scenario,
            dir,
            progress: opts.progress,
            steps: Vec::new(),
            taps_started: Vec::new(),
            identities: BTreeMap::new(),
            grader_password: format!("{:032x}", rand::random::<u128>()),
            plan_lock: Some(lock),
            phase: "planning".into(),
        })
    }

    /// Up, ready, then the steps in order; stops at the first step that did not end as
    /// the lab expects (later steps may depend on it; the checks say what it cost).
    async fn up_and_exercise(&mut self) -> Result<(), EngineError> {
        self.up().await?;
        self.phase = "waiting for the PACS".into();
        self.progress
            .phase("waiting for the PACS to answer REST and C-ECHO");
        // Isolation (gateway routes removed) goes on while the PACS starts: the probes
        // stay on-link and do not need a gateway.
        let (isolated, ready) = tokio::join!(self.isolate_nodes(), self.wait_ready());
        isolated?;
        ready?;
        self.phase = "starting the taps".into();
        self.wait_daemons().await?;
        self.start_taps().await?;
        for step in &self.scenario.steps {
            self.phase = format!("running step {} ({})", step.index, step.id);
            if !self.run_and_record(step).await? {
                break;
            }
        }
        self.phase = "checking the nodes".into();
        self.nodes_still_up(false).await
    }

    fn node(&self, name: &str) -> Option<&scenario::Node> {
        self.scenario.nodes.iter().find(|n| n.name == name)
    }
}
