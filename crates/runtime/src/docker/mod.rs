//! [`Docker`]: the one connection to the daemon, and its calls split by job (images,
//! networks, containers, inspection, exec, logs, files, removal), each file adding its
//! methods to the same type.

mod containers;
mod exec;
mod files;
mod images;
mod inspect;
mod logs;
mod networks;
mod removal;

use std::collections::HashMap;
use std::time::Duration;

pub use containers::{ContainerInfo, ContainerSpec, Limits};
pub use exec::ExecOutput;
pub use files::CopiedOut;
pub use images::RecipeImage;
pub use inspect::{Address, LimitState};
pub use logs::Output;
pub use networks::{NetworkInfo, NetworkSpec};
pub use removal::Removed;

use crate::error::RuntimeError;

/// A connection to the Docker daemon.
#[derive(Clone)]
pub struct Docker {
    pub(crate) api: bollard::Docker,
}

/// A network or volume as listed by label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Labelled {
    pub name: String,
    pub labels: HashMap<String, String>,
}

impl Docker {
    /// Connects to the local daemon (or DOCKER_HOST), agreeing on an API version the
    /// daemon speaks, and checks that it answers.
    pub async fn connect() -> Result<Docker, RuntimeError> {
        let api = bollard::Docker::connect_with_local_defaults()
            .map_err(|source| RuntimeError::Unreachable { source })?;
        let api = tokio::time::timeout(Duration::from_secs(10), api.negotiate_version())
            .await
            .map_err(|_| RuntimeError::NoAnswer)?
            .map_err(|source| RuntimeError::Unreachable { source })?;
        api.ping()
            .await
            .map_err(|source| RuntimeError::Unreachable { source })?;
        Ok(Docker { api })
    }
}

/// Docker's list filter for objects carrying `label=value`, or just the label.
fn label_filter(label: &str, value: Option<&str>) -> HashMap<&'static str, Vec<String>> {
    let filter = match value {
        Some(v) => format!("{label}={v}"),
        None => label.to_string(),
    };
    HashMap::from([("label", vec![filter])])
}
