//! A container's output: its logs dumped or followed, or an attach (binary-safe, no log
//! driver in between) made before it starts.

use bollard::query_parameters::{AttachContainerOptionsBuilder, LogsOptionsBuilder};
use bytes::Bytes;
use futures_util::{StreamExt, TryStreamExt};

use super::Docker;
use crate::error::{Context, RuntimeError};

/// A piece of a container's output, from one of its two streams.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    Stdout(Bytes),
    Stderr(Bytes),
}

impl From<bollard::container::LogOutput> for Output {
    fn from(c: bollard::container::LogOutput) -> Output {
        match c {
            bollard::container::LogOutput::StdErr { message } => Output::Stderr(message),
            other => Output::Stdout(other.into_bytes()),
        }
    }
}

impl Docker {
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

    /// Follows (or dumps) a container's output as it comes.
    pub fn log_stream(
        &self,
        container: &str,
        follow: bool,
    ) -> impl futures_util::Stream<Item = Result<Output, RuntimeError>> + use<> {
        let options = LogsOptionsBuilder::new()
            .stdout(true)
            .stderr(true)
            .follow(follow)
            .build();
        let name = container.to_string();
        self.api.logs(container, Some(options)).map(move |c| {
            c.context(|| format!("reading the logs of {name}"))
                .map(Output::from)
        })
    }

    /// Attaches to a created container's output, then starts it; the stream carries
    /// its output binary-safe (no log driver in between).
    pub async fn start_attached(
        &self,
        container: &str,
    ) -> Result<impl futures_util::Stream<Item = Result<Output, RuntimeError>> + use<>, RuntimeError>
    {
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
                .map(Output::from)
        }))
    }
}
