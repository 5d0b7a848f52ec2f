//! Saved evidence, offline: `lab inspect` (any capture's DICOM timeline), `lab report`
//! (grade a run directory again) and `lab verify` (its SHA256SUMS).

use std::io::IsTerminal;
use std::path::Path;

use engine::EngineError;
use engine::inspect::Format;
use engine::report::{self, SUMS_FILE};

use crate::output::t;

pub fn inspect(
    capture: &Path,
    format: Format,
    addresses: Option<&Path>,
) -> Result<u8, EngineError> {
    let hosts = addresses.map(engine::inspect::hosts).transpose()?;
    // Streams: each line is written as the capture is read, nothing is kept.
    let stdout = std::io::stdout().lock();
    let out = std::io::BufWriter::with_capacity(64 * 1024, stdout);
    engine::inspect::timeline(capture, format, hosts, out)?;
    Ok(0)
}

/// `lab verify`: 0 when every file listed in SHA256SUMS is there unchanged, 1 listing
/// each changed, missing or invalid entry, 2 when there is no SHA256SUMS to check.
pub fn verify(run_dir: &Path) -> u8 {
    let v = match report::verify_sums(run_dir) {
        Ok(v) => v,
        Err(e) => {
            let sums = run_dir.join(SUMS_FILE);
            if e.kind() == std::io::ErrorKind::NotFound {
                eprintln!(
                    "error: {} does not exist: nothing to verify (`lab report {}` writes it)",
                    sums.display(),
                    run_dir.display()
                );
            } else {
                eprintln!("error: cannot read {}: {e}", sums.display());
            }
            return 2;
        }
    };
    for f in &v.mismatched {
        println!("CHANGED  {}", t(f));
    }
    for f in &v.missing {
        println!("MISSING  {}", t(f));
    }
    for f in &v.invalid {
        println!("INVALID  {}: {}", SUMS_FILE, t(f));
    }
    for f in &v.unlisted {
        println!(
            "note: {} is not covered by {} (added later?)",
            t(f),
            SUMS_FILE
        );
    }
    if v.is_ok() {
        println!(
            "{}: OK, {} file(s) match {}",
            run_dir.display(),
            v.ok.len(),
            SUMS_FILE
        );
        0
    } else {
        println!(
            "{}: FAILED, {} changed, {} missing, {} invalid line(s); {} file(s) match",
            run_dir.display(),
            v.mismatched.len(),
            v.missing.len(),
            v.invalid.len(),
            v.ok.len()
        );
        1
    }
}

pub fn report(run_dir: &Path) -> Result<u8, EngineError> {
    let (r, out) = engine::regrade(run_dir)?;
    let color = std::io::stdout().is_terminal();
    print!(
        "{}",
        report::terminal_summary(&r, &run_dir.display().to_string(), color)
    );
    println!(
        "graded again into {} (the run's own report and SHA256SUMS are unchanged)",
        t(&out.dir().display().to_string())
    );
    Ok(r.verdict.exit_code() as u8)
}
