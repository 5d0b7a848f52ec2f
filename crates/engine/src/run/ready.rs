//! Ready: every PACS answers REST and a real C-ECHO, every attacker daemon has said its
//! first line; then the taps start (after the probes, so the capture holds the lab's
//! exchange) and are waited for in turn. Readiness is read from the nodes, never slept for.

use std::time::{Duration, Instant};

use scenario::NodeKind;

use super::{READY_LIMIT, Run, steps::agent_error};
use crate::EngineError;
use crate::node::{Placement, Ready};
use crate::pacs_evidence;

/// How long a daemon or a tap may take to say its first line.
const LINE_LIMIT: Duration = Duration::from_secs(20);

impl Run<'_> {
    pub(super) async fn wait_ready(&self) -> Result<(), EngineError> {
        for node in &self.scenario.nodes {
            if self.spec(node).ready == Ready::Pacs {
                self.wait_pacs(node).await?;
            }
        }
        Ok(())
    }

    async fn wait_pacs(&self, node: &scenario::Node) -> Result<(), EngineError> {
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
                return Err(EngineError::NotReady(format!(
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
                return Err(EngineError::NotReady(format!(
                    "node `{}`: Orthanc's REST API did not answer within {} s",
                    node.name,
                    READY_LIMIT.as_secs()
                )));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        // The DICOM port answers too: a real C-ECHO from a modality on the same network.
        let Some(modality) = self.scenario.nodes.iter().find(|m| {
            matches!(m.kind, NodeKind::Modality { .. })
                && m.networks().iter().any(|n| node.networks().contains(n))
        }) else {
            return Ok(());
        };
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
        // 3 = refused: the PACS answers DICOM but rejects this modality, which a hardened
        // lab may well do; only unreachable means not ready.
        if out.exit_code != 0 && out.exit_code != 3 {
            return Err(EngineError::NotReady(format!(
                "node `{}` did not answer C-ECHO: {}",
                node.name,
                agent_error(&out.stdout, &out.stderr)
            )));
        }
        Ok(())
    }

    /// Attacker daemons (started with the lab) have said their first line.
    pub(super) async fn wait_daemons(&self) -> Result<(), EngineError> {
        for node in &self.scenario.nodes {
            if let NodeKind::Attacker {
                daemon: Some(d), ..
            } = &node.kind
                && let Ready::Line(markers) = self.spec(node).ready
            {
                self.wait_for_line(&node.name, markers, &format!("running its {}", d.action))
                    .await?;
            }
        }
        Ok(())
    }

    /// Starts the nodes that wait for the lab (the sniffer and the IDS, tapping a bridge
    /// from the host's network namespace) and waits until each is capturing.
    pub(super) async fn start_taps(&mut self) -> Result<(), EngineError> {
        for node in &self.scenario.nodes {
            let spec = self.spec(node);
            if !spec.after_ready {
                continue;
            }
            self.start(&node.name, &spec).await?;
            self.taps_started.push(node.name.clone());
            if let Ready::Line(markers) = spec.ready {
                let what = match &spec.placement {
                    Placement::Tap { network } => {
                        format!("capturing on {}", self.bridge_of(network))
                    }
                    Placement::Networks(_) => "ready".into(),
                };
                self.wait_for_line(&node.name, markers, &what).await?;
            }
        }
        Ok(())
    }

    /// Waits until a node's log shows one of `markers` (its readiness line).
    async fn wait_for_line(
        &self,
        node: &str,
        markers: &[&str],
        what: &str,
    ) -> Result<(), EngineError> {
        let container = self.plan.container(node);
        let deadline = Instant::now() + LINE_LIMIT;
        loop {
            let logs = self.docker.logs(&container).await?;
            if markers.iter().any(|m| logs.contains(m)) {
                return Ok(());
            }
            if !self.docker.is_running(&container).await? {
                return Err(EngineError::NotReady(format!(
                    "node `{node}` stopped before {what}:\n{}",
                    logs.trim()
                )));
            }
            if Instant::now() > deadline {
                return Err(EngineError::NotReady(format!(
                    "node `{node}` was not {what} within {} s",
                    LINE_LIMIT.as_secs()
                )));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
