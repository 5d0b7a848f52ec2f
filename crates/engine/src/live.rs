//! The jobs the CLI runs against labs already up, each connecting to the daemon itself so
//! that `lab` needs nothing but this crate: the runs up (`lab status`), a run's logs, a
//! command inside a node, a live capture, `lab gc`, `lab down` and `lab up`'s host access.
//!
//! What is done lives in `lifecycle` (from labels alone); this module finds a run's nodes
//! by name and hands the CLI plain values and byte chunks to print.

use std::path::{Path, PathBuf};
use std::pin::Pin;

use futures_util::{Stream, StreamExt};
use runtime::{Bytes, Docker, LABEL_HELPER, LABEL_NODE, LABEL_RUN, Output, Removed, RuntimeError};

use crate::EngineError;
use crate::lifecycle::{self, Collected, PacsEndpoint, RunStatus};

/// Every run on the daemon (or those whose evidence goes to `runs_dir`), oldest first.
pub async fn status(runs_dir: Option<&Path>) -> Result<Vec<RunStatus>, EngineError> {
    let docker = Docker::connect().await?;
    lifecycle::list_runs(&docker, runs_dir).await
}

/// Which runs `lab down` removes.
#[derive(Debug, Clone)]
pub enum DownTarget {
    /// One run, by id.
    Run(String),
    /// Every run on the daemon, or every run whose evidence goes to `runs_dir`.
    All { runs_dir: Option<PathBuf> },
}

/// Removes the runs of `target` by label alone.
pub async fn down(target: &DownTarget) -> Result<Removed, EngineError> {
    let docker = Docker::connect().await?;
    match target {
        DownTarget::Run(id) => crate::teardown(&docker, Some(id)).await,
        DownTarget::All { runs_dir: None } => crate::teardown(&docker, None).await,
        DownTarget::All {
            runs_dir: Some(dir),
        } => lifecycle::down_all(&docker, Some(dir)).await,
    }
}

/// `lab gc`: see [`lifecycle::gc`].
pub async fn gc(runs_dir: Option<&Path>) -> Result<Vec<Collected>, EngineError> {
    let docker = Docker::connect().await?;
    lifecycle::gc(&docker, runs_dir).await
}

/// `lab up`'s host access to a lab left running: see [`lifecycle::expose`].
pub async fn expose(
    run_id: &str,
    scenario: &scenario::Scenario,
) -> Result<Vec<PacsEndpoint>, EngineError> {
    let docker = Docker::connect().await?;
    lifecycle::expose(&docker, run_id, scenario).await
}

/// A node of a run: its name in the lab and its container.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Node {
    name: String,
    container: String,
}

/// The nodes of run `id` (helpers left out), by name, or an error naming the runs up.
async fn run_nodes(docker: &Docker, id: &str) -> Result<Vec<Node>, EngineError> {
    let mut nodes: Vec<Node> = docker
        .containers(LABEL_RUN, Some(id))
        .await?
        .into_iter()
        .filter(|c| !c.labels.contains_key(LABEL_HELPER))
        .map(|c| Node {
            name: c.labels.get(LABEL_NODE).cloned().unwrap_or_default(),
            container: c.name,
        })
        .collect();
    nodes.sort();
    if nodes.is_empty() {
        let up: Vec<String> = lifecycle::list_runs(docker, None)
            .await?
            .into_iter()
            .map(|r| r.run)
            .collect();
        return Err(EngineError::NotUp(format!(
            "no container is labelled with run `{id}`; runs up: {}",
            if up.is_empty() {
                "none".into()
            } else {
                up.join(", ")
            }
        )));
    }
    Ok(nodes)
}

fn pick_node<'a>(nodes: &'a [Node], id: &str, node: &str) -> Result<&'a Node, EngineError> {
    nodes.iter().find(|n| n.name == node).ok_or_else(|| {
        let names: Vec<&str> = nodes.iter().map(|n| n.name.as_str()).collect();
        EngineError::NotUp(format!(
            "run {id} has no node `{node}`; its nodes: {}",
            names.join(", ")
        ))
    })
}

/// A piece of a node's output, as the daemon hands it (not cut at lines).
#[derive(Debug, Clone)]
pub struct LogChunk {
    pub node: String,
    /// From the node's stderr.
    pub stderr: bool,
    pub bytes: Bytes,
}

type Chunks = Pin<Box<dyn Stream<Item = Result<Output, RuntimeError>> + Send>>;
/// A node's chunks, with the node's name.
type NodeChunks = Pin<Box<dyn Stream<Item = (String, Result<Output, RuntimeError>)> + Send>>;

/// The logs of one or several nodes, merged as they come.
pub struct LogFeed {
    /// More than one node: lines are to be shown with the node's name.
    pub several: bool,
    merged: futures_util::stream::SelectAll<NodeChunks>,
}

impl LogFeed {
    /// The next chunk of any node; `None` when every node's log has ended.
    pub async fn next(&mut self) -> Option<Result<LogChunk, EngineError>> {
        let (node, item) = self.merged.next().await?;
        Some(
            item.map(|out| match out {
                Output::Stdout(bytes) => LogChunk {
                    node,
                    stderr: false,
                    bytes,
                },
                Output::Stderr(bytes) => LogChunk {
                    node,
                    stderr: true,
                    bytes,
                },
            })
            .map_err(EngineError::from),
        )
    }
}

/// The logs of run `id`: one node's, or every node's; `follow` keeps reading new output.
pub async fn logs(id: &str, node: Option<&str>, follow: bool) -> Result<LogFeed, EngineError> {
    let docker = Docker::connect().await?;
    let nodes = run_nodes(&docker, id).await?;
    let chosen = match node {
        Some(n) => vec![pick_node(&nodes, id, n)?.clone()],
        None => nodes,
    };
    let several = chosen.len() > 1;
    let streams = chosen.into_iter().map(|n| {
        let name = n.name;
        Box::pin(
            docker
                .log_stream(&n.container, follow)
                .map(move |r| (name.clone(), r)),
        ) as NodeChunks
    });
    Ok(LogFeed {
        several,
        merged: futures_util::stream::select_all(streams),
    })
}

/// Runs `cmd` inside `node` of run `id`, handing its output to `on_output` (stderr?,
/// bytes) as it comes; returns the command's exit code.
pub async fn exec(
    id: &str,
    node: &str,
    cmd: &[String],
    on_output: impl FnMut(bool, &[u8]),
) -> Result<i64, EngineError> {
    let docker = Docker::connect().await?;
    let nodes = run_nodes(&docker, id).await?;
    let target = pick_node(&nodes, id, node)?;
    Ok(docker
        .exec_streaming(&target.container, cmd, on_output)
        .await?)
}

/// A live capture of a run's network (see [`lifecycle::capture`]); [`LiveCapture::stop`]
/// removes its helper container.
pub struct LiveCapture {
    docker: Docker,
    helper: String,
    stream: Chunks,
}

/// A piece of a live capture's helper output.
#[derive(Debug, Clone)]
pub enum CaptureChunk {
    /// pcapng bytes (the helper's stderr).
    Pcapng(Bytes),
    /// What the helper says (its stdout: when it is capturing).
    Status(Bytes),
}

impl LiveCapture {
    /// The next chunk; `None` when the helper has ended. Cancel-safe.
    pub async fn next(&mut self) -> Option<Result<CaptureChunk, EngineError>> {
        let item = self.stream.next().await?;
        Some(
            item.map(|out| match out {
                Output::Stderr(bytes) => CaptureChunk::Pcapng(bytes),
                Output::Stdout(bytes) => CaptureChunk::Status(bytes),
            })
            .map_err(EngineError::from),
        )
    }

    /// Stops the capture: removes its helper.
    pub async fn stop(self) -> Result<(), EngineError> {
        Ok(self.docker.remove_container(&self.helper).await?)
    }
}

/// Starts a live capture of run `id`'s first network, or of `network` by its lab name.
pub async fn capture(id: &str, network: Option<&str>) -> Result<LiveCapture, EngineError> {
    let docker = Docker::connect().await?;
    let (helper, stream) = lifecycle::capture(&docker, id, network).await?;
    Ok(LiveCapture {
        docker,
        helper,
        stream: Box::pin(stream),
    })
}
