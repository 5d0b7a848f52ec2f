//! What the user sees while work goes on: phases always, details (build output) only on a
//! terminal, so CI logs stay short.

use std::io::{IsTerminal, Write};

#[derive(Debug, Clone, Copy)]
pub struct Progress {
    /// stderr is a terminal and CI is not set: show details and colour.
    pub interactive: bool,
    /// Print nothing but errors.
    pub quiet: bool,
}

impl Progress {
    pub fn detect(quiet: bool) -> Progress {
        let ci = std::env::var_os("CI").is_some_and(|v| !v.is_empty() && v != "false");
        Progress {
            interactive: std::io::stderr().is_terminal() && !ci,
            quiet,
        }
    }

    /// A phase of the work: "building image ...", "starting lab ...". The message may
    /// quote the lab file or a node's output: it is escaped for the terminal
    /// (`wire::terminal_text`), only the bold `==>` is an escape sequence.
    pub fn phase(&self, msg: &str) {
        if !self.quiet {
            let msg = wire::terminal_text(msg);
            let mut e = std::io::stderr().lock();
            let _ = if self.interactive {
                writeln!(e, "\x1b[1m==>\x1b[0m {msg}")
            } else {
                writeln!(e, "==> {msg}")
            };
        }
    }

    /// A line of detail (image build output); shown on a terminal only.
    pub fn detail(&self, line: &str) {
        if self.interactive && !self.quiet {
            let line = wire::terminal_safe(line.trim_end());
            if !line.is_empty() {
                let _ = writeln!(std::io::stderr().lock(), "    {line}");
            }
        }
    }
}
