use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use bollard::models::{
    ContainerCreateBody, EndpointSettings, ExecConfig, HostConfig, HostConfigLogConfig, Ipam,
    IpamConfig, NetworkConnectRequest, NetworkCreateRequest,
};
use bollard::query_parameters::{
    AttachContainerOptionsBuilder, BuildImageOptionsBuilder, CreateContainerOptionsBuilder,
    CreateImageOptionsBuilder, DownloadFromContainerOptionsBuilder, KillContainerOptionsBuilder,
    ListContainersOptionsBuilder, ListNetworksOptionsBuilder, ListVolumesOptionsBuilder,
    LogsOptionsBuilder, RemoveContainerOptionsBuilder, RemoveVolumeOptions, StatsOptionsBuilder,
    UploadToContainerOptionsBuilder,
};
use bytes::Bytes;
use futures_util::{StreamExt, TryStreamExt};

use crate::error::{Context, RuntimeError};
use crate::{LABEL_RECIPE, LABEL_RUN};

/// A connection to the Docker daemon.
#[derive(Clone)]
pub struct Docker {
    api: bollard::Docker,
}

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

/// What an exec printed and how it ended.
#[derive(Debug, Clone)]
pub struct ExecOutput {
    pub exit_code: i64,
    pub stdout: String,
    pub stderr: String,
}

/// What a teardown removed.
#[derive(Debug, Default, Clone)]
pub struct Removed {
    pub containers: Vec<String>,
    pub networks: Vec<String>,
    /// Marker volumes (e.g. a run kept on purpose by `lab up`).
    pub volumes: Vec<String>,
}

impl Docker {
    /// Connects to the local daemon (or DOCKER_HOST), agreeing on an API version the
    /// daemon speaks, and checks that it answers.
    pub async fn connect() -> Result<Docker, RuntimeError> {
        let api = bollard::Docker::connect_with_local_defaults()
            .map_err(|source| RuntimeError::Unreachable { source })?;
        let api = tokio::time::timeout(Duration::from_secs(10), api.negotiate_version())
            .await
            .map_err(|_| RuntimeError::Other("the Docker daemon did not answer within 10 s\n  fix: check that dockerd is running and responsive".into()))?
            .map_err(|source| RuntimeError::Unreachable { source })?;
        api.ping()
            .await
            .map_err(|source| RuntimeError::Unreachable { source })?;
        Ok(Docker { api })
    }

    /// The recipe hash an image was built from, or None if there is no such image.
    pub async fn image_recipe(&self, image: &str) -> Result<Option<String>, RuntimeError> {
        match self.api.inspect_image(image).await {
            Ok(info) => Ok(Some(
                info.config
                    .and_then(|c| c.labels)
                    .and_then(|l| l.get(LABEL_RECIPE).cloned())
                    .unwrap_or_default(),
            )),
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(None),
            Err(e) => Err(e).context(|| format!("inspecting image {image}")),
        }
    }

    /// Imports a root file system tarball as an image (`docker import`), with Dockerfile
    /// instructions such as `LABEL k=v` or `CMD [...]` applied.
    pub async fn import_rootfs(
        &self,
        tar: &Path,
        image: &str,
        changes: Vec<String>,
    ) -> Result<(), RuntimeError> {
        let (repo, tag) = image.rsplit_once(':').unwrap_or((image, "latest"));
        let file = tokio::fs::File::open(tar)
            .await
            .map_err(|source| RuntimeError::Io {
                context: format!("opening {}", tar.display()),
                source,
            })?;
        let body = bollard::body_try_stream(tokio_util::io::ReaderStream::new(file));
        let options = CreateImageOptionsBuilder::new()
            .from_src("-")
            .repo(repo)
            .tag(tag)
            .changes(changes)
            .build();
        let mut stream = self.api.create_image(Some(options), Some(body), None);
        while let Some(item) = stream.next().await {
            item.map_err(|e| RuntimeError::Build {
                image: image.into(),
                message: e.to_string(),
            })?;
        }
        Ok(())
    }

    /// Builds an image from a tar of its build context; `progress` gets each line of output.
    pub async fn build_image(
        &self,
        context_tar: Vec<u8>,
        image: &str,
        labels: &HashMap<String, String>,
        build_args: &HashMap<String, String>,
        progress: &mut (dyn FnMut(&str) + Send),
    ) -> Result<(), RuntimeError> {
        let options = BuildImageOptionsBuilder::new()
            .dockerfile("Dockerfile")
            .t(image)
            .rm(true)
            .forcerm(true)
            .labels(labels)
            .buildargs(build_args)
            .build();
        let mut stream = self.api.build_image(
            options,
            None,
            Some(bollard::body_full(Bytes::from(context_tar))),
        );
        let mut tail: Vec<String> = Vec::new();
        while let Some(item) = stream.next().await {
            let info = item.map_err(|e| RuntimeError::Build {
                image: image.into(),
                message: format!("{e}\n{}", tail.join("")),
            })?;
            if let Some(line) = info.stream {
                progress(&line);
                tail.push(line);
                if tail.len() > 20 {
                    tail.remove(0);
                }
            }
            if let Some(err) = info.error_detail.and_then(|d| d.message) {
                return Err(RuntimeError::Build {
                    image: image.into(),
                    message: format!("{err}\n{}", tail.join("")),
                });
            }
        }
        Ok(())
    }

    /// Subnets (CIDR) of every existing network, so a new one can avoid them.
    pub async fn used_subnets(&self) -> Result<Vec<String>, RuntimeError> {
        let nets = self
            .api
            .list_networks(None)
            .await
            .context(|| "listing networks".into())?;
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
        self.api
            .create_network(request)
            .await
            .context(|| format!("creating network {}", spec.name))?;
        Ok(())
    }

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
        let limits = spec.limits.ok_or_else(|| {
            RuntimeError::Other(format!(
                "container {} has no resource limits; every container is created with them",
                spec.name
            ))
        })?;
        let mut first = spec.networks.iter();
        let endpoints = first.next().map(|(net, aliases)| {
            HashMap::from([(
                net.clone(),
                EndpointSettings {
                    aliases: Some(aliases.clone()),
                    ..Default::default()
                },
            )])
        });
        let body = ContainerCreateBody {
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
        };
        let options = CreateContainerOptionsBuilder::new()
            .name(&spec.name)
            .build();
        self.api
            .create_container(Some(options), body)
            .await
            .context(|| format!("creating container {} from {}", spec.name, spec.image))?;
        for (net, aliases) in first {
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
        let mut by_dir: HashMap<&str, Vec<(&str, &[u8])>> = HashMap::new();
        for (dir, name, contents) in &spec.files {
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
                    &spec.name,
                    Some(options),
                    bollard::body_full(Bytes::from(tar)),
                )
                .await
                .context(|| format!("copying files into {}:{dir}", spec.name))?;
        }
        Ok(())
    }

    /// Runs a command in a running container and waits for it, within `limit`.
    pub async fn exec(
        &self,
        container: &str,
        cmd: &[String],
        limit: Duration,
    ) -> Result<ExecOutput, RuntimeError> {
        let config = ExecConfig {
            cmd: Some(cmd.to_vec()),
            attach_stdout: Some(true),
            attach_stderr: Some(true),
            ..Default::default()
        };
        let what = || format!("running `{}` in {container}", cmd.join(" "));
        let exec = self
            .api
            .create_exec(container, config)
            .await
            .context(what)?;
        let mut stdout = Vec::new();
        let mut stderr = Vec::new();
        let run = async {
            if let bollard::exec::StartExecResults::Attached { mut output, .. } =
                self.api.start_exec(&exec.id, None).await.context(what)?
            {
                while let Some(chunk) = output.next().await {
                    match chunk.context(what)? {
                        bollard::container::LogOutput::StdErr { message } => {
                            stderr.extend_from_slice(&message)
                        }
                        other => stdout.extend_from_slice(&other.into_bytes()),
                    }
                }
            }
            Ok::<(), RuntimeError>(())
        };
        tokio::time::timeout(limit, run).await.map_err(|_| {
            RuntimeError::Other(format!(
                "{} did not finish within {} s",
                what(),
                limit.as_secs()
            ))
        })??;
        let info = self.api.inspect_exec(&exec.id).await.context(what)?;
        Ok(ExecOutput {
            exit_code: info.exit_code.unwrap_or(-1),
            stdout: String::from_utf8_lossy(&stdout).into_owned(),
            stderr: String::from_utf8_lossy(&stderr).into_owned(),
        })
    }

    /// Everything the container printed so far, stdout and stderr interleaved.
    pub async fn logs(&self, container: &str) -> Result<String, RuntimeError> {
        let options = LogsOptionsBuilder::new().stdout(true).stderr(true).build();
        let chunks: Vec<_> = self
            .api
            .logs(container, Some(options))
            .try_collect()
            .await
            .context(|| format!("reading the logs of {container}"))?;
        Ok(chunks
            .iter()
            .map(|c| String::from_utf8_lossy(c.as_ref()).into_owned())
            .collect())
    }

    pub async fn signal(&self, container: &str, signal: &str) -> Result<(), RuntimeError> {
        let options = KillContainerOptionsBuilder::new().signal(signal).build();
        self.api
            .kill_container(container, Some(options))
            .await
            .context(|| format!("sending {signal} to {container}"))
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
            let info = self
                .api
                .inspect_container(container, None)
                .await
                .context(|| format!("inspecting {container}"))?;
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
        let info = self
            .api
            .inspect_container(container, None)
            .await
            .context(|| format!("inspecting {container}"))?;
        Ok(info.state.and_then(|s| s.running).unwrap_or(false))
    }

    /// Copies one file out of a container (running or stopped) into memory; refuses a
    /// file larger than 256 MiB (evidence files are streamed to disk: `copy_file_out`).
    pub async fn read_file(&self, container: &str, path: &str) -> Result<Vec<u8>, RuntimeError> {
        let (out, copied) = self
            .copy_file_out(container, path, Vec::new(), READ_FILE_MAX)
            .await?;
        if copied.truncated {
            return Err(RuntimeError::Other(format!(
                "{container}:{path} holds {} bytes, more than the {READ_FILE_MAX} read into memory",
                copied.size
            )));
        }
        Ok(out)
    }

    /// Streams one file out of a container (running or stopped) into `out`, at most `max`
    /// bytes of it, and hands `out` back. The archive Docker sends is read as it arrives,
    /// through a fixed buffer: memory stays flat whatever the file's size. A file larger
    /// than `max` has its first `max` bytes written and is reported `truncated`.
    ///
    /// Errors reading from Docker and errors writing to `out` are told apart (the latter
    /// is, say, a full disk on the host, and says so).
    pub async fn copy_file_out<W: std::io::Write + Send + 'static>(
        &self,
        container: &str,
        path: &str,
        out: W,
        max: u64,
    ) -> Result<(W, CopiedOut), RuntimeError> {
        let options = DownloadFromContainerOptionsBuilder::new()
            .path(path)
            .build();
        let what = format!("{container}:{path}");
        let stream = self
            .api
            .download_from_container(container, Some(options))
            .map_err(std::io::Error::other);
        // The tar reader is synchronous: it runs on a blocking thread, pulling the
        // HTTP body through a bridge back into the runtime.
        let reader =
            tokio_util::io::SyncIoBridge::new(tokio_util::io::StreamReader::new(Box::pin(stream)));
        tokio::task::spawn_blocking(move || untar_one(reader, out, max, &what))
            .await
            .map_err(|e| RuntimeError::Other(format!("copying a file out: {e}")))?
    }

    /// Names of containers carrying `label=value` (or just the label when value is None),
    /// with their labels.
    pub async fn labelled_containers(
        &self,
        label: &str,
        value: Option<&str>,
    ) -> Result<Vec<(String, HashMap<String, String>, String)>, RuntimeError> {
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
            .map(|c| {
                let name = c
                    .names
                    .and_then(|n| n.first().cloned())
                    .unwrap_or_default()
                    .trim_start_matches('/')
                    .to_string();
                (
                    name,
                    c.labels.unwrap_or_default(),
                    c.state.map(|s| s.to_string()).unwrap_or_default(),
                )
            })
            .collect())
    }

    /// Every image built by dicom-range (labelled with a recipe): its id, tags (empty when
    /// dangling) and size in bytes.
    pub async fn recipe_images(&self) -> Result<Vec<(String, Vec<String>, i64)>, RuntimeError> {
        let filters = HashMap::from([("label", vec![LABEL_RECIPE])]);
        let opts = bollard::query_parameters::ListImagesOptionsBuilder::default()
            .filters(&filters)
            .build();
        let images = self
            .api
            .list_images(Some(opts))
            .await
            .context(|| "listing dicom-range images".to_string())?;
        Ok(images
            .into_iter()
            .map(|i| {
                let tags = i
                    .repo_tags
                    .into_iter()
                    .filter(|t| t != "<none>:<none>")
                    .collect();
                (i.id, tags, i.size)
            })
            .collect())
    }

    /// Removes an image (a tag, or an id when dangling). `Ok(false)` when a container still
    /// uses it: it is left alone.
    pub async fn remove_image(&self, image: &str) -> Result<bool, RuntimeError> {
        match self
            .api
            .remove_image(
                image,
                None::<bollard::query_parameters::RemoveImageOptions>,
                None,
            )
            .await
        {
            Ok(_) => Ok(true),
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 409, ..
            }) => Ok(false),
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(true),
            Err(e) => Err(e).context(|| format!("removing image {image}")),
        }
    }

    pub async fn labelled_networks(
        &self,
        label: &str,
        value: Option<&str>,
    ) -> Result<Vec<(String, HashMap<String, String>)>, RuntimeError> {
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
            .map(|n| (n.name.unwrap_or_default(), n.labels.unwrap_or_default()))
            .collect())
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
        let nets = self
            .api
            .list_networks(None)
            .await
            .context(|| "listing networks".into())?;
        Ok(nets
            .into_iter()
            .filter_map(|n| {
                n.options
                    .and_then(|o| o.get("com.docker.network.bridge.name").cloned())
            })
            .collect())
    }

    /// The container's IPv4 address on each network it joined: (network, address,
    /// the network's gateway as Docker names it: the bridge's own address).
    pub async fn addresses(
        &self,
        container: &str,
    ) -> Result<Vec<(String, String, String)>, RuntimeError> {
        let info = self
            .api
            .inspect_container(container, None)
            .await
            .context(|| format!("inspecting {container}"))?;
        Ok(info
            .network_settings
            .and_then(|n| n.networks)
            .unwrap_or_default()
            .into_iter()
            .filter_map(|(net, ep)| {
                let gw = ep.gateway.unwrap_or_default();
                ep.ip_address
                    .filter(|ip| !ip.is_empty())
                    .map(|ip| (net, ip, gw))
            })
            .collect())
    }

    /// Docker's words for how a container ended (or that it runs): exit code, OOM kill.
    pub async fn describe_state(&self, container: &str) -> Result<String, RuntimeError> {
        let info = self
            .api
            .inspect_container(container, None)
            .await
            .context(|| format!("inspecting {container}"))?;
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
        let info = self
            .api
            .inspect_container(container, None)
            .await
            .context(|| format!("inspecting {container}"))?;
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

    /// Follows (or dumps) a container's output: (true for stderr, bytes) as it comes.
    pub fn log_stream(
        &self,
        container: &str,
        follow: bool,
    ) -> impl futures_util::Stream<Item = Result<(bool, Bytes), RuntimeError>> + use<> {
        let options = LogsOptionsBuilder::new()
            .stdout(true)
            .stderr(true)
            .follow(follow)
            .build();
        let name = container.to_string();
        self.api.logs(container, Some(options)).map(move |c| {
            c.context(|| format!("reading the logs of {name}"))
                .map(|c| match c {
                    bollard::container::LogOutput::StdErr { message } => (true, message),
                    other => (false, other.into_bytes()),
                })
        })
    }

    /// Attaches to a created container's output, then starts it; the stream carries
    /// (true for stderr, bytes), binary-safe (no log driver in between).
    pub async fn start_attached(
        &self,
        container: &str,
    ) -> Result<
        impl futures_util::Stream<Item = Result<(bool, Bytes), RuntimeError>> + use<>,
        RuntimeError,
    > {
        let options = AttachContainerOptionsBuilder::new()
            .stdout(true)
            .stderr(true)
            .stream(true)
            .build();
        let attached = self
            .api
            .attach_container(container, Some(options))
            .await
            .context(|| format!("attaching to {container}"))?;
        self.start(container).await?;
        let name = container.to_string();
        // Dropping the input half would close the connection's write side, which Docker
        // takes as a detach: the stream keeps it for as long as it lives.
        let input = attached.input;
        Ok(attached.output.map(move |c| {
            let _input = &input;
            c.context(|| format!("reading the output of {name}"))
                .map(|c| match c {
                    bollard::container::LogOutput::StdErr { message } => (true, message),
                    other => (false, other.into_bytes()),
                })
        }))
    }

    /// Runs a command in a running container, handing its output over as it comes
    /// ((true for stderr, bytes)); returns its exit code.
    pub async fn exec_streaming(
        &self,
        container: &str,
        cmd: &[String],
        mut on_output: impl FnMut(bool, &[u8]),
    ) -> Result<i64, RuntimeError> {
        let config = ExecConfig {
            cmd: Some(cmd.to_vec()),
            attach_stdout: Some(true),
            attach_stderr: Some(true),
            ..Default::default()
        };
        let what = || format!("running `{}` in {container}", cmd.join(" "));
        let exec = self
            .api
            .create_exec(container, config)
            .await
            .context(what)?;
        if let bollard::exec::StartExecResults::Attached { mut output, .. } =
            self.api.start_exec(&exec.id, None).await.context(what)?
        {
            while let Some(chunk) = output.next().await {
                match chunk.context(what)? {
                    bollard::container::LogOutput::StdErr { message } => on_output(true, &message),
                    other => on_output(false, &other.into_bytes()),
                }
            }
        }
        let info = self.api.inspect_exec(&exec.id).await.context(what)?;
        Ok(info.exit_code.unwrap_or(-1))
    }

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
    ) -> Result<Vec<(String, HashMap<String, String>)>, RuntimeError> {
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
            .map(|v| (v.name, v.labels))
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
        for (name, _, _) in self.labelled_containers(LABEL_RUN, run).await? {
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
        for (name, _) in self.labelled_networks(LABEL_RUN, run).await? {
            match self.api.remove_network(&name).await {
                Ok(())
                | Err(bollard::errors::Error::DockerResponseServerError {
                    status_code: 404, ..
                }) => {}
                Err(e) => return Err(e).context(|| format!("removing network {name}")),
            }
            removed.networks.push(name);
        }
        for (name, _) in self.labelled_volumes(LABEL_RUN, run).await? {
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

fn tar_of(files: &[(&str, &[u8])]) -> std::io::Result<Vec<u8>> {
    let mut builder = tar::Builder::new(Vec::new());
    for (name, contents) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(contents.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        builder.append_data(&mut header, name, *contents)?;
    }
    builder.into_inner()
}

/// Docker's list filter for objects carrying `label=value`, or just the label.
fn label_filter(label: &str, value: Option<&str>) -> HashMap<&'static str, Vec<String>> {
    let filter = match value {
        Some(v) => format!("{label}={v}"),
        None => label.to_string(),
    };
    HashMap::from([("label", vec![filter])])
}

/// The most [`Docker::read_file`] holds in memory.
const READ_FILE_MAX: u64 = 256 << 20;

/// What [`Docker::copy_file_out`] copied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CopiedOut {
    /// The file's size in the container.
    pub size: u64,
    /// Bytes written out (`size`, or `max` when it was larger).
    pub written: u64,
    pub truncated: bool,
}

/// Writes the first regular file of a tar stream to `out`, at most `max` bytes.
fn untar_one<R: std::io::Read, W: std::io::Write>(
    reader: R,
    mut out: W,
    max: u64,
    what: &str,
) -> Result<(W, CopiedOut), RuntimeError> {
    let from = |source| RuntimeError::Io {
        context: format!("copying {what}"),
        source,
    };
    // The archive is the container's word: what it holds must be the one regular file
    // asked for, not a link (to follow later, on the host) nor a tree of other names.
    let asked = what.rsplit(['/', ':']).next().unwrap_or(what);
    let mut archive = tar::Archive::new(reader);
    let mut entries = archive.entries().map_err(from)?;
    let mut entry = match entries.next() {
        Some(entry) => entry.map_err(from)?,
        None => return Err(RuntimeError::Other(format!("{what} is empty"))),
    };
    let kind = entry.header().entry_type();
    if !kind.is_file() {
        let is = if kind.is_symlink() || kind.is_hard_link() {
            "a link; it was not followed"
        } else {
            "not a regular file"
        };
        return Err(RuntimeError::Other(format!("{what} is {is}")));
    }
    let name = entry.path().map_err(from)?.into_owned();
    if name.as_os_str() != std::ffi::OsStr::new(asked) {
        return Err(RuntimeError::Other(format!(
            "copying {what} gave {} instead; refused",
            name.display()
        )));
    }
    let size = entry.header().size().map_err(from)?;
    let mut buf = vec![0u8; 64 << 10];
    let mut written = 0u64;
    while written < max {
        let want = buf
            .len()
            .min(usize::try_from(max - written).unwrap_or(usize::MAX));
        let n = match std::io::Read::read(&mut entry, &mut buf[..want]) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(from(e)),
        };
        out.write_all(&buf[..n])
            .map_err(|source| RuntimeError::Destination {
                context: format!("saving {what}"),
                source,
            })?;
        written += n as u64;
    }
    out.flush().map_err(|source| RuntimeError::Destination {
        context: format!("saving {what}"),
        source,
    })?;
    let truncated = size > written;
    drop(entry);
    // Only a whole archive can be told to hold one file; a truncated copy stops reading.
    if !truncated && entries.next().is_some() {
        return Err(RuntimeError::Other(format!(
            "copying {what} gave more than one file; refused"
        )));
    }
    Ok((
        out,
        CopiedOut {
            size,
            written,
            truncated,
        },
    ))
}

#[cfg(test)]
mod copy_out_tests {
    use super::*;

    fn tar_of(name: &str, body: &[u8]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(body.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, name, body).unwrap();
        b.into_inner().unwrap()
    }

    #[test]
    fn the_file_streams_out_whole() {
        let body: Vec<u8> = (0..200_000u32).map(|i| i as u8).collect();
        let tar = tar_of("capture.pcapng", &body);
        let (out, c) = untar_one(
            tar.as_slice(),
            Vec::new(),
            u64::MAX,
            "x:/tmp/capture.pcapng",
        )
        .unwrap();
        assert_eq!(out, body);
        assert_eq!((c.size, c.written, c.truncated), (200_000, 200_000, false));
    }

    #[test]
    fn a_file_over_the_limit_is_cut_and_said_so() {
        let tar = tar_of("big", &[7u8; 100_000]);
        let (out, c) = untar_one(tar.as_slice(), Vec::new(), 1000, "x:/big").unwrap();
        assert_eq!(out.len(), 1000);
        assert!(c.truncated && c.size == 100_000 && c.written == 1000);
    }

    #[test]
    fn a_failing_destination_is_named_as_the_saving_side() {
        #[derive(Debug)]
        struct Full;
        impl std::io::Write for Full {
            fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
                Err(std::io::Error::from_raw_os_error(28))
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let tar = tar_of("f", b"data");
        let e = untar_one(tar.as_slice(), Full, 10, "c:/f").unwrap_err();
        assert!(e.to_string().starts_with("saving c:/f: "), "{e}");
    }

    #[test]
    fn a_link_or_another_name_or_a_second_file_is_refused() {
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_size(0);
        b.append_link(&mut h, "f", "/etc/shadow").unwrap();
        let link = b.into_inner().unwrap();
        let e = untar_one(link.as_slice(), Vec::new(), 10, "c:/f").unwrap_err();
        assert!(e.to_string().contains("a link"), "{e}");

        let other = tar_of("g", b"x");
        let e = untar_one(other.as_slice(), Vec::new(), 10, "c:/f").unwrap_err();
        assert!(e.to_string().contains("gave g instead"), "{e}");

        let mut two = tar_of("f", b"x");
        two.truncate(two.len() - 1024); // drop the end-of-archive blocks
        two.extend(tar_of("h", b"y"));
        let e = untar_one(two.as_slice(), Vec::new(), 10, "c:/f").unwrap_err();
        assert!(e.to_string().contains("more than one file"), "{e}");
    }
}
