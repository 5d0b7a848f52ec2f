//! The container runtime: networks, containers, images, exec, logs and files, on Docker
//! through bollard.
//!
//! Owns every call to the Docker API and the labels that make teardown possible without a
//! scenario file (`dicom-range.run`, `.lab`, `.node`, and the owner and kept labels that
//! `lab gc` reads). It knows nothing of DICOM, labs or checks: the engine says what to
//! create, this crate creates it and removes it.
//!
//! Docker is the one runtime today; the engine speaks to it through [`Docker`]'s small
//! surface (create, exec, signal, copy out, remove by label) so that another runtime
//! (Kubernetes: a namespace per run) can later stand behind the same calls.

mod docker;
mod error;

pub use bytes::Bytes;
pub use docker::{
    Address, ContainerInfo, ContainerSpec, CopiedOut, Docker, ExecOutput, Labelled, LimitState,
    Limits, NetworkInfo, NetworkSpec, Output, RecipeImage, Removed,
};
pub use error::RuntimeError;

/// Label every object of a run carries: the run id.
pub const LABEL_RUN: &str = "dicom-range.run";
/// Label with the lab's name.
pub const LABEL_LAB: &str = "dicom-range.lab";
/// Label with the node's (or network's) name within the lab.
pub const LABEL_NODE: &str = "dicom-range.node";
/// Label with the process id of the `lab` that created the object (for `lab gc`).
pub const LABEL_OWNER_PID: &str = "dicom-range.owner-pid";
/// Label with the start time of the owning process (clock ticks since boot, from
/// `/proc/<pid>/stat`), so a recycled pid is not mistaken for the owner.
pub const LABEL_OWNER_START: &str = "dicom-range.owner-start";
/// Label with the absolute path of the folder the run's evidence goes to (`runs/`).
pub const LABEL_RUNS_DIR: &str = "dicom-range.runs-dir";
/// Label on a run's marker volume when the run is kept running on purpose (`lab up`,
/// `--keep`): `lab gc` leaves it alone although its owner has exited.
pub const LABEL_KEPT: &str = "dicom-range.kept";
/// Label on short-lived helper containers of a run (`capture`, `isolate`, `ui`).
pub const LABEL_HELPER: &str = "dicom-range.helper";
/// Label on images: the hash of the recipe they were built from.
pub const LABEL_RECIPE: &str = "dicom-range.recipe";
