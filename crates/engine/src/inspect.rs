//! `lab inspect`: the DICOM timeline of any pcap or pcapng capture, streamed to a writer
//! as a table or as JSON lines while the capture is read (nothing is kept).

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

/// Writes the timeline of `capture` to `out`. A reader that goes away (`| head`) is not
/// an error.
pub fn timeline(capture: &Path, format: Format, out: impl Write) -> Result<(), EngineError> {
    let fail = |e: String| EngineError::Capture(format!("{}: {e}", capture.display()));
    let written = match format {
        Format::JsonLines => {
            let mut sink = wire::JsonLines::new(out);
            let totals =
                wire::analyze_file_with(capture, &mut sink).map_err(|e| fail(e.to_string()))?;
            sink.finish(&totals).map(drop)
        }
        Format::Table => {
            let mut sink = wire::Table::new(out);
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
