/// Why a lab could not be run. Every variant means exit code 2.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Scenario(#[from] scenario::ScenarioError),
    #[error(transparent)]
    Runtime(#[from] runtime::RuntimeError),
    /// A signal came before the run (or batch) began: nothing was started.
    #[error("interrupted by {signal} {when}")]
    NotStarted {
        signal: &'static str,
        /// When, and what was therefore not done.
        when: &'static str,
    },
    /// The lab (or exercise, or submission) asked for is not there; the text lists what is.
    #[error("{0}")]
    NotFound(String),
    /// Building an image failed: the failing step and the tail of its output.
    #[error("{0}")]
    Image(String),
    /// A host-wide lock is held too long by another `lab`, or its folder is not private.
    #[error("{0}")]
    Lock(String),
    /// Every /24 of the lab pool is taken.
    #[error(
        "every /24 of the lab pool 10.213.0.0/16 is in use\n  fix: `lab down --all` or `lab gc`"
    )]
    PoolExhausted,
    /// The run's TLS material could not be made.
    #[error("making the run's {what}: {why}")]
    Pki { what: String, why: String },
    /// A step's options do not make the lab-agent command it runs.
    #[error("{step}: {source}")]
    StepCommand {
        step: String,
        source: protocol::WithError,
    },
    /// A node did not become ready (REST, C-ECHO, its first line), with what it said.
    #[error("{0}")]
    NotReady(String),
    /// Nodes died, or met their memory or pids limit, during the run: one entry per node,
    /// in words naming it and the limit.
    #[error("{}", .0.join("; "))]
    NodesFailed(Vec<String>),
    /// Pieces of evidence that could not be saved, one entry each.
    #[error("{}", .0.join("; "))]
    EvidenceLost(Vec<String>),
    /// A file copied out of a container was larger than the limit: only its start is saved.
    #[error("{0}")]
    Truncated(String),
    /// What a PACS answered about its state is not what Orthanc sends (untrusted output).
    #[error("{0}")]
    PacsState(String),
    /// A helper container (route removal, the web UI forwarder) failed.
    #[error("{0}")]
    Helper(String),
    /// The run, network or node named is not up.
    #[error("{0}")]
    NotUp(String),
    /// An instructor's input (roster, exercise) is not usable.
    #[error("{0}")]
    Classroom(String),
    /// A capture could not be read.
    #[error("{0}")]
    Capture(String),
    /// An address map (`lab inspect --addresses`) could not be read.
    #[error("{0}")]
    Addresses(String),
    /// A command line that names nothing to act on; the text says what to add.
    #[error("{0}")]
    Usage(String),
    /// The compose file could not be written.
    #[error("writing YAML: {0}")]
    Export(String),
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
    /// A file of the run directory could not be written; the error names it (a full disk,
    /// a read-only runs folder).
    #[error("cannot save {0}")]
    Save(std::io::Error),
    /// A signal (SIGINT, SIGTERM) stopped the run; the text says which and in what phase.
    #[error("interrupted by {0}; the evidence gathered so far was saved and the lab torn down")]
    Interrupted(String),
    /// A batch (`lab test`, `lab grade`) was interrupted before this run began.
    #[error("not run: interrupted by {0} before it started")]
    NotRun(String),
}

impl EngineError {
    pub(crate) fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> EngineError {
        let what = what.into();
        move |source| EngineError::Io { what, source }
    }
}
