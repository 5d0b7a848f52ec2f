//! Grading: each check of a lab, judged from the evidence a run saved.
//!
//! Owns the check kinds, the evidence model (what a run directory holds that checks read)
//! and the verdicts. Grading is offline by design: it reads only the run directory
//! (capture, PACS state snapshots), never a live container, so `lab report` can grade a
//! run again years later and get the same answer.
//!
//! It does not collect evidence (the engine does) nor decode traffic itself (`wire` does).

mod evidence;
mod grade;
mod signatures;

pub use evidence::{Evidence, PacsState};
pub use grade::{CheckResult, Outcome, grade};
