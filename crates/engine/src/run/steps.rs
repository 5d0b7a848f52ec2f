//! Steps: each step kind as the command it runs in its node (a lab-agent command line,
//! the paper's pynetdicom script, nmap, or the engine's own `harvest`), recorded as a
//! `StepRecord` with the tool's JSON line as its result.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use report::StepRecord;
use rundir::RunDir;
use scenario::{Action, NodeKind};

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

    /// The agent's peer arguments from `modality` to `pacs`, TLS options included.
    pub(super) fn peer_args(
        &self,
        action: &str,
        modality: &str,
        pacs: &str,
        host: &str,
    ) -> Vec<String> {
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
                format!("{AGENT_FILES_DIR}/ca.pem"),
                "--server-name".into(),
                pacs.into(),
            ]);
            if tls.client_certificate {
                args.extend([
                    "--cert".into(),
                    format!("{AGENT_FILES_DIR}/client.pem"),
                    "--key".into(),
                    format!("{AGENT_FILES_DIR}/client.key"),
                ]);
            }
        }
        args
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
        result["evidence"] = serde_json::json!(file);
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
                EngineError::NotReady(format!(
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
