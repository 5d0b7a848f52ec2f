//! The host-wide locks, as files in a private directory: the one a run holds while it
//! picks its names and subnets and creates its networks, and the image build lock
//! (`images.rs`).
//!
//! The lock used to be `/tmp/dicom-range-plan.lock`: in a world-writable folder, anyone
//! could hold it (every `lab` then waits 120 s and fails) or plant a symbolic link there
//! that root's `lab` would open. It now lives in a directory only its owner can write:
//! root's `/run/dicom-range` (a tmpfs on most systems, so no stale file survives a
//! reboot), another user's `$XDG_RUNTIME_DIR/dicom-range`, else
//! `~/.cache/dicom-range/locks`. That directory is made with mode 0700, and refused when
//! it is a symbolic link, belongs to someone else or others may write to it; the lock
//! file is opened without following a link.
//!
//! Two different users therefore lock apart. Both need the Docker socket, which is root
//! in all but name, and the names and subnets a run picks are still checked against
//! what is on the daemon: only two runs planned at the very same instant by two users
//! could clash.

use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::EngineError;

/// The lock file's name in [`lock_dir`].
const PLAN_LOCK: &str = "plan.lock";

/// The private directory locks are made in (created on first use).
pub(crate) fn lock_dir() -> Result<PathBuf, EngineError> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let root = unsafe { libc::geteuid() } == 0;
    let dir = if root {
        PathBuf::from("/run/dicom-range")
    } else if let Some(xdg) = std::env::var_os("XDG_RUNTIME_DIR").filter(|v| !v.is_empty()) {
        Path::new(&xdg).join("dicom-range")
    } else {
        crate::dirs::cache_dir().join("locks")
    };
    private_dir(&dir)?;
    Ok(dir)
}

/// Makes `dir` (mode 0700) if it is missing; refuses it unless it is a real directory of
/// this user that nobody else may write to.
pub(crate) fn private_dir(dir: &Path) -> Result<(), EngineError> {
    if let Some(parent) = dir.parent() {
        std::fs::create_dir_all(parent)
            .map_err(EngineError::io(format!("creating {}", parent.display())))?;
    }
    match std::fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(EngineError::io(format!("creating {}", dir.display()))(e)),
    }
    let meta = std::fs::symlink_metadata(dir)
        .map_err(EngineError::io(format!("reading {}", dir.display())))?;
    let refuse = |why: &str| {
        Err(EngineError::Lock(format!(
            "{} {why}; it holds the lock that keeps two runs from picking the same names and subnets\n  fix: remove it (`rm -r {}`), `lab` makes it again, private",
            dir.display(),
            dir.display()
        )))
    };
    if meta.file_type().is_symlink() {
        return refuse("is a symbolic link");
    }
    if !meta.is_dir() {
        return refuse("is not a directory");
    }
    // SAFETY: as above.
    if meta.uid() != unsafe { libc::geteuid() } {
        return refuse(&format!("belongs to uid {}, not to this user", meta.uid()));
    }
    if meta.mode() & 0o022 != 0 {
        return refuse(&format!(
            "may be written by others (mode {:o})",
            meta.mode() & 0o7777
        ));
    }
    Ok(())
}

/// Opens (creating it, mode 0600) a lock file in a private directory; a symbolic link
/// in its place is refused (ELOOP), never followed.
pub(crate) fn open_lock_file(path: &Path) -> Result<std::fs::File, EngineError> {
    std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
        .map_err(EngineError::io(format!("opening {}", path.display())))
}

/// Held from planning until the run's networks exist (released when dropped).
pub(crate) struct PlanLock(#[allow(dead_code)] std::fs::File);

impl PlanLock {
    pub(crate) async fn acquire() -> Result<PlanLock, EngineError> {
        let path = lock_dir()?.join(PLAN_LOCK);
        let file = open_lock_file(&path)?;
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            match file.try_lock() {
                Ok(()) => return Ok(PlanLock(file)),
                Err(std::fs::TryLockError::WouldBlock) if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                Err(std::fs::TryLockError::WouldBlock) => {
                    return Err(EngineError::Lock(format!(
                        "{} stayed locked for 120 s by another `lab`\n  fix: check for a hung `lab` process (`lab status`)",
                        path.display()
                    )));
                }
                Err(std::fs::TryLockError::Error(e)) => {
                    return Err(EngineError::io(format!("locking {}", path.display()))(e));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(p: &Path) -> u32 {
        std::fs::symlink_metadata(p).unwrap().mode() & 0o7777
    }

    /// The lock is in a private directory of this user, not in the shared temp folder.
    #[test]
    fn the_plan_lock_is_private_and_not_in_the_temp_folder() {
        let dir = lock_dir().unwrap();
        assert!(!dir.starts_with(std::env::temp_dir()), "{}", dir.display());
        assert_eq!(mode(&dir), 0o700, "{}", dir.display());
        let meta = std::fs::metadata(&dir).unwrap();
        assert_eq!(meta.uid(), unsafe { libc::geteuid() });
    }

    #[test]
    fn a_planted_link_or_a_shared_directory_is_refused() {
        let base = tempfile::tempdir().unwrap();
        // A link to a directory someone else controls.
        let elsewhere = base.path().join("elsewhere");
        std::fs::create_dir(&elsewhere).unwrap();
        let linked = base.path().join("linked");
        std::os::unix::fs::symlink(&elsewhere, &linked).unwrap();
        let e = private_dir(&linked).unwrap_err().to_string();
        assert!(
            e.contains("is a symbolic link") && e.contains("fix:"),
            "{e}"
        );
        // A directory others may write to.
        let shared = base.path().join("shared");
        std::fs::create_dir(&shared).unwrap();
        std::fs::set_permissions(&shared, std::os::unix::fs::PermissionsExt::from_mode(0o777))
            .unwrap();
        let e = private_dir(&shared).unwrap_err().to_string();
        assert!(e.contains("may be written by others (mode 777)"), "{e}");
        // A fresh one is made private.
        let fresh = base.path().join("a").join("fresh");
        private_dir(&fresh).unwrap();
        assert_eq!(mode(&fresh), 0o700);
        // A link planted as the lock file itself is not followed.
        let target = base.path().join("target");
        std::fs::write(&target, "keep").unwrap();
        let lock = fresh.join(PLAN_LOCK);
        std::os::unix::fs::symlink(&target, &lock).unwrap();
        let e = open_lock_file(&lock).unwrap_err().to_string();
        assert!(e.contains(&lock.display().to_string()), "{e}");
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep");
    }

    #[tokio::test]
    async fn the_lock_is_taken_and_given_back() {
        let held = PlanLock::acquire().await.unwrap();
        drop(held);
        PlanLock::acquire().await.unwrap();
    }
}
