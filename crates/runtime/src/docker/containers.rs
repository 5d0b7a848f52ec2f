//! Containers: a [`ContainerSpec`] turned into what Docker creates (always with limits,
//! `CapDrop: ALL` plus the capabilities asked for, `no-new-privileges`), its extra
//! networks joined and its files copied in before it starts; listing by label; signals.

use std::collections::HashMap;

use bollard::models::{
    ContainerCreateBody, EndpointSettings, HostConfig, HostConfigLogConfig, NetworkConnectRequest,
};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, KillContainerOptionsBuilder, ListContainersOptionsBuilder,
    UploadToContainerOptionsBuilder,
};
use bytes::Bytes;

use super::files::tar_of;
use super::{Docker, label_filter};
use crate::error::{Context, RuntimeError};

/// A container to create and start.
#[derive(Debug, Clone, Default)]
pub struct ContainerSpec {
    pub name: String,
    pub image: String,
    pub cmd: Vec<String>,
    pub env: Vec<String>,
    pub labels: HashMap<String, String>,
    /// Networks to join, each with the DNS aliases the container answers to there.
    pub networks: Vec<(String, Vec<String>)>,
    /// Run in the host's network namespace (the sniffer, to see a lab bridge).
    pub host_network: bool,
    /// The only capabilities the container has: every other one is dropped (`CapDrop:
    /// ALL`), and no process in it gains any through setuid files (`no-new-privileges`).
    pub cap_add: Vec<String>,
    /// Memory, processes, CPU weight and log size. Required: a container without them is
    /// refused (`create_container`), so no node of a run can take the host down with it.
    pub limits: Option<Limits>,
    /// Namespaced kernel settings of the container (HostConfig `Sysctls`), e.g.
    /// `net.ipv4.ip_forward=1` for an on-path attacker.
    pub sysctls: HashMap<String, String>,
    /// Files put into the container before it starts: (directory, file name, contents).
    pub files: Vec<(String, String, Vec<u8>)>,
    /// Join another container's network namespace (`--network container:<name>`): a
    /// helper that acts on a node's own interfaces and routes.
    pub network_container: Option<String>,
    /// Its output is read through an attach (`start_attached`), not from the logs.
    pub attached: bool,
    /// In-memory file systems: (mount point, tmpfs options such as `size=4g`). They go with
    /// the container, so teardown by label removes them too.
    pub tmpfs: Vec<(String, String)>,
}

/// The resource limits of a container (HostConfig `Memory`, `MemorySwap`, `PidsLimit`,
/// `CpuShares` and the json-file log driver's `max-size`/`max-file`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Memory in bytes, page cache and tmpfs included; swap is not allowed on top.
    pub memory: u64,
    /// The most processes and threads at once.
    pub pids: u32,
    /// CPU weight against other containers (Docker's default is 1024).
    pub cpu_shares: u32,
    /// The most bytes of one log file, and how many are kept (the oldest go first).
    pub log_bytes: u64,
    pub log_files: u32,
}

/// A container as listed by label.
#[derive(Debug, Clone)]
pub struct ContainerInfo {
    pub name: String,
    pub labels: HashMap<String, String>,
    /// `running`, `exited`, `created`, ...
    pub state: String,
    /// Docker's words, e.g. `Up 3 minutes` or `Exited (137) 5 seconds ago`.
    pub status: String,
    /// Unix time of creation.
    pub created: i64,
}

impl Docker {
    /// Creates the container, joins its networks, copies its files in, and starts it.
    pub async fn start_container(&self, spec: &ContainerSpec) -> Result<(), RuntimeError> {
        self.create_container(spec).await?;
        self.start(&spec.name).await
    }

    /// Starts a created container.
    pub async fn start(&self, name: &str) -> Result<(), RuntimeError> {
        self.api
            .start_container(name, None)
            .await
            .context(|| format!("starting container {name}"))
    }

    /// Creates the container, joins its networks and copies its files in, without
    /// starting it.
    pub async fn create_container(&self, spec: &ContainerSpec) -> Result<(), RuntimeError> {
        let body = create_body(spec)?;
        let options = CreateContainerOptionsBuilder::new()
            .name(&spec.name)
            .build();
        self.api
            .create_container(Some(options), body)
            .await
            .map_err(|source| {
                let context = format!("creating container {} from {}", spec.name, spec.image);
                // Creating refers to nothing else by name: a 404 is the image.
                if crate::error::status(&source) == Some(404) {
                    RuntimeError::ImageMissing {
                        image: spec.image.clone(),
                        context,
                        source,
                    }
                } else {
                    RuntimeError::docker(context, source)
                }
            })?;
        // The first network is joined at creation (`create_body`), the others now.
        for (net, aliases) in spec.networks.iter().skip(1) {
            let request = NetworkConnectRequest {
                container: spec.name.clone(),
                endpoint_config: Some(EndpointSettings {
                    aliases: Some(aliases.clone()),
                    ..Default::default()
                }),
            };
            self.api
                .connect_network(net, request)
                .await
                .context(|| format!("connecting {} to {net}", spec.name))?;
        }
        self.put_files(&spec.name, &spec.files).await
    }

    /// Copies files, (directory, name, contents), into a container, created or running.
    pub async fn put_files(
        &self,
        container: &str,
        files: &[(String, String, Vec<u8>)],
    ) -> Result<(), RuntimeError> {
        let mut by_dir: HashMap<&str, Vec<(&str, &[u8])>> = HashMap::new();
        for (dir, name, contents) in files {
            by_dir.entry(dir).or_default().push((name, contents));
        }
        for (dir, files) in by_dir {
            let tar = tar_of(&files).map_err(|source| RuntimeError::Io {
                context: "packing files".into(),
                source,
            })?;
            let options = UploadToContainerOptionsBuilder::new().path(dir).build();
            self.api
                .upload_to_container(
                    container,
                    Some(options),
                    bollard::body_full(Bytes::from(tar)),
                )
                .await
                .context(|| format!("copying files into {container}:{dir}"))?;
        }
        Ok(())
    }

    /// Every container carrying `label=value` (or just the label), running or not.
    pub async fn containers(
        &self,
        label: &str,
        value: Option<&str>,
    ) -> Result<Vec<ContainerInfo>, RuntimeError> {
        let options = ListContainersOptionsBuilder::new()
            .all(true)
            .filters(&label_filter(label, value))
            .build();
        let list = self
            .api
            .list_containers(Some(options))
            .await
            .context(|| "listing containers".into())?;
        Ok(list
            .into_iter()
            .map(|c| ContainerInfo {
                name: c
                    .names
                    .and_then(|n| n.first().cloned())
                    .unwrap_or_default()
                    .trim_start_matches('/')
                    .to_string(),
                labels: c.labels.unwrap_or_default(),
                state: c.state.map(|s| s.to_string()).unwrap_or_default(),
                status: c.status.unwrap_or_default(),
                created: c.created.unwrap_or_default(),
            })
            .collect())
    }

    pub async fn signal(&self, container: &str, signal: &str) -> Result<(), RuntimeError> {
        let options = KillContainerOptionsBuilder::new().signal(signal).build();
        self.api
            .kill_container(container, Some(options))
            .await
            .context(|| format!("sending {signal} to {container}"))
    }
}

/// What Docker is asked to create for `spec`: its limits (refused without them), every
/// capability dropped but those asked for, `no-new-privileges`, its labels and the first
/// of its networks (the others are joined after creation).
fn create_body(spec: &ContainerSpec) -> Result<ContainerCreateBody, RuntimeError> {
    let limits = spec
        .limits
        .ok_or_else(|| RuntimeError::NoLimits(spec.name.clone()))?;
    let endpoints = spec.networks.first().map(|(net, aliases)| {
        HashMap::from([(
            net.clone(),
            EndpointSettings {
                aliases: Some(aliases.clone()),
                ..Default::default()
            },
        )])
    });
    Ok(ContainerCreateBody {
        image: Some(spec.image.clone()),
        cmd: Some(spec.cmd.clone()),
        env: Some(spec.env.clone()),
        labels: Some(spec.labels.clone()),
        attach_stdout: spec.attached.then_some(true),
        attach_stderr: spec.attached.then_some(true),
        host_config: Some(HostConfig {
            network_mode: Some(if spec.host_network {
                "host".into()
            } else if let Some(other) = &spec.network_container {
                format!("container:{other}")
            } else {
                spec.networks
                    .first()
                    .map(|n| n.0.clone())
                    .unwrap_or_else(|| "none".into())
            }),
            cap_drop: Some(vec!["ALL".into()]),
            cap_add: (!spec.cap_add.is_empty()).then(|| spec.cap_add.clone()),
            security_opt: Some(vec!["no-new-privileges:true".into()]),
            memory: Some(i64::try_from(limits.memory).unwrap_or(i64::MAX)),
            // Equal to `memory`: no swap on top, so a node that allocates without end
            // is stopped at its limit instead of slowing the host down while it swaps.
            memory_swap: Some(i64::try_from(limits.memory).unwrap_or(i64::MAX)),
            pids_limit: Some(i64::from(limits.pids)),
            cpu_shares: Some(i64::from(limits.cpu_shares)),
            log_config: Some(HostConfigLogConfig {
                typ: Some("json-file".into()),
                config: Some(HashMap::from([
                    ("max-size".to_string(), limits.log_bytes.to_string()),
                    ("max-file".to_string(), limits.log_files.to_string()),
                ])),
            }),
            sysctls: (!spec.sysctls.is_empty()).then(|| spec.sysctls.clone()),
            tmpfs: (!spec.tmpfs.is_empty()).then(|| spec.tmpfs.iter().cloned().collect()),
            init: Some(false),
            ..Default::default()
        }),
        networking_config: endpoints.map(|e| bollard::models::NetworkingConfig {
            endpoints_config: Some(e),
        }),
        ..Default::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        memory: 256 << 20,
        pids: 128,
        cpu_shares: 512,
        log_bytes: 10 << 20,
        log_files: 3,
    };

    fn spec() -> ContainerSpec {
        ContainerSpec {
            name: "lab-x-pacs".into(),
            image: "dicom-range/orthanc:1".into(),
            cmd: vec!["Orthanc".into()],
            env: vec!["TCP_NODELAY=1".into()],
            labels: HashMap::from([("dicom-range.run".into(), "x".into())]),
            networks: vec![
                ("lab-x-clinical".into(), vec!["pacs".into()]),
                ("lab-x-dmz".into(), vec!["pacs".into(), "orthanc".into()]),
            ],
            cap_add: vec!["NET_BIND_SERVICE".into()],
            limits: Some(LIMITS),
            ..Default::default()
        }
    }

    #[test]
    fn a_container_without_limits_is_refused() {
        let spec = ContainerSpec {
            limits: None,
            ..spec()
        };
        let e = create_body(&spec).unwrap_err();
        assert!(
            matches!(&e, RuntimeError::NoLimits(n) if n == "lab-x-pacs"),
            "{e:?}"
        );
        assert_eq!(
            e.to_string(),
            "container lab-x-pacs has no resource limits; every container is created with them"
        );
    }

    #[test]
    fn limits_become_memory_without_swap_pids_cpu_and_a_bounded_log() {
        let host = create_body(&spec()).unwrap().host_config.unwrap();
        assert_eq!(host.memory, Some(256 << 20));
        assert_eq!(host.memory_swap, Some(256 << 20), "no swap on top");
        assert_eq!(host.pids_limit, Some(128));
        assert_eq!(host.cpu_shares, Some(512));
        let log = host.log_config.unwrap();
        assert_eq!(log.typ.as_deref(), Some("json-file"));
        let config = log.config.unwrap();
        assert_eq!(config["max-size"], (10u64 << 20).to_string());
        assert_eq!(config["max-file"], "3");
        assert_eq!(host.init, Some(false));
    }

    #[test]
    fn every_capability_is_dropped_but_those_asked_for_and_no_new_privileges() {
        let host = create_body(&spec()).unwrap().host_config.unwrap();
        assert_eq!(host.cap_drop, Some(vec!["ALL".to_string()]));
        assert_eq!(host.cap_add, Some(vec!["NET_BIND_SERVICE".to_string()]));
        assert_eq!(
            host.security_opt,
            Some(vec!["no-new-privileges:true".to_string()])
        );
        let none = ContainerSpec {
            cap_add: Vec::new(),
            ..spec()
        };
        let host = create_body(&none).unwrap().host_config.unwrap();
        assert_eq!(host.cap_add, None, "nothing added back");
        assert_eq!(host.cap_drop, Some(vec!["ALL".to_string()]));
    }

    #[test]
    fn labels_image_command_and_environment_are_passed_as_given() {
        let body = create_body(&spec()).unwrap();
        assert_eq!(body.image.as_deref(), Some("dicom-range/orthanc:1"));
        assert_eq!(body.cmd, Some(vec!["Orthanc".to_string()]));
        assert_eq!(body.env, Some(vec!["TCP_NODELAY=1".to_string()]));
        assert_eq!(body.labels.unwrap()["dicom-range.run"], "x");
        assert_eq!(body.attach_stdout, None);
        let attached = ContainerSpec {
            attached: true,
            ..spec()
        };
        let body = create_body(&attached).unwrap();
        assert_eq!(
            (body.attach_stdout, body.attach_stderr),
            (Some(true), Some(true))
        );
    }

    #[test]
    fn the_first_network_is_joined_at_creation_with_its_aliases() {
        let body = create_body(&spec()).unwrap();
        let host = body.host_config.unwrap();
        assert_eq!(host.network_mode.as_deref(), Some("lab-x-clinical"));
        let endpoints = body.networking_config.unwrap().endpoints_config.unwrap();
        assert_eq!(endpoints.len(), 1, "the others are joined after creation");
        assert_eq!(
            endpoints["lab-x-clinical"].aliases,
            Some(vec!["pacs".to_string()])
        );
    }

    #[test]
    fn network_mode_is_host_another_container_or_none() {
        let mode = |spec: ContainerSpec| {
            create_body(&spec)
                .unwrap()
                .host_config
                .unwrap()
                .network_mode
        };
        let host = ContainerSpec {
            host_network: true,
            ..spec()
        };
        assert_eq!(mode(host).as_deref(), Some("host"));
        let joined = ContainerSpec {
            networks: Vec::new(),
            network_container: Some("lab-x-pacs".into()),
            ..spec()
        };
        assert_eq!(mode(joined).as_deref(), Some("container:lab-x-pacs"));
        let alone = ContainerSpec {
            networks: Vec::new(),
            ..spec()
        };
        let body = create_body(&alone).unwrap();
        assert_eq!(
            body.host_config.unwrap().network_mode.as_deref(),
            Some("none")
        );
        assert!(body.networking_config.is_none());
    }

    #[test]
    fn sysctls_and_tmpfs_are_set_only_when_asked_for() {
        let host = create_body(&spec()).unwrap().host_config.unwrap();
        assert_eq!((host.sysctls, host.tmpfs), (None, None));
        let asked = ContainerSpec {
            sysctls: HashMap::from([("net.ipv4.ip_forward".into(), "1".into())]),
            tmpfs: vec![("/var/lib/orthanc".into(), "size=4g".into())],
            ..spec()
        };
        let host = create_body(&asked).unwrap().host_config.unwrap();
        assert_eq!(host.sysctls.unwrap()["net.ipv4.ip_forward"], "1");
        assert_eq!(host.tmpfs.unwrap()["/var/lib/orthanc"], "size=4g");
    }
}
