//! Files in and out of containers: the tar of files put in before start, and one file
//! copied out (streamed, bounded, refused unless it is the one regular file asked for).

use bollard::query_parameters::DownloadFromContainerOptionsBuilder;
use futures_util::TryStreamExt;

use super::Docker;
use crate::error::RuntimeError;

impl Docker {
    /// Copies one file out of a container (running or stopped) into memory; refuses a
    /// file larger than 256 MiB (evidence files are streamed to disk: `copy_file_out`).
    pub async fn read_file(&self, container: &str, path: &str) -> Result<Vec<u8>, RuntimeError> {
        let (out, copied) = self
            .copy_file_out(container, path, Vec::new(), READ_FILE_MAX)
            .await?;
        if copied.truncated {
            return Err(RuntimeError::Refused(format!(
                "{container}:{path} holds {} bytes, more than the {READ_FILE_MAX} read into memory",
                copied.size
            )));
        }
        Ok(out)
    }

    /// Streams one file out of a container (running or stopped) into `out`, at most `max`
    /// bytes of it, and hands `out` back. The archive Docker sends is read as it arrives,
    /// through a fixed buffer: memory stays flat whatever the file's size. A file larger
    /// than `max` has its first `max` bytes written and is reported `truncated`.
    ///
    /// Errors reading from Docker and errors writing to `out` are told apart (the latter
    /// is, say, a full disk on the host, and says so).
    pub async fn copy_file_out<W: std::io::Write + Send + 'static>(
        &self,
        container: &str,
        path: &str,
        out: W,
        max: u64,
    ) -> Result<(W, CopiedOut), RuntimeError> {
        let options = DownloadFromContainerOptionsBuilder::new()
            .path(path)
            .build();
        let what = format!("{container}:{path}");
        let stream = self
            .api
            .download_from_container(container, Some(options))
            .map_err(std::io::Error::other);
        // The tar reader is synchronous: it runs on a blocking thread, pulling the
        // HTTP body through a bridge back into the runtime.
        let reader =
            tokio_util::io::SyncIoBridge::new(tokio_util::io::StreamReader::new(Box::pin(stream)));
        tokio::task::spawn_blocking(move || untar_one(reader, out, max, &what))
            .await
            .map_err(|e| RuntimeError::Other(format!("copying a file out: {e}")))?
    }
}

pub(super) fn tar_of(files: &[(&str, &[u8])]) -> std::io::Result<Vec<u8>> {
    let mut builder = tar::Builder::new(Vec::new());
    for (name, contents) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(contents.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        builder.append_data(&mut header, name, *contents)?;
    }
    builder.into_inner()
}

/// The most [`Docker::read_file`] holds in memory.
const READ_FILE_MAX: u64 = 256 << 20;

/// What [`Docker::copy_file_out`] copied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CopiedOut {
    /// The file's size in the container.
    pub size: u64,
    /// Bytes written out (`size`, or `max` when it was larger).
    pub written: u64,
    pub truncated: bool,
}

/// Writes the first regular file of a tar stream to `out`, at most `max` bytes.
fn untar_one<R: std::io::Read, W: std::io::Write>(
    reader: R,
    mut out: W,
    max: u64,
    what: &str,
) -> Result<(W, CopiedOut), RuntimeError> {
    let from = |source| RuntimeError::Io {
        context: format!("copying {what}"),
        source,
    };
    // The archive is the container's word: what it holds must be the one regular file
    // asked for, not a link (to follow later, on the host) nor a tree of other names.
    let asked = what.rsplit(['/', ':']).next().unwrap_or(what);
    let mut archive = tar::Archive::new(reader);
    let mut entries = archive.entries().map_err(from)?;
    let mut entry = match entries.next() {
        Some(entry) => entry.map_err(from)?,
        None => return Err(RuntimeError::Refused(format!("{what} is empty"))),
    };
    let kind = entry.header().entry_type();
    if !kind.is_file() {
        let is = if kind.is_symlink() || kind.is_hard_link() {
            "a link; it was not followed"
        } else {
            "not a regular file"
        };
        return Err(RuntimeError::Refused(format!("{what} is {is}")));
    }
    let name = entry.path().map_err(from)?.into_owned();
    if name.as_os_str() != std::ffi::OsStr::new(asked) {
        return Err(RuntimeError::Refused(format!(
            "copying {what} gave {} instead; refused",
            name.display()
        )));
    }
    let size = entry.header().size().map_err(from)?;
    let mut buf = vec![0u8; 64 << 10];
    let mut written = 0u64;
    while written < max {
        let want = buf
            .len()
            .min(usize::try_from(max - written).unwrap_or(usize::MAX));
        let n = match std::io::Read::read(&mut entry, &mut buf[..want]) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(from(e)),
        };
        out.write_all(&buf[..n])
            .map_err(|source| RuntimeError::Destination {
                context: format!("saving {what}"),
                source,
            })?;
        written += n as u64;
    }
    out.flush().map_err(|source| RuntimeError::Destination {
        context: format!("saving {what}"),
        source,
    })?;
    let truncated = size > written;
    drop(entry);
    // Only a whole archive can be told to hold one file; a truncated copy stops reading.
    if !truncated && entries.next().is_some() {
        return Err(RuntimeError::Refused(format!(
            "copying {what} gave more than one file; refused"
        )));
    }
    Ok((
        out,
        CopiedOut {
            size,
            written,
            truncated,
        },
    ))
}

#[cfg(test)]
mod copy_out_tests {
    use super::*;

    fn tar_of(name: &str, body: &[u8]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(body.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, name, body).unwrap();
        b.into_inner().unwrap()
    }

    #[test]
    fn the_file_streams_out_whole() {
        let body: Vec<u8> = (0..200_000u32).map(|i| i as u8).collect();
        let tar = tar_of("capture.pcapng", &body);
        let (out, c) = untar_one(
            tar.as_slice(),
            Vec::new(),
            u64::MAX,
            "x:/tmp/capture.pcapng",
        )
        .unwrap();
        assert_eq!(out, body);
        assert_eq!((c.size, c.written, c.truncated), (200_000, 200_000, false));
    }

    #[test]
    fn a_file_over_the_limit_is_cut_and_said_so() {
        let tar = tar_of("big", &[7u8; 100_000]);
        let (out, c) = untar_one(tar.as_slice(), Vec::new(), 1000, "x:/big").unwrap();
        assert_eq!(out.len(), 1000);
        assert!(c.truncated && c.size == 100_000 && c.written == 1000);
    }

    #[test]
    fn a_failing_destination_is_named_as_the_saving_side() {
        #[derive(Debug)]
        struct Full;
        impl std::io::Write for Full {
            fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
                Err(std::io::Error::from_raw_os_error(28))
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let tar = tar_of("f", b"data");
        let e = untar_one(tar.as_slice(), Full, 10, "c:/f").unwrap_err();
        assert!(e.to_string().starts_with("saving c:/f: "), "{e}");
    }

    #[test]
    fn a_link_or_another_name_or_a_second_file_is_refused() {
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_size(0);
        b.append_link(&mut h, "f", "/etc/shadow").unwrap();
        let link = b.into_inner().unwrap();
        let e = untar_one(link.as_slice(), Vec::new(), 10, "c:/f").unwrap_err();
        assert!(e.to_string().contains("a link"), "{e}");

        let other = tar_of("g", b"x");
        let e = untar_one(other.as_slice(), Vec::new(), 10, "c:/f").unwrap_err();
        assert!(e.to_string().contains("gave g instead"), "{e}");

        let mut two = tar_of("f", b"x");
        two.truncate(two.len() - 1024); // drop the end-of-archive blocks
        two.extend(tar_of("h", b"y"));
        let e = untar_one(two.as_slice(), Vec::new(), 10, "c:/f").unwrap_err();
        assert!(e.to_string().contains("more than one file"), "{e}");
    }
}
