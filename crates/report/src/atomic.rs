//! Files that are either whole or absent: every report and evidence file of a run
//! directory, and the CSV, JUnit and JSON that `lab test` and `lab grade` write.
//!
//! A file is written to a temporary file in its own folder, flushed to disk (fsync),
//! renamed over its final name, and the folder is synced so that the rename itself
//! survives a crash. A full disk or a read-only folder fails the write with the file's
//! name and leaves neither a half-written file nor the temporary one behind (the
//! temporary file is removed when the write fails or is dropped unfinished).
//!
//! It lives here, in the lowest crate that writes run directories, so that `report`,
//! `engine` and the `lab` binary share one function without a new dependency between
//! them.

use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// A file being written; it appears under its final name only on [`AtomicFile::commit`].
#[derive(Debug)]
pub struct AtomicFile {
    tmp: tempfile::NamedTempFile,
    dest: PathBuf,
}

impl AtomicFile {
    /// Starts writing `dest` (its folder must exist).
    pub fn create(dest: &Path) -> io::Result<AtomicFile> {
        let dir = parent_of(dest);
        // The mode `std::fs::write` gives (0666 less the umask), not tempfile's private
        // 0600: run directories are shared with graders and CI.
        let tmp = tempfile::Builder::new()
            .prefix(".tmp-")
            .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666))
            .tempfile_in(dir)
            .map_err(|e| named(dest, "", e))?;
        Ok(AtomicFile {
            tmp,
            dest: dest.to_path_buf(),
        })
    }

    /// Flushes the data to disk, renames it into place and syncs the folder.
    pub fn commit(self) -> io::Result<()> {
        let dest = self.dest;
        self.tmp
            .as_file()
            .sync_all()
            .map_err(|e| named(&dest, "", e))?;
        self.tmp
            .persist(&dest)
            .map_err(|e| named(&dest, "renaming into place", e.error))?;
        sync_dir(parent_of(&dest)).map_err(|e| named(&dest, "syncing its folder", e))
    }

    /// Where the file will be.
    pub fn dest(&self) -> &Path {
        &self.dest
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.tmp.write(buf).map_err(|e| named(&self.dest, "", e))
    }

    fn flush(&mut self) -> io::Result<()> {
        self.tmp.flush().map_err(|e| named(&self.dest, "", e))
    }
}

/// Writes `bytes` to `dest` atomically; the error names the file.
pub fn write_atomic(dest: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut f = AtomicFile::create(dest)?;
    f.write_all(bytes)?;
    f.commit()
}

fn parent_of(p: &Path) -> &Path {
    match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    }
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// The error with the file it hit, so that "No space left on device" says which file:
/// `<dest>: <why>` (`<dest> (<doing>): <why>` past the write itself). The temporary
/// file's name, which tempfile adds, is left out: it no longer exists.
fn named(path: &Path, doing: &str, e: io::Error) -> io::Error {
    let why = reason(&e);
    let what = if doing.is_empty() {
        format!("{}: {why}", path.display())
    } else {
        format!("{} ({doing}): {why}", path.display())
    };
    io::Error::new(e.kind(), what)
}

/// The system's words for an error. tempfile appends ` at path "<temporary file>"` (and
/// hides the OS error code under its own type): that name is cut, the file is gone.
fn reason(e: &io::Error) -> String {
    if let Some(code) = e.raw_os_error() {
        return io::Error::from_raw_os_error(code).to_string();
    }
    let text = e.to_string();
    match text.rfind(" at path \"") {
        Some(i) => text[..i].to_string(),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_or_absent() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("report.json");
        write_atomic(&dest, b"first").unwrap();
        write_atomic(&dest, b"second").unwrap();
        assert_eq!(std::fs::read(&dest).unwrap(), b"second");
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(&dest).unwrap().permissions(),
        );
        assert_ne!(
            mode & 0o044,
            0,
            "readable by others as std::fs::write makes it: {mode:o}"
        );

        // Dropped before commit: the old file stays, no temporary file is left.
        let mut f = AtomicFile::create(&dest).unwrap();
        f.write_all(b"half").unwrap();
        drop(f);
        assert_eq!(std::fs::read(&dest).unwrap(), b"second");
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("report.json")]);
    }

    #[test]
    fn a_missing_folder_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("gone").join("report.json");
        let e = write_atomic(&dest, b"x").unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("{}: No such file or directory (os error 2)", dest.display())
        );
    }
}
