//! Networks: creating one with a named bridge, listing by label, reading one back, and
//! the subnets and bridge names already taken.

use std::collections::HashMap;

use bollard::models::{Ipam, IpamConfig, NetworkCreateRequest};
use bollard::query_parameters::ListNetworksOptionsBuilder;

use super::{Docker, Labelled, label_filter};
use crate::error::{Context, RuntimeError};

/// A network to create.
#[derive(Debug, Clone)]
pub struct NetworkSpec {
    pub name: String,
    /// Name of the host's bridge interface, so a sniffer in the host namespace can tap it
    /// (at most 15 characters: a Linux interface name).
    pub bridge: String,
    pub subnet: String,
    pub internal: bool,
    pub labels: HashMap<String, String>,
}

/// What a network of a run looks like from the host.
#[derive(Debug, Clone, Default)]
pub struct NetworkInfo {
    pub name: String,
    /// The host bridge interface (`com.docker.network.bridge.name`).
    pub bridge: Option<String>,
    pub subnets: Vec<String>,
    /// The bridge's own address (Docker calls it the gateway).
    pub gateways: Vec<String>,
    pub internal: bool,
    pub labels: HashMap<String, String>,
}

impl Docker {
    /// Every network on the daemon.
    async fn all_networks(&self) -> Result<Vec<bollard::models::Network>, RuntimeError> {
        self.api
            .list_networks(None)
            .await
            .context(|| "listing networks".into())
    }

    /// Subnets (CIDR) of every existing network, so a new one can avoid them.
    pub async fn used_subnets(&self) -> Result<Vec<String>, RuntimeError> {
        let nets = self.all_networks().await?;
        Ok(nets
            .into_iter()
            .filter_map(|n| n.ipam.and_then(|i| i.config))
            .flatten()
            .filter_map(|c| c.subnet)
            .collect())
    }

    pub async fn create_network(&self, spec: &NetworkSpec) -> Result<(), RuntimeError> {
        let request = NetworkCreateRequest {
            name: spec.name.clone(),
            driver: Some("bridge".into()),
            internal: Some(spec.internal),
            ipam: Some(Ipam {
                config: Some(vec![IpamConfig {
                    subnet: Some(spec.subnet.clone()),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
            options: Some(HashMap::from([(
                "com.docker.network.bridge.name".to_string(),
                spec.bridge.clone(),
            )])),
            labels: Some(spec.labels.clone()),
            ..Default::default()
        };
        self.api.create_network(request).await.map_err(|source| {
            let context = format!("creating network {}", spec.name);
            if source.to_string().contains("overlap") {
                RuntimeError::SubnetTaken {
                    subnet: spec.subnet.clone(),
                    context,
                    source,
                }
            } else {
                RuntimeError::docker(context, source)
            }
        })?;
        Ok(())
    }

    pub async fn labelled_networks(
        &self,
        label: &str,
        value: Option<&str>,
    ) -> Result<Vec<Labelled>, RuntimeError> {
        let options = ListNetworksOptionsBuilder::new()
            .filters(&label_filter(label, value))
            .build();
        let list = self
            .api
            .list_networks(Some(options))
            .await
            .context(|| "listing networks".into())?;
        Ok(list
            .into_iter()
            .map(|n| Labelled {
                name: n.name.unwrap_or_default(),
                labels: n.labels.unwrap_or_default(),
            })
            .collect())
    }

    /// A network's bridge, subnets, gateway and flags.
    pub async fn network(&self, name: &str) -> Result<NetworkInfo, RuntimeError> {
        let n = self
            .api
            .inspect_network(name, None)
            .await
            .context(|| format!("inspecting network {name}"))?;
        let configs = n.ipam.and_then(|i| i.config).unwrap_or_default();
        Ok(NetworkInfo {
            name: n.name.unwrap_or_default(),
            bridge: n
                .options
                .and_then(|o| o.get("com.docker.network.bridge.name").cloned()),
            subnets: configs.iter().filter_map(|c| c.subnet.clone()).collect(),
            gateways: configs.iter().filter_map(|c| c.gateway.clone()).collect(),
            internal: n.internal.unwrap_or(false),
            labels: n.labels.unwrap_or_default(),
        })
    }

    /// Bridge interface names of every network on the daemon (so a new one can avoid them).
    pub async fn used_bridges(&self) -> Result<Vec<String>, RuntimeError> {
        let nets = self.all_networks().await?;
        Ok(nets
            .into_iter()
            .filter_map(|n| {
                n.options
                    .and_then(|o| o.get("com.docker.network.bridge.name").cloned())
            })
            .collect())
    }
}
