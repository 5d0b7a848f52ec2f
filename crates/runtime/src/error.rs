//! What went wrong talking to the container runtime, typed by what a caller does about it
//! (a missing object, a conflict, a missing image, a taken subnet, the daemon away), each
//! in words that say what to do.

/// What went wrong talking to the container runtime, in words that say what to do.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The daemon cannot be reached at all (no socket, refused).
    #[error(
        "the Docker daemon is not reachable ({source})\n  fix: start it (`systemctl start docker` or `dockerd &`), or set DOCKER_HOST to where it listens"
    )]
    Unreachable { source: bollard::errors::Error },
    /// The daemon took the connection but did not answer in time.
    #[error(
        "the Docker daemon did not answer within 10 s\n  fix: check that dockerd is running and responsive"
    )]
    NoAnswer,
    /// The object named (container, network, image, volume) does not exist.
    #[error("{context}: {source}")]
    NotFound {
        context: String,
        source: bollard::errors::Error,
    },
    /// The daemon refused because of another object's state: a name in use, an object in
    /// use, a removal already under way.
    #[error("{context}: {source}")]
    Conflict {
        context: String,
        source: bollard::errors::Error,
    },
    /// A container's image is not on the daemon: it has to be built first.
    #[error("{context}: {source}")]
    ImageMissing {
        image: String,
        context: String,
        source: bollard::errors::Error,
    },
    /// A new network's subnet overlaps one that exists (another run took it meanwhile):
    /// try another.
    #[error("{context}: {source}")]
    SubnetTaken {
        subnet: String,
        context: String,
        source: bollard::errors::Error,
    },
    /// Any other refusal or failure of a Docker call.
    #[error("{context}: {source}")]
    Docker {
        context: String,
        source: bollard::errors::Error,
    },
    #[error("building image {image} failed: {message}")]
    Build { image: String, message: String },
    /// A container spec without resource limits: every container is created with them.
    #[error("container {0} has no resource limits; every container is created with them")]
    NoLimits(String),
    /// A command inside a container ran past its time limit.
    #[error("{what} did not finish within {secs} s")]
    Timeout { what: String, secs: u64 },
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
    /// What a container handed out is not what was asked for (a link, another name, more
    /// than one file, too large to hold): refused.
    #[error("{0}")]
    Refused(String),
    #[error("{0}")]
    Other(String),
}

impl RuntimeError {
    /// A failed Docker call, typed by the daemon's status: 404 not found, 409 conflict.
    pub(crate) fn docker(context: String, source: bollard::errors::Error) -> RuntimeError {
        match status(&source) {
            Some(404) => RuntimeError::NotFound { context, source },
            Some(409) => RuntimeError::Conflict { context, source },
            _ => RuntimeError::Docker { context, source },
        }
    }
}

/// The HTTP status of a daemon's refusal.
pub(crate) fn status(e: &bollard::errors::Error) -> Option<u16> {
    match e {
        bollard::errors::Error::DockerResponseServerError { status_code, .. } => Some(*status_code),
        _ => None,
    }
}

pub(crate) trait Context<T> {
    fn context(self, what: impl FnOnce() -> String) -> Result<T, RuntimeError>;
}

impl<T> Context<T> for Result<T, bollard::errors::Error> {
    fn context(self, what: impl FnOnce() -> String) -> Result<T, RuntimeError> {
        self.map_err(|source| RuntimeError::docker(what(), source))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refusal(status_code: u16) -> bollard::errors::Error {
        bollard::errors::Error::DockerResponseServerError {
            status_code,
            message: "refused".into(),
        }
    }

    #[test]
    fn daemon_refusals_are_typed_by_status_and_keep_their_message() {
        let e = Err::<(), _>(refusal(404))
            .context(|| "inspecting c".into())
            .unwrap_err();
        assert!(matches!(e, RuntimeError::NotFound { .. }), "{e:?}");
        assert!(e.to_string().starts_with("inspecting c: "), "{e}");
        let e = Err::<(), _>(refusal(409))
            .context(|| "removing c".into())
            .unwrap_err();
        assert!(matches!(e, RuntimeError::Conflict { .. }), "{e:?}");
        let e = Err::<(), _>(refusal(500))
            .context(|| "starting c".into())
            .unwrap_err();
        assert!(matches!(e, RuntimeError::Docker { .. }), "{e:?}");
        assert!(e.to_string().starts_with("starting c: "), "{e}");
    }
}
