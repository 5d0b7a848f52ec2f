//! A lab run, from scenario to report: plan -> images -> up -> ready -> steps -> collect ->
//! grade -> report -> down.
//!
//! Owns the order of things and the run directory (`runs/<id>/`): it decides names,
//! subnets and labels, builds missing images, starts the nodes through `runtime`, drives
//! the agent inside them with `docker exec`, saves every piece of evidence before teardown,
//! and asks `checks` and `report` for the verdict. Steps that are not one lab-agent command
//! (the paper's pynetdicom modality, nmap in the toolbox, an attacker's `harvest` of its own
//! capture) become the same JSON results in `tools`. `lifecycle` covers what surrounds a
//! run: labs left up (`lab up`), status, garbage collection, live capture, node isolation;
//! `classroom` the instructor's workflow (pack, grade); `live` the CLI's jobs on labs that
//! are up (status, logs, exec, capture, gc, down); `inspect` and `output` what the CLI
//! prints and writes that is not a run directory. It does not parse scenarios
//! (`scenario`), decode traffic (`wire` does, also for `harvest`) or talk to Docker directly
//! (`runtime`).

pub mod catalog;
pub mod classroom;
mod dirs;
mod error;
pub mod explain;
pub mod export;
mod grading;
pub mod images;
pub mod inspect;
mod isolate;
pub mod lifecycle;
pub mod limits;
pub mod live;
mod lock;
mod node;
mod orthanc;
pub mod output;
mod pacs_evidence;
mod pki;
mod plan;
pub mod progress;
mod run;
mod save;
pub mod shutdown;
mod signatures;
pub mod suite;
mod tools;

pub use error::EngineError;
pub use grading::regrade;
pub use plan::RunPlan;
pub use run::{KeepPolicy, RunOptions, RunResult, run_lab, teardown};
pub use shutdown::Shutdown;

// The crates whose types and pure functions the CLI uses as they are (the lab format,
// reports and their verdicts, check outcomes, terminal-safe text), re-exported so that
// `lab` depends on this crate alone. Docker (`runtime`) is not: the CLI asks `live` and
// `images` for what it needs from the daemon.
pub use checks;
pub use report;
pub use runtime::Removed;
pub use scenario;
pub use wire;

#[cfg(test)]
mod test_support {
    /// A lab of the catalog, loaded as `lab run` would.
    pub(crate) fn lab(name: &str) -> scenario::Scenario {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../labs")
            .join(format!("{name}.yaml"));
        scenario::load(&path, &std::collections::BTreeMap::new()).unwrap()
    }
}
