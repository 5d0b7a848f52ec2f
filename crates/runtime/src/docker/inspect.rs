//! What the daemon says about one container: running or not, how it ended, whether it met
//! its limits, its addresses.

use std::time::Duration;

use bollard::query_parameters::StatsOptionsBuilder;
use futures_util::StreamExt;

use super::Docker;
use crate::error::{Context, RuntimeError};

/// A container's IPv4 address on one network it joined.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address {
    pub network: String,
    pub ip: String,
    /// The network's gateway as Docker names it: the bridge's own address (empty when
    /// the network has none).
    pub gateway: String,
}

/// Whether a container reached one of its limits, as the daemon saw it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LimitState {
    /// The kernel's OOM killer acted in the container (State.OOMKilled).
    pub oom_killed: bool,
    pub running: bool,
    /// Processes now, and the limit (from the stats of a running container).
    pub pids_current: Option<u64>,
    pub pids_limit: Option<u64>,
}

impl Docker {
    /// The daemon's view of one container.
    async fn inspect(
        &self,
        container: &str,
    ) -> Result<bollard::models::ContainerInspectResponse, RuntimeError> {
        self.api
            .inspect_container(container, None)
            .await
            .context(|| format!("inspecting {container}"))
    }

    /// Waits up to `limit` for the container to stop; returns its exit code, or None if
    /// it was still running.
    pub async fn wait_stopped(
        &self,
        container: &str,
        limit: Duration,
    ) -> Result<Option<i64>, RuntimeError> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let info = self.inspect(container).await?;
            let state = info.state.unwrap_or_default();
            if state.running != Some(true) {
                return Ok(Some(state.exit_code.unwrap_or(-1)));
            }
            if tokio::time::Instant::now() >= deadline {
                return Ok(None);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Whether the container is running; Err if it does not exist.
    pub async fn is_running(&self, container: &str) -> Result<bool, RuntimeError> {
        let info = self.inspect(container).await?;
        Ok(info.state.and_then(|s| s.running).unwrap_or(false))
    }

    /// The container's IPv4 address on each network it joined.
    pub async fn addresses(&self, container: &str) -> Result<Vec<Address>, RuntimeError> {
        let info = self.inspect(container).await?;
        Ok(info
            .network_settings
            .and_then(|n| n.networks)
            .unwrap_or_default()
            .into_iter()
            .filter_map(|(net, ep)| {
                let gw = ep.gateway.unwrap_or_default();
                ep.ip_address.filter(|ip| !ip.is_empty()).map(|ip| Address {
                    network: net,
                    ip,
                    gateway: gw,
                })
            })
            .collect())
    }

    /// Docker's words for how a container ended (or that it runs): exit code, OOM kill.
    pub async fn describe_state(&self, container: &str) -> Result<String, RuntimeError> {
        let info = self.inspect(container).await?;
        let st = info.state.unwrap_or_default();
        if st.running == Some(true) {
            return Ok("running".into());
        }
        let code = st.exit_code.unwrap_or(-1);
        let mut text = format!("exited with code {code}");
        if st.oom_killed == Some(true) {
            text.push_str(" (killed: out of memory)");
        } else if code == 137 {
            text.push_str(" (killed by SIGKILL, e.g. `docker kill`)");
        } else if code == 143 {
            text.push_str(" (stopped by SIGTERM)");
        }
        if let Some(err) = st.error.filter(|e| !e.is_empty()) {
            text.push_str(&format!(": {err}"));
        }
        Ok(text)
    }

    /// Whether the container met its memory or pids limit: the OOM flag (kept after the
    /// container exits) and, with `count_processes`, while it runs, its process count.
    /// Counting asks for the container's stats, which the daemon answers on its next 1 s
    /// tick; the OOM flag alone is one inspect.
    pub async fn limit_state(
        &self,
        container: &str,
        count_processes: bool,
    ) -> Result<LimitState, RuntimeError> {
        let info = self.inspect(container).await?;
        let st = info.state.unwrap_or_default();
        let mut out = LimitState {
            oom_killed: st.oom_killed == Some(true),
            running: st.running == Some(true),
            ..Default::default()
        };
        if out.running && count_processes {
            // One sample, without the second one the CPU figures need (which takes 1 s).
            let options = StatsOptionsBuilder::new()
                .stream(false)
                .one_shot(true)
                .build();
            let mut stream = self.api.stats(container, Some(options));
            if let Some(stats) = stream.next().await {
                let stats = stats.context(|| format!("reading the stats of {container}"))?;
                if let Some(p) = stats.pids_stats {
                    out.pids_current = p.current;
                    out.pids_limit = p.limit;
                }
            }
        }
        Ok(out)
    }
}
