//! Collect: the evidence of a run saved into its directory before teardown: each PACS's
//! state (read on its own loopback) and, where a lab grades them, its archived instances'
//! signatures (`signatures`), the taps' capture and alerts, attacker daemons'
//! captures, every node's log and the step results.

use std::time::Duration;

use rundir::RunDir;
use scenario::NodeKind;

use super::Run;
use crate::EngineError;
use crate::node::{self, Output};
use crate::{pacs_evidence, save, signatures};

impl Run<'_> {
    /// Saves PACS state, the capture and every node's log into the run directory.
    pub(super) async fn collect(&mut self) -> Result<(), EngineError> {
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
                } else if let Err(e) = this.verify_signatures(&node.name).await {
                    problems.push(format!("PACS `{}` signatures: {e}", node.name));
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
                    daemon: Some(_), ..
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
                    if let Some(out) = node::output(node, &this.dir) {
                        let saved =
                            save::copy_out(&this.docker, &container, out.inner, &out.dest, out.max)
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
                let saved = match node::output(node, &this.dir) {
                    Some(out) => this.save_tap_output(&node.name, &out).await,
                    None => Ok(()),
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
                let dest = self.dir.node_log(&node.name);
                if let Err(e) = save::write(&dest, logs) {
                    problems.push(format!("log of `{}`: {e}", node.name));
                }
            }
        }
        let steps_log = RunDir::steps_text(&self.steps);
        if let Err(e) = save::write(&self.dir.steps(), steps_log) {
            problems.push(format!("step results: {e}"));
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(EngineError::EvidenceLost(problems))
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
            &self.dir.pacs(node),
            &file_checks,
        )
        .await
    }

    /// The PACS side's verification of the archived instances' signatures, for a lab
    /// that grades them (`pacs.signatures`), trusting the run's CA.
    async fn verify_signatures(&self, node: &str) -> Result<(), EngineError> {
        let graded = self.scenario.checks.iter().any(
            |c| matches!(&c.kind, scenario::CheckKind::PacsSignatures { node: n, .. } if n == node),
        );
        if !graded {
            return Ok(());
        }
        let ca = self.identities.values().next().map(|i| i.ca_pem.as_str());
        signatures::verify(&self.docker, &self.plan, &self.dir, node, ca).await
    }

    /// Stops a tap node (it flushes on SIGTERM) and copies its output file out.
    async fn save_tap_output(&self, node: &str, out: &Output) -> Result<(), EngineError> {
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
                return Err(EngineError::EvidenceLost(vec![
                    "it did not stop within 15 s of SIGTERM".into(),
                ]));
            }
        }
        save::copy_out(&self.docker, &container, out.inner, &out.dest, out.max).await?;
        Ok(())
    }
}
