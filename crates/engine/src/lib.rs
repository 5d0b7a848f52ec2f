//! A lab run, from scenario to report: plan -> images -> up -> ready -> steps -> collect ->
//! grade -> report -> down.
//!
//! Owns the order of things and the run directory (`runs/<id>/`): it decides names,
//! subnets and labels, builds missing images, starts the nodes through `runtime`, drives
//! the agent inside them with `docker exec`, saves every piece of evidence before teardown,
//! and asks `checks` and `report` for the verdict. `lifecycle` covers what surrounds a
//! run: labs left up (`lab up`), status, garbage collection, live capture, node isolation.
//! It does not parse scenarios (`scenario`), decode traffic (`wire`) or talk to Docker
//! directly (`runtime`).

pub mod catalog;
mod error;
pub mod export;
pub mod images;
pub mod lifecycle;
mod orthanc;
mod pki;
mod plan;
pub mod progress;
mod run;
pub mod suite;

pub use error::EngineError;
pub use plan::RunPlan;
pub use run::{KeepPolicy, RunOptions, RunResult, regrade, run_lab, teardown};
