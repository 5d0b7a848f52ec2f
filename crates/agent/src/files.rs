//! Producers for `store`: instances made or found one at a time and handed to the
//! associations through a bounded channel, so memory holds a few instances, never a study.

use crate::client::{Body, Outgoing, Source};
use crate::error::AgentError;
use crate::synth::Study;
use dicom_object::meta::FileMetaTable;
use std::io::Read;
use std::path::{Path, PathBuf};
use tokio::sync::mpsc;

/// A DICOM Part 10 file found on disk: what its meta group says, and where its data set
/// starts.
#[derive(Debug, Clone)]
pub struct FileItem {
    pub path: PathBuf,
    pub sop_class_uid: String,
    pub sop_instance_uid: String,
    pub transfer_syntax_uid: String,
    /// Byte offset of the data set (after preamble, `DICM` and the meta group).
    pub offset: u64,
}

/// Read only the preamble and file meta group of a Part 10 file.
pub fn read_header(path: &Path) -> Result<FileItem, AgentError> {
    let f = std::fs::File::open(path)
        .map_err(|e| AgentError::other(format!("cannot open {}: {e}", path.display())))?;
    let mut r = std::io::BufReader::with_capacity(8192, f);
    let mut preamble = [0u8; 128];
    r.read_exact(&mut preamble).map_err(|_| {
        AgentError::other(format!(
            "{} is too short to be a DICOM Part 10 file",
            path.display()
        ))
    })?;
    let meta = FileMetaTable::from_reader(&mut r).map_err(|e| {
        AgentError::other(format!(
            "{} is not a DICOM Part 10 file (128-byte preamble, DICM, file meta group): {e}",
            path.display()
        ))
    })?;
    let trim = |s: &str| s.trim_end_matches(['\0', ' ']).to_string();
    // 128 preamble + 4 "DICM" + 12 for (0002,0000) UL itself + the group's length.
    let offset = 128 + 4 + 12 + meta.information_group_length as u64;
    Ok(FileItem {
        path: path.to_path_buf(),
        sop_class_uid: trim(meta.media_storage_sop_class_uid()),
        sop_instance_uid: trim(meta.media_storage_sop_instance_uid()),
        transfer_syntax_uid: trim(meta.transfer_syntax()),
        offset,
    })
}

/// Files given on the command line: each file, and each regular file of each directory
/// (one level, sorted by name). Every file must be a Part 10 file.
pub fn scan(paths: &[PathBuf]) -> Result<Vec<FileItem>, AgentError> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut entries: Vec<PathBuf> = std::fs::read_dir(p)
                .map_err(|e| AgentError::other(format!("cannot list {}: {e}", p.display())))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_file())
                .collect();
            entries.sort();
            for e in entries {
                out.push(read_header(&e)?);
            }
        } else {
            out.push(read_header(p)?);
        }
    }
    if out.is_empty() {
        return Err(AgentError::other(
            "--files found no file to send (empty directory?)",
        ));
    }
    Ok(out)
}

/// Send the files, one at a time, as file bodies (streamed from disk by the association).
pub fn produce_files(list: Vec<FileItem>, cap: usize) -> Source {
    let (tx, rx) = mpsc::channel(cap.max(1));
    std::thread::spawn(move || {
        for (index, f) in list.into_iter().enumerate() {
            let item = Outgoing {
                index,
                sop_class_uid: f.sop_class_uid,
                sop_instance_uid: f.sop_instance_uid,
                transfer_syntax_uid: f.transfer_syntax_uid,
                body: Body::File {
                    path: f.path,
                    offset: f.offset,
                },
                pixel_sha256: None,
            };
            if tx.blocking_send(Ok(item)).is_err() {
                break;
            }
        }
    });
    rx
}

/// Generate the study's instances lazily on a thread of their own (pixels and encoding are
/// CPU work), optionally saving each as a Part 10 file on the way.
pub fn produce_synthetic(study: Study, save_dir: Option<PathBuf>, cap: usize) -> Source {
    let (tx, rx) = mpsc::channel(cap.max(1));
    std::thread::spawn(move || {
        for i in 0..study.len() {
            let item = study
                .instance(i)
                .map_err(AgentError::from)
                .and_then(|inst| {
                    if let Some(dir) = &save_dir {
                        inst.write_part10(&dir.join(inst.file_name()))?;
                    }
                    Outgoing::from_instance(i as usize, &inst)
                });
            let failed = item.is_err();
            if tx.blocking_send(item).is_err() || failed {
                break;
            }
        }
    });
    rx
}
