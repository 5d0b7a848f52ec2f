//! `protocol`: the contract between the engine and `lab-agent`, in one place.
//!
//! What this crate owns:
//! - [`command`] and [`attack`]: every `lab-agent` subcommand as a typed value. The agent's
//!   clap parser is derived from these types, and the engine turns a value back into the
//!   argv it `docker exec`s with [`Command::to_argv`] ([`argv`]), so a flag is spelled once;
//! - [`options`]: which of a command's options a lab file may set under `with:`, and how a
//!   `with:` map becomes the typed options ([`argv::from_with`]);
//! - [`result`]: one type per JSON line the agent prints (results, events, alerts), which the
//!   agent emits and the engine and checks read back.
//!
//! What it does not own: Docker, DICOM, scenario files. It depends on nothing of ours.

pub mod argv;
pub mod attack;
pub mod command;
pub mod options;
pub mod result;
pub mod step;
pub mod values;

pub use argv::{WithError, from_with};
pub use attack::AttackCommand;
pub use command::{Cli, Command, PROGRAM};
pub use values::{FindLevel, IdsRule, Modality, Preamble, Syntax, TlsVersion};
