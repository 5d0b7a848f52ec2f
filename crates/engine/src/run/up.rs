//! Up: the run's CA and certificates, its networks on free subnets, its nodes (each from
//! its `node::NodeSpec`, named and labelled by the plan), the address map saved as
//! evidence, and the nodes' isolation.

use std::time::Duration;

use rundir::{ADDRESSES_SCHEMA, AddressMap, NetworkAddress, NodeAddresses};
use runtime::{ContainerSpec, NetworkSpec};
use scenario::NodeKind;

use super::Run;
use crate::EngineError;
use crate::isolate;
use crate::limits::Role;
use crate::node::{self, NodeSpec, Placement};
use crate::plan::free_subnets;
use crate::save;

impl Run<'_> {
    /// Everything but the taps, which start once the lab is ready.
    pub(super) async fn up(&mut self) -> Result<(), EngineError> {
        self.progress.phase(&format!(
            "starting {} ({} nodes)",
            self.scenario.metadata.name,
            self.scenario.nodes.len()
        ));
        self.make_identities()?;
        self.phase = "creating the networks".into();
        self.create_networks().await?;
        // Other runs may plan now: our names and subnets exist.
        self.plan_lock = None;
        self.phase = "starting the nodes".into();
        for node in &self.scenario.nodes {
            let spec = self.spec(node);
            if !spec.after_ready {
                self.start(&node.name, &spec).await?;
            }
        }
        // Still "starting the nodes" for an interruption: the map is part of their start.
        self.save_addresses().await
    }

    /// The address map (`addresses.json`): which node owns which address, as the daemon
    /// says once the nodes are up. A capture only says addresses and the AE titles peers
    /// claim; grading names each end of a connection by this map, offline.
    async fn save_addresses(&self) -> Result<(), EngineError> {
        let mut nodes = Vec::new();
        for node in &self.scenario.nodes {
            let joined = if node.networks().is_empty() {
                Vec::new()
            } else {
                self.docker
                    .addresses(&self.plan.container(&node.name))
                    .await?
            };
            let addresses = node
                .networks()
                .iter()
                .filter_map(|net| {
                    let on = joined
                        .iter()
                        .find(|a| a.network == self.plan.network(net))?;
                    Some(NetworkAddress {
                        network: net.clone(),
                        ipv4: on.ip.parse().ok()?,
                    })
                })
                .collect();
            // The lab file's own word for the kind (its serde tag), not a second list.
            let kind = serde_json::to_value(&node.kind)
                .ok()
                .and_then(|v| Some(v.get("kind")?.as_str()?.to_string()))
                .unwrap_or_default();
            nodes.push(NodeAddresses {
                node: node.name.clone(),
                kind,
                role: format!("{:?}", Role::of(&node.kind)).to_lowercase(),
                aet: node.aet().map(str::to_string),
                addresses,
            });
        }
        let map = AddressMap {
            schema: ADDRESSES_SCHEMA.into(),
            nodes,
        };
        let json = serde_json::to_vec_pretty(&map)
            .map_err(|e| EngineError::io("encoding the address map")(e.into()))?;
        save::write(&self.dir.addresses(), json)
    }

    /// The spec of `node` in this run: its identities, the grader's account, the run's
    /// bridges.
    pub(super) fn spec(&self, node: &scenario::Node) -> NodeSpec {
        let bridge = |net: &str| self.bridge_of(net);
        let cx = node::Context {
            scenario: self.scenario,
            identities: &self.identities,
            grader_password: Some(&self.grader_password),
            bridge: &bridge,
        };
        node::spec(&cx, node)
    }

    /// The run's bridge interface of lab network `net`.
    pub(super) fn bridge_of(&self, net: &str) -> String {
        let index = self
            .scenario
            .networks
            .iter()
            .position(|n| n.name == net)
            .unwrap_or(0);
        self.plan.bridge(index)
    }

    /// Creates and starts `node`'s container from its spec.
    pub(super) async fn start(&self, node: &str, spec: &NodeSpec) -> Result<(), EngineError> {
        let (networks, host_network) = match &spec.placement {
            Placement::Networks(nets) => (
                nets.iter()
                    .map(|n| (self.plan.network(n), vec![node.to_string()]))
                    .collect(),
                false,
            ),
            Placement::Tap { .. } => (Vec::new(), true),
        };
        let container = ContainerSpec {
            name: self.plan.container(node),
            image: spec.image.tag(),
            cmd: spec.cmd.clone(),
            env: spec.env.clone(),
            labels: self.plan.labels(node),
            networks,
            host_network,
            cap_add: spec.role.caps(),
            limits: Some(spec.budget.limits()),
            sysctls: spec.sysctls.clone().into_iter().collect(),
            files: spec
                .files
                .iter()
                .map(|f| (f.dir.clone(), f.name.clone(), f.bytes.clone()))
                .collect(),
            tmpfs: spec.tmpfs.clone(),
            ..Default::default()
        };
        self.docker.start_container(&container).await?;
        Ok(())
    }

    /// A CA for the run and a certificate for every node that speaks TLS, saved as
    /// evidence in `pki/`.
    fn make_identities(&mut self) -> Result<(), EngineError> {
        let Some((ca, ids)) = node::identities(self.scenario, &self.plan.id)? else {
            return Ok(());
        };
        let dir = self.dir.pki();
        save::mkdir(&dir)?;
        save::write(&dir.join("ca.pem"), ca.ca_pem())?;
        for (name, id) in &ids {
            save::write(&dir.join(format!("{name}.pem")), &id.cert_pem)?;
            save::write(&dir.join(format!("{name}.key")), &id.key_pem)?;
        }
        self.identities = ids;
        Ok(())
    }

    /// Creates the run's networks on free subnets of the pool, each on the plan's bridge.
    async fn create_networks(&self) -> Result<(), EngineError> {
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
                    return Err(EngineError::PoolExhausted);
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
                    Err(e @ runtime::RuntimeError::SubnetTaken { .. }) => {
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
        }
        Ok(())
    }

    /// Every node on internal networks only loses its gateway routes: no way out, seen
    /// in its own routing table. Run for all nodes at once.
    pub(super) async fn isolate_nodes(&self) -> Result<(), EngineError> {
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
                .map(|n| isolate::isolate(&self.docker, &self.plan, n)),
        )
        .await;
        results.into_iter().collect()
    }
}
