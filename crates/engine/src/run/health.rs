//! Health: nodes that died during the run, or met their memory or pids limit, named in
//! words; such a node is the run's error (exit 2), not a verdict drawn from partial
//! evidence.

use scenario::NodeKind;

use super::Run;
use crate::EngineError;
use crate::limits::{self, NodeBudget};

impl Run<'_> {
    /// `error` with the nodes that met a limit named first: they are the cause, whatever
    /// failed after them. A node still at its pids limit is stopped before the evidence is
    /// saved (it would only go on spending the host's CPU).
    pub(super) async fn limits_cause(&self, error: Option<String>) -> Option<String> {
        let mut met = self.limits_met(true).await;
        if met.is_empty() {
            return error;
        }
        for (node, words) in &mut met {
            if words.contains("pids limit") {
                let container = self.plan.container(node);
                if self.docker.is_running(&container).await.unwrap_or(false)
                    && self.docker.signal(&container, "SIGKILL").await.is_ok()
                {
                    words.push_str(" (the engine stopped it)");
                }
            }
        }
        let words: Vec<&str> = met.iter().map(|(_, w)| w.as_str()).collect();
        let words = words.join("; ");
        Some(match error {
            Some(e) if e.contains(&words) => e,
            Some(e) => format!("{words}; then: {e}"),
            None => words,
        })
    }

    /// `error` once saving the evidence failed with `e`. A node killed as the steps ended
    /// can still look alive to Docker when they are checked; a collection that then fails
    /// asks again, so the report names the cause.
    pub(super) async fn collection_failed(
        &self,
        mut error: Option<String>,
        e: EngineError,
    ) -> Option<String> {
        if error.is_none()
            && let Err(dead) = self.nodes_still_up(true).await
        {
            error = Some(dead.to_string());
        }
        let msg = format!("saving evidence: {e}");
        Some(error.map(|x| format!("{x}; {msg}")).unwrap_or(msg))
    }

    /// Every node is still up once the steps are over: a PACS that died mid-transfer, a
    /// sniffer that stopped (the capture then misses part of the exchange) make the run
    /// an error, named in words, rather than a verdict drawn from partial evidence.
    /// `collected`: asked after the collection, which stops the taps and attacker daemons
    /// itself (SIGTERM: they exit 0, or 143); those ends are not deaths.
    pub(super) async fn nodes_still_up(&self, collected: bool) -> Result<(), EngineError> {
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
            Err(EngineError::NodesFailed(dead))
        }
    }

    /// The nodes that met their memory or pids limit, each with words naming the node and
    /// the limit (`limits::hits`); `count_processes` also reads the running nodes' process
    /// counts. All nodes at once; a node not created yet, or a tap not started, is skipped.
    pub(super) async fn limits_met(&self, count_processes: bool) -> Vec<(String, String)> {
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
}
