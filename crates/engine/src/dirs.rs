//! Where dicom-range keeps what outlives a run on this host: the build cache (wheels,
//! binary keys) and, for a user without a runtime directory, the locks.

use std::path::{Path, PathBuf};

/// `$XDG_CACHE_HOME/dicom-range`, else `~/.cache/dicom-range`.
pub(crate) fn cache_dir() -> PathBuf {
    std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir)
        .join("dicom-range")
}
