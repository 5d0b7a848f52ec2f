//! What a shell and `man` need of the command line, generated from the clap definitions
//! in `cli` so that they cannot drift from it: `lab completions <shell>` and `lab man`.

use std::io::Write;
use std::path::Path;

use clap::CommandFactory;
use engine::EngineError;

use crate::cli::Cli;

/// The name the scripts and pages complete and describe; the binary's own.
const BIN: &str = "lab";

pub fn completions(shell: clap_complete::Shell) -> u8 {
    clap_complete::generate(shell, &mut Cli::command(), BIN, &mut std::io::stdout());
    0
}

/// The whole man page on stdout; with `out`, `lab.1` and one `lab-<command>.1` per
/// subcommand, which is how `man lab-run` finds a command's page.
pub fn man(out: Option<&Path>) -> Result<u8, EngineError> {
    let io = |what: String| move |source| EngineError::Io { what, source };
    let cmd = Cli::command().name(BIN);
    match out {
        None => {
            let mut page = Vec::new();
            clap_mangen::Man::new(cmd)
                .render(&mut page)
                .map_err(io("rendering the man page".into()))?;
            std::io::stdout()
                .write_all(&page)
                .map_err(io("printing the man page".into()))?;
        }
        Some(dir) => {
            std::fs::create_dir_all(dir).map_err(io(format!("creating {}", dir.display())))?;
            clap_mangen::generate_to(cmd, dir)
                .map_err(io(format!("writing man pages into {}", dir.display())))?;
            println!("wrote the man pages into {}", dir.display());
        }
    }
    Ok(0)
}
