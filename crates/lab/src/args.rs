//! The second stage of the command line: what clap parsed (`cli`), checked and turned
//! into the values the commands run with (keep policies, down targets, report outputs).
//! Nothing here reads a file or talks to the daemon, so a bad combination is refused
//! before anything happens.

use std::collections::BTreeMap;
use std::path::PathBuf;

use engine::inspect::Format;
use engine::live::DownTarget;
use engine::suite::SuiteOutputs;
use engine::{EngineError, KeepPolicy};

use crate::cli::{self, Cli, ExportCommand, ImagesCommand, LifecycleCommand, ParamArgs};

/// A lab's parameters as given: `-p key=value` pairs and a `--params` file.
pub struct Params {
    pairs: Vec<(String, String)>,
    file: Option<PathBuf>,
}

impl Params {
    /// The file's parameters (read now), then the `-p` pairs over them.
    pub fn resolve(&self) -> Result<BTreeMap<String, String>, EngineError> {
        let mut out = match &self.file {
            Some(f) => engine::scenario::load_params_file(f)?,
            None => BTreeMap::new(),
        };
        out.extend(self.pairs.iter().cloned());
        Ok(out)
    }
}

impl From<ParamArgs> for Params {
    fn from(p: ParamArgs) -> Params {
        Params {
            pairs: p.param,
            file: p.params_file,
        }
    }
}

/// `lab grade`'s arguments.
pub struct Grade {
    pub lab: String,
    pub submissions: Vec<PathBuf>,
    pub students: Option<PathBuf>,
    pub jobs: usize,
    pub csv: PathBuf,
    pub junit: Option<PathBuf>,
    pub runs_dir: PathBuf,
}

/// What to do, checked.
pub enum Command {
    Run {
        lab: String,
        params: Params,
        runs_dir: PathBuf,
        keep: KeepPolicy,
    },
    Up {
        lab: String,
        params: Params,
        runs_dir: PathBuf,
    },
    Test {
        targets: Vec<String>,
        jobs: usize,
        outputs: SuiteOutputs,
        runs_dir: PathBuf,
    },
    Check {
        lab: String,
        runs_dir: PathBuf,
    },
    Pack {
        lab: String,
        students: PathBuf,
        out: PathBuf,
    },
    Grade(Grade),
    ExportCompose {
        lab: String,
        params: Params,
        out: Option<PathBuf>,
    },
    Down(DownTarget),
    Status {
        json: bool,
        runs_dir: Option<PathBuf>,
    },
    Logs {
        id: String,
        node: Option<String>,
        follow: bool,
    },
    Exec {
        id: String,
        node: String,
        cmd: Vec<String>,
    },
    Capture {
        id: String,
        network: Option<String>,
    },
    Gc {
        runs_dir: Option<PathBuf>,
    },
    ImagesBuild {
        force: bool,
    },
    ImagesPrune,
    List {
        json: bool,
    },
    Show {
        lab: String,
        params: Params,
        json: bool,
    },
    Explain {
        lab: String,
        json: bool,
    },
    Schema,
    Validate {
        targets: Vec<String>,
    },
    Completions {
        shell: clap_complete::Shell,
    },
    Man {
        out: Option<PathBuf>,
    },
    Inspect {
        capture: PathBuf,
        format: Format,
        addresses: Option<PathBuf>,
    },
    Report {
        run_dir: PathBuf,
    },
    Verify {
        run_dir: PathBuf,
    },
}

/// The whole command line, checked.
pub struct Args {
    pub labs: Option<PathBuf>,
    pub quiet: bool,
    pub command: Command,
}

impl TryFrom<Cli> for Args {
    type Error = EngineError;

    fn try_from(cli: Cli) -> Result<Args, EngineError> {
        use cli::Command as C;
        let command = match cli.command {
            C::Run {
                lab,
                params,
                runs_dir,
                keep,
            } => Command::Run {
                lab,
                params: params.into(),
                runs_dir,
                keep: if keep {
                    KeepPolicy::OnFailure
                } else {
                    KeepPolicy::Never
                },
            },
            C::Test {
                targets,
                jobs,
                junit,
                sarif,
                json,
                runs_dir,
            } => Command::Test {
                targets,
                jobs,
                outputs: SuiteOutputs { junit, sarif, json },
                runs_dir,
            },
            C::Check { lab, runs_dir } => Command::Check { lab, runs_dir },
            C::Pack { lab, students, out } => Command::Pack { lab, students, out },
            C::Grade {
                lab,
                submissions,
                students,
                jobs,
                csv,
                junit,
                runs_dir,
            } => Command::Grade(Grade {
                lab,
                submissions,
                students,
                jobs,
                csv,
                junit,
                runs_dir,
            }),
            C::Export {
                command: ExportCommand::Compose { lab, params, out },
            } => Command::ExportCompose {
                lab,
                params: params.into(),
                out,
            },
            C::Down { id, all, runs_dir } => Command::Down(match (id, all) {
                (Some(id), _) => DownTarget::Run(id),
                (None, true) => DownTarget::All { runs_dir },
                (None, false) => {
                    return Err(EngineError::Usage(
                        "say which run: `lab down <id>` or `lab down --all`".into(),
                    ));
                }
            }),
            C::Up {
                lab,
                params,
                runs_dir,
            } => Command::Up {
                lab,
                params: params.into(),
                runs_dir,
            },
            C::Lifecycle(cmd) => match cmd {
                LifecycleCommand::Status { json, runs_dir } => Command::Status { json, runs_dir },
                LifecycleCommand::Logs { id, node, follow } => Command::Logs { id, node, follow },
                LifecycleCommand::Exec { id, node, cmd } => Command::Exec { id, node, cmd },
                LifecycleCommand::Capture { id, network } => Command::Capture { id, network },
                LifecycleCommand::Gc { runs_dir } => Command::Gc { runs_dir },
            },
            C::Images {
                command: ImagesCommand::Build { force },
            } => Command::ImagesBuild { force },
            C::Images {
                command: ImagesCommand::Prune,
            } => Command::ImagesPrune,
            C::List { json } => Command::List { json },
            C::Show { lab, params, json } => Command::Show {
                lab,
                params: params.into(),
                json,
            },
            C::Explain { lab, json } => Command::Explain { lab, json },
            C::Schema => Command::Schema,
            C::Completions { shell } => Command::Completions { shell },
            C::Man { out } => Command::Man { out },
            C::Validate { targets } => Command::Validate { targets },
            C::Inspect {
                capture,
                json,
                addresses,
            } => Command::Inspect {
                capture,
                addresses,
                format: if json {
                    Format::JsonLines
                } else {
                    Format::Table
                },
            },
            C::Report { run_dir } => Command::Report { run_dir },
            C::Verify { run_dir } => Command::Verify { run_dir },
        };
        Ok(Args {
            labs: cli.labs,
            quiet: cli.quiet,
            command,
        })
    }
}
