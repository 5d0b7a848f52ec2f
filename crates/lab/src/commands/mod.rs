//! One file per group of commands; each takes checked arguments (`args`), calls the
//! engine, prints and returns the exit code.

pub mod classroom;
pub mod evidence;
pub mod explain;
pub mod images;
pub mod labs;
pub mod lifecycle;
pub mod runs;
pub mod shell;
