//! `lab inspect`: the DICOM timeline of any pcap or pcapng capture, streamed to a writer
//! as a table or as JSON lines while the capture is read (nothing is kept). Given a run's
//! address map, each address is named by the node that owned it in that run.

use std::io::Write;
use std::path::Path;

use crate::EngineError;

/// How `lab inspect` prints the timeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Table,
    /// JSON lines (events, PHI, issues, association summaries, totals).
    JsonLines,
}

/// The hosts of the address map at `path`: a run's `addresses.json`, or a run directory
/// holding one.
pub fn hosts(path: &Path) -> Result<wire::Hosts, EngineError> {
    let file = if path.is_dir() {
        rundir::RunDir::new(path).addresses()
    } else {
        path.to_path_buf()
    };
    let map = rundir::AddressMap::read(&file).map_err(|e| {
        EngineError::Addresses(format!(
            "{e}\n  fix: give a run's {} (or its run directory)",
            rundir::ADDRESSES_FILE
        ))
    })?;
    Ok(report::hosts(&map))
}

/// Writes the timeline of `capture` to `out`, naming addresses by `hosts` when given. A
/// reader that goes away (`| head`) is not an error.
pub fn timeline(
    capture: &Path,
    format: Format,
    hosts: Option<wire::Hosts>,
    out: impl Write,
) -> Result<(), EngineError> {
    let fail = |e: String| EngineError::Capture(format!("{}: {e}", capture.display()));
    let written = match format {
        Format::JsonLines => {
            let mut sink = match hosts {
                Some(h) => wire::JsonLines::with_hosts(out, h),
                None => wire::JsonLines::new(out),
            };
            let totals =
                wire::analyze_file_with(capture, &mut sink).map_err(|e| fail(e.to_string()))?;
            sink.finish(&totals).map(drop)
        }
        Format::Table => {
            let mut sink = match hosts {
                Some(h) => wire::Table::with_hosts(out, h),
                None => wire::Table::new(out),
            };
            let totals =
                wire::analyze_file_with(capture, &mut sink).map_err(|e| fail(e.to_string()))?;
            sink.finish(&totals).map(drop)
        }
    };
    match written {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(fail(format!("writing the timeline: {e}"))),
    }
}
