//! Commands run inside a running container: collected within a time limit, or streamed.

use std::time::Duration;

use bollard::models::ExecConfig;
use futures_util::StreamExt;

use super::Docker;
use crate::error::{Context, RuntimeError};

/// What an exec printed and how it ended.
#[derive(Debug, Clone)]
pub struct ExecOutput {
    pub exit_code: i64,
    pub stdout: String,
    pub stderr: String,
}

impl Docker {
    /// Runs a command in a running container and waits for it, within `limit`.
    pub async fn exec(
        &self,
        container: &str,
        cmd: &[String],
        limit: Duration,
    ) -> Result<ExecOutput, RuntimeError> {
        let mut stdout = Vec::new();
        let mut stderr = Vec::new();
        let run = self.exec_streaming(container, cmd, |is_err, bytes| {
            if is_err {
                stderr.extend_from_slice(bytes)
            } else {
                stdout.extend_from_slice(bytes)
            }
        });
        let exit_code =
            tokio::time::timeout(limit, run)
                .await
                .map_err(|_| RuntimeError::Timeout {
                    what: format!("running `{}` in {container}", cmd.join(" ")),
                    secs: limit.as_secs(),
                })??;
        Ok(ExecOutput {
            exit_code,
            stdout: String::from_utf8_lossy(&stdout).into_owned(),
            stderr: String::from_utf8_lossy(&stderr).into_owned(),
        })
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
}
