//! `lab-agent`: see the `agent` library for what each subcommand does.

fn main() -> std::process::ExitCode {
    agent::cli::main()
}
