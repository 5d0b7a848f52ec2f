//! Errors the engine and students read, classified into the agent's exit codes.

use std::fmt;

/// Which exit code an error maps to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// The peer answered but said no: association rejected or aborted, no presentation
    /// context accepted, or a DIMSE failure status. Exit code 3.
    Refused,
    /// The peer could not be reached: connection refused, no route, unknown host name,
    /// timeout. Exit code 4.
    Unreachable,
    /// Anything else (bad options, I/O on local files, protocol errors). Exit code 1.
    Other,
}

impl FailureKind {
    pub fn exit_code(self) -> u8 {
        match self {
            FailureKind::Refused => 3,
            FailureKind::Unreachable => 4,
            FailureKind::Other => 1,
        }
    }
}

/// An error with its class and a message written for a person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentError {
    pub kind: FailureKind,
    pub message: String,
}

impl AgentError {
    pub fn new(kind: FailureKind, message: impl Into<String>) -> Self {
        AgentError {
            kind,
            message: message.into(),
        }
    }
    pub fn refused(message: impl Into<String>) -> Self {
        Self::new(FailureKind::Refused, message)
    }
    pub fn unreachable(message: impl Into<String>) -> Self {
        Self::new(FailureKind::Unreachable, message)
    }
    pub fn other(message: impl Into<String>) -> Self {
        Self::new(FailureKind::Other, message)
    }
    pub fn exit_code(&self) -> u8 {
        self.kind.exit_code()
    }
}

impl fmt::Display for AgentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for AgentError {}

impl From<anyhow::Error> for AgentError {
    fn from(e: anyhow::Error) -> Self {
        AgentError::other(format!("{e:#}"))
    }
}

/// An error and all its causes on one line: "a: b: c".
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let t = c.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        cur = c.source();
    }
    s
}
