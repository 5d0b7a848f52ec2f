/// Why a lab could not be run. Every variant means exit code 2.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Scenario(#[from] scenario::ScenarioError),
    #[error(transparent)]
    Runtime(#[from] runtime::RuntimeError),
    #[error("{0}")]
    Setup(String),
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
