//! Writing evidence into a run directory: files copied out of containers are streamed
//! to disk (never held whole in memory), every file is written atomically
//! (`report::atomic`: temporary file, fsync, rename), and every failure names the file.
//! A full disk or a read-only runs folder therefore leaves whole files or none, and says
//! which write it hit.

use std::path::Path;

use runtime::Docker;

use crate::EngineError;

/// The most of one capture (the sniffer's, an attacker's) saved from a container.
pub(crate) const MAX_CAPTURE_BYTES: u64 = 4 << 30;
/// The most of an IDS's alerts saved.
pub(crate) const MAX_ALERTS_BYTES: u64 = 256 << 20;

/// Writes `bytes` to `dest` whole or not at all.
pub(crate) fn write(dest: &Path, bytes: impl AsRef<[u8]>) -> Result<(), EngineError> {
    report::write_atomic(dest, bytes.as_ref()).map_err(EngineError::Save)
}

/// Creates `dir` (and its parents); the error names it.
pub(crate) fn mkdir(dir: &Path) -> Result<(), EngineError> {
    std::fs::create_dir_all(dir).map_err(EngineError::io(format!("creating {}", dir.display())))
}

/// Streams `inner` out of `container` into `dest` (whose folder is created), at most `max`
/// bytes. A larger file keeps its first `max` bytes, and the error says it was cut.
pub(crate) async fn copy_out(
    docker: &Docker,
    container: &str,
    inner: &str,
    dest: &Path,
    max: u64,
) -> Result<u64, EngineError> {
    if let Some(dir) = dest.parent() {
        mkdir(dir)?;
    }
    let file = report::AtomicFile::create(dest).map_err(EngineError::Save)?;
    let (file, copied) = docker
        .copy_file_out(container, inner, file, max)
        .await
        .map_err(|e| match e {
            // The host's side failed (the error names the file), not the container.
            runtime::RuntimeError::Destination { source, .. } => EngineError::Save(source),
            other => other.into(),
        })?;
    file.commit().map_err(EngineError::Save)?;
    if copied.truncated {
        return Err(EngineError::Truncated(format!(
            "{container}:{inner} holds {} bytes; only the first {} were saved to {} (the limit)",
            copied.size,
            copied.written,
            dest.display()
        )));
    }
    Ok(copied.written)
}
