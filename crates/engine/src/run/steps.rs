//! Steps: each step kind as the command it runs in its node (a lab-agent command line,
//! the paper's pynetdicom script, nmap, dcmsign then a store, or the engine's own
//! `harvest`), recorded as a
//! `StepRecord` with the tool's JSON line as its result.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use report::StepRecord;
use rundir::RunDir;
use scenario::{Action, NodeKind};

use protocol::command::TlsArgs;
use protocol::result::Outcome;
use protocol::step::StepTarget;
use scenario::step_rules::ARP_VICTIM;

use super::{Run, STEP_LIMIT};
use crate::EngineError;
use crate::node::{AGENT_FILES_DIR, ATTACKER_CAPTURE, passdb_name};
use crate::{orthanc, save, tools};

impl Run<'_> {
    /// Runs `step` and records it; false when it did not end as the lab expects.
    pub(super) async fn run_and_record(
        &mut self,
        step: &scenario::Step,
    ) -> Result<bool, EngineError> {
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
            return Err(EngineError::NodesFailed(words));
        }
        if unexpected {
            // Later steps may depend on this one; the checks say what it cost.
            self.progress.phase(&format!(
                "step {} ({}) did not end as expected ({said}); grading what happened",
                step.index, step.id
            ));
        }
        Ok(!unexpected)
    }

    pub(super) fn target(&self, actor: &str, pacs: &str, host: &str) -> StepTarget {
        step_target(self.scenario, actor, pacs, host)
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
            Action::Store { study, .. } if self.signs(&step.node) => {
                return self.run_signed_store(step, study, host).await;
            }
            _ => {}
        }
        let mut target = self.target(&step.node, step.action.target(), host);
        let no_options = BTreeMap::new();
        let with = match &step.action {
            Action::Store { study, .. } => {
                target.study = Some(tools::study_args(study));
                &no_options
            }
            Action::Echo { .. } => &no_options,
            Action::Agent { with, .. } => with,
        };
        if let Some(victim) = with.get(ARP_VICTIM).and_then(|v| v.as_str()) {
            target.arp = Some((
                self.address_of(victim).await?,
                self.address_of(step.action.target()).await?,
            ));
        }
        let command =
            protocol::step::step_command(step.action.verb(), &target, with).map_err(|source| {
                EngineError::StepCommand {
                    step: format!("step {} ({})", step.index, step.id),
                    source,
                }
            })?;
        let cmd = command.to_argv();
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
        if matches!(command, protocol::Command::Find { .. })
            && matches!(
                self.node(&step.node).map(|n| &n.kind),
                Some(NodeKind::Attacker { .. })
            )
            && let Some(r) = result.as_mut()
        {
            let listed = Outcome::of(r).count.unwrap_or(0);
            Outcome::set_success(r, ok && listed > 0);
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

    fn signs(&self, node: &str) -> bool {
        matches!(
            self.node(node).map(|n| &n.kind),
            Some(NodeKind::Modality { sign: true, .. })
        )
    }

    /// A store by a signing modality: lab-agent generates the study, DCMTK's dcmsign signs
    /// each file (PS3.15 Annex C) with the modality's certificate from the run's CA, and
    /// lab-agent sends the signed files. The record is the store's.
    async fn run_signed_store(
        &self,
        step: &scenario::Step,
        study: &scenario::Study,
        host: &str,
    ) -> Result<StepRecord, EngineError> {
        let t0 = Instant::now();
        let target = self.target(&step.node, step.action.target(), host);
        let [generate, sign, store] =
            tools::signed_store_cmds(&step.id, study, target).map_err(|source| {
                EngineError::StepCommand {
                    step: format!("step {} ({})", step.index, step.id),
                    source,
                }
            })?;
        let fail = |out: &runtime::ExecOutput, what: &str, result| {
            let why = format!("{what}: {}", agent_error(&out.stdout, &out.stderr));
            Ok(Self::record(
                step,
                false,
                out.exit_code,
                t0,
                Some(why),
                result,
            ))
        };
        let (out, result) = self.exec_step(step, &generate, t0, true).await?;
        if out.exit_code != 0 {
            return fail(&out, "lab-agent generate failed before signing", result);
        }
        let (out, _) = self.exec_step(step, &sign, t0, false).await?;
        if out.exit_code != 0 {
            return fail(&out, "dcmsign could not sign the study", None);
        }
        let (out, result) = self.exec_step(step, &store, t0, false).await?;
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
                args.push(format!(
                    "passdb={AGENT_FILES_DIR}/{}",
                    passdb_name(&step.id)
                ));
                args.push("unpwdb.timelimit=60s".into());
                args.push("brute.firstonly=false".into());
            }
        }
        let cmd = tools::nmap_cmd(verb, host, orthanc::DICOM_PORT, &args);
        let (out, _) = self.exec_step(step, &cmd, t0, true).await?;
        let file = RunDir::nmap_xml(&step.id);
        save::mkdir(&self.dir.join(rundir::ATTACKS_DIR))?;
        save::write(&self.dir.join(&file), &out.stdout)?;
        let target = format!("{to}:{}", orthanc::DICOM_PORT);
        let mut result = tools::nmap_result(verb, &target, &out.stdout);
        result.evidence = Some(file);
        let ok = out.exit_code == 0 && result.ok;
        let error = result.error.clone().or_else(|| {
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
            serde_json::to_value(&result).ok(),
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
        let rel = RunDir::harvest_capture(&step.node, &step.id);
        let path = self.dir.join(&rel);
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
                serde_json::to_value(tools::harvest_result(&analysis, &rel)).ok(),
            )),
            Err(e) => {
                let why = format!("the attacker's capture {rel} cannot be read: {e}");
                let result = protocol::result::to_value(&protocol::result::Failure {
                    action: step.action.verb().into(),
                    error: why.clone(),
                    level: None,
                    ok: false,
                });
                Ok(Self::record(step, false, 1, t0, Some(why), Some(result)))
            }
        }
    }

    /// A node's IPv4 address on its (first) network, from its own resolver.
    /// The addresses are asked of each node's own resolver (its name on its network), so
    /// an attacker on another segment sends to addresses it cannot reach.
    async fn address_of(&self, node: &str) -> Result<std::net::Ipv4Addr, EngineError> {
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
            .and_then(|a| a.parse().ok())
            .ok_or_else(|| {
                EngineError::NotReady(format!(
                    "cannot find the address of node `{node}` (getent exit {}): {}",
                    out.exit_code,
                    out.stderr.trim()
                ))
            })
    }
}

/// What lab-agent needs to know of a step's target: `actor` acting on the PACS `pacs`,
/// connecting to `host`; TLS files for a modality that uses TLS.
pub(crate) fn step_target(
    scenario: &scenario::Scenario,
    actor: &str,
    pacs: &str,
    host: &str,
) -> StepTarget {
    let node = |n: &str| scenario.nodes.iter().find(|x| x.name == n);
    let tls = match node(actor).map(|n| &n.kind) {
        Some(NodeKind::Modality { tls: Some(tls), .. }) => {
            let file = |f: &str| Some(format!("{AGENT_FILES_DIR}/{f}").into());
            TlsArgs {
                tls: true,
                ca: file("ca.pem"),
                cert: tls.client_certificate.then(|| file("client.pem")).flatten(),
                key: tls.client_certificate.then(|| file("client.key")).flatten(),
                server_name: Some(pacs.into()),
                tls_version: Default::default(),
            }
        }
        _ => TlsArgs::default(),
    };
    StepTarget {
        host: host.into(),
        dicom_port: orthanc::DICOM_PORT,
        url: format!("http://{host}:{}", orthanc::HTTP_PORT),
        calling: node(actor).and_then(|n| n.aet()).map(str::to_string),
        called: node(pacs).and_then(|n| n.aet()).map(str::to_string),
        tls,
        study: None,
        arp: None,
    }
}

/// Actions the engine runs through `tools` rather than as one lab-agent command line.
fn tools_verb(verb: &str) -> bool {
    scenario::step_rules::NMAP_ACTIONS.contains(&verb) || verb == "harvest"
}

/// The agent's own words for a failure: the `error` of its JSON line, else its stderr.
pub(super) fn agent_error(stdout: &str, stderr: &str) -> String {
    stdout
        .lines()
        .rev()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find_map(|v| Outcome::of(&v).error)
        .unwrap_or_else(|| {
            stderr
                .trim()
                .lines()
                .last()
                .unwrap_or("no output")
                .to_string()
        })
}
