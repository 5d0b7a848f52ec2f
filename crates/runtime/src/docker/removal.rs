//! Teardown by label alone: marker volumes (durable facts about a run), one container, or
//! every object of a run.

use std::collections::HashMap;

use bollard::query_parameters::{
    ListVolumesOptionsBuilder, RemoveContainerOptionsBuilder, RemoveVolumeOptions,
};

use super::{ContainerInfo, Docker, Labelled, label_filter};
use crate::LABEL_RUN;
use crate::error::{Context, RuntimeError};

/// What a teardown removed.
#[derive(Debug, Default, Clone)]
pub struct Removed {
    pub containers: Vec<String>,
    pub networks: Vec<String>,
    /// Marker volumes (e.g. a run kept on purpose by `lab up`).
    pub volumes: Vec<String>,
}

impl Docker {
    /// Creates a labelled marker volume (no data): a durable fact about a run that
    /// survives the process that made it, e.g. "kept on purpose".
    pub async fn create_marker(
        &self,
        name: &str,
        labels: &HashMap<String, String>,
    ) -> Result<(), RuntimeError> {
        let request = bollard::models::VolumeCreateRequest {
            name: Some(name.to_string()),
            labels: Some(labels.clone()),
            ..Default::default()
        };
        self.api
            .create_volume(request)
            .await
            .context(|| format!("creating volume {name}"))?;
        Ok(())
    }

    /// Volumes carrying `label=value` (or just the label): (name, labels).
    pub async fn labelled_volumes(
        &self,
        label: &str,
        value: Option<&str>,
    ) -> Result<Vec<Labelled>, RuntimeError> {
        let options = ListVolumesOptionsBuilder::new()
            .filters(&label_filter(label, value))
            .build();
        let list = self
            .api
            .list_volumes(Some(options))
            .await
            .context(|| "listing volumes".into())?;
        Ok(list
            .volumes
            .unwrap_or_default()
            .into_iter()
            .map(|v| Labelled {
                name: v.name,
                labels: v.labels,
            })
            .collect())
    }

    /// Removes one container (forced), if it exists.
    pub async fn remove_container(&self, name: &str) -> Result<(), RuntimeError> {
        let options = RemoveContainerOptionsBuilder::new()
            .force(true)
            .v(true)
            .build();
        match self.api.remove_container(name, Some(options)).await {
            Ok(())
            | Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404 | 409,
                ..
            }) => Ok(()),
            Err(e) => Err(e).context(|| format!("removing container {name}")),
        }
    }

    /// Removes every container, then every network, labelled with run id `run` (or every
    /// run when None). Needs nothing but the labels.
    pub async fn remove_runs(&self, run: Option<&str>) -> Result<Removed, RuntimeError> {
        let mut removed = Removed::default();
        for ContainerInfo { name, .. } in self.containers(LABEL_RUN, run).await? {
            let options = RemoveContainerOptionsBuilder::new()
                .force(true)
                .v(true)
                .build();
            match self.api.remove_container(&name, Some(options)).await {
                Ok(())
                | Err(bollard::errors::Error::DockerResponseServerError {
                    status_code: 404, ..
                }) => {}
                // Already being removed by a concurrent teardown.
                Err(bollard::errors::Error::DockerResponseServerError {
                    status_code: 409, ..
                }) => {}
                Err(e) => return Err(e).context(|| format!("removing container {name}")),
            }
            removed.containers.push(name);
        }
        for Labelled { name, .. } in self.labelled_networks(LABEL_RUN, run).await? {
            match self.api.remove_network(&name).await {
                Ok(())
                | Err(bollard::errors::Error::DockerResponseServerError {
                    status_code: 404, ..
                }) => {}
                Err(e) => return Err(e).context(|| format!("removing network {name}")),
            }
            removed.networks.push(name);
        }
        for Labelled { name, .. } in self.labelled_volumes(LABEL_RUN, run).await? {
            match self
                .api
                .remove_volume(&name, None::<RemoveVolumeOptions>)
                .await
            {
                Ok(())
                | Err(bollard::errors::Error::DockerResponseServerError {
                    status_code: 404, ..
                }) => {}
                Err(e) => return Err(e).context(|| format!("removing volume {name}")),
            }
            removed.volumes.push(name);
        }
        Ok(removed)
    }
}
