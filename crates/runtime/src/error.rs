/// What went wrong talking to the container runtime, in words that say what to do.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error(
        "the Docker daemon is not reachable ({source})\n  fix: start it (`systemctl start docker` or `dockerd &`), or set DOCKER_HOST to where it listens"
    )]
    Unreachable { source: bollard::errors::Error },
    #[error("{context}: {source}")]
    Docker {
        context: String,
        source: bollard::errors::Error,
    },
    #[error("building image {image} failed: {message}")]
    Build { image: String, message: String },
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
    /// Writing what was copied out of a container failed on the host's side (a full
    /// disk, a read-only folder): the container is not at fault.
    #[error("{context}: {source}")]
    Destination {
        context: String,
        source: std::io::Error,
    },
    #[error("{0}")]
    Other(String),
}

pub(crate) trait Context<T> {
    fn context(self, what: impl FnOnce() -> String) -> Result<T, RuntimeError>;
}

impl<T> Context<T> for Result<T, bollard::errors::Error> {
    fn context(self, what: impl FnOnce() -> String) -> Result<T, RuntimeError> {
        self.map_err(|source| RuntimeError::Docker {
            context: what(),
            source,
        })
    }
}
