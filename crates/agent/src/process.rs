//! What every subcommand's process needs: printing its JSON lines, the async runtime, and
//! the stop signals. Shared by [`crate::cli`] and [`crate::attack::cli`].

use serde::Serialize;
use std::io::Write;

/// Print one JSON line on stdout and flush (the engine reads it line by line).
pub fn emit<T: Serialize + ?Sized>(line: &T) {
    let mut out = std::io::stdout().lock();
    let _ = match serde_json::to_string(line) {
        Ok(text) => writeln!(out, "{text}"),
        Err(e) => writeln!(
            out,
            "{}",
            protocol::result::to_line(&protocol::result::ErrorEvent {
                error: format!("cannot print a result line: {e}"),
                event: protocol::result::tags::Error,
                ok: None,
            })
        ),
    };
    let _ = out.flush();
}

/// [`emit`] for the daemons that print untyped lines.
pub fn emit_value(line: &serde_json::Value) {
    emit(line)
}

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("cannot start the async runtime")
}

/// Install the SIGTERM and SIGINT handlers now (call inside the runtime) and return a future
/// that resolves at the first of them. Installing before any readiness line is printed means
/// a signal sent right after readiness is never lost to the default action.
pub fn shutdown_signal() -> impl std::future::Future<Output = ()> + Send + 'static {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("cannot install the SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("cannot install the SIGINT handler");
    async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
    }
}
