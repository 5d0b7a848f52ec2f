//! `lab`: the command line of dicom-range. Thin by design: it parses arguments, calls the
//! engine, prints, and maps the outcome to the exit code (0 pass, 1 fail, 2 cannot run).
//!
//! `cli` is what clap parses, `args` the checked form the commands take, `commands` one
//! file per group of commands, `output` what several of them print the same way.

mod args;
mod cli;
mod commands;
mod output;

use std::process::ExitCode;

use clap::Parser;
use engine::progress::Progress;

use crate::args::{Args, Command};
use crate::commands::{classroom, evidence, explain, images, labs, lifecycle, runs, shell};
use crate::output::tt;

fn main() -> ExitCode {
    // `lab list | head` must end quietly when the pipe closes, as Unix tools do, rather
    // than panic on a failed print.
    // SAFETY: setting a signal disposition to its default at start-up, before any thread.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = cli::Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let code = runtime.block_on(async {
        match Args::try_from(cli) {
            Ok(args) => dispatch(args).await,
            Err(e) => Err(e),
        }
    });
    ExitCode::from(match code {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", tt(&e.to_string()));
            2
        }
    })
}

async fn dispatch(args: Args) -> Result<u8, engine::EngineError> {
    let progress = Progress::detect(args.quiet);
    let labs = args.labs.as_deref();
    match args.command {
        Command::Run {
            lab,
            params,
            runs_dir,
            keep,
        } => runs::run(labs, &lab, &params, runs_dir, keep, progress).await,
        Command::Up {
            lab,
            params,
            runs_dir,
        } => runs::up(labs, &lab, &params, runs_dir, progress).await,
        Command::Test {
            targets,
            jobs,
            outputs,
            runs_dir,
        } => runs::test(labs, &targets, jobs, &outputs, runs_dir, progress).await,
        Command::Check { lab, runs_dir } => classroom::check(labs, &lab, runs_dir, progress).await,
        Command::Pack { lab, students, out } => classroom::pack(labs, &lab, &students, &out),
        Command::Grade(g) => classroom::grade(labs, g, progress).await,
        Command::ExportCompose { lab, params, out } => {
            labs::export_compose(labs, &lab, &params, out)
        }
        Command::Down(target) => lifecycle::down(&target).await,
        Command::Status { json, runs_dir } => lifecycle::status(json, runs_dir.as_deref()).await,
        Command::Logs { id, node, follow } => lifecycle::logs(&id, node.as_deref(), follow).await,
        Command::Exec { id, node, cmd } => lifecycle::exec(&id, &node, &cmd).await,
        Command::Capture { id, network } => lifecycle::capture(&id, network.as_deref()).await,
        Command::Gc { runs_dir } => lifecycle::gc(runs_dir.as_deref()).await,
        Command::ImagesBuild { force } => images::build(labs, force, progress).await,
        Command::ImagesPrune => images::prune().await,
        Command::List { json } => Ok(labs::list(labs, json)),
        Command::Show { lab, params, json } => labs::show(labs, &lab, &params, json),
        Command::Explain { lab, json } => explain::explain(labs, &lab, json),
        Command::Schema => Ok(labs::schema()),
        Command::Completions { shell } => Ok(shell::completions(shell)),
        Command::Man { out } => shell::man(out.as_deref()),
        Command::Validate { targets } => labs::validate(labs, &targets),
        Command::Inspect {
            capture,
            format,
            addresses,
        } => evidence::inspect(&capture, format, addresses.as_deref()),
        Command::Report { run_dir } => evidence::report(&run_dir),
        Command::Verify { run_dir } => Ok(evidence::verify(&run_dir)),
    }
}
