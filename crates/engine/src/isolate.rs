//! Node isolation: a lab node on internal networks loses every gateway route, so it has
//! no way out, seen in its own routing table.

use std::time::Duration;

use runtime::{ContainerSpec, Docker, LABEL_HELPER};

use crate::EngineError;
use crate::images::Image;
use crate::limits::Role;
use crate::plan::RunPlan;

/// Deletes every gateway route of the namespace it runs in (SIOCDELRT, from perl: the
/// images carry no iproute2); prints `{"event":"isolated",...}`.
const DROP_GATEWAY_ROUTES: &str = include_str!("../../../compose/helpers/drop-gateway-routes.pl");

/// Removes the gateway routes of a node's container, so a lab node has no default route
/// and no gateway at all (Docker 20.10 gives containers on `internal` networks a default
/// route via the bridge; iptables alone then drops what leaves). A helper container
/// joins the node's network namespace with NET_ADMIN for a moment; the node itself never
/// gets the capability.
pub(crate) async fn isolate(
    docker: &Docker,
    plan: &RunPlan,
    node: &str,
) -> Result<(), EngineError> {
    let target = plan.container(node);
    let name = format!("{target}-isolate");
    let mut labels = plan.labels(&format!("{node}-isolate"));
    labels.insert(LABEL_HELPER.into(), "isolate".into());
    let spec = ContainerSpec {
        name: name.clone(),
        image: Image::Agent.tag(),
        cmd: vec!["perl".into(), "-e".into(), DROP_GATEWAY_ROUTES.into()],
        labels,
        network_container: Some(target),
        cap_add: Role::RouteHelper.caps(),
        limits: Some(Role::RouteHelper.limits()),
        ..Default::default()
    };
    docker.start_container(&spec).await?;
    let code = docker.wait_stopped(&name, Duration::from_secs(20)).await?;
    let logs = docker.logs(&name).await.unwrap_or_default();
    docker.remove_container(&name).await?;
    match code {
        Some(0) => Ok(()),
        Some(c) => Err(EngineError::Helper(format!(
            "node `{node}`: removing its gateway routes failed (exit {c}): {}",
            logs.trim()
        ))),
        None => Err(EngineError::Helper(format!(
            "node `{node}`: removing its gateway routes did not finish within 20 s"
        ))),
    }
}
