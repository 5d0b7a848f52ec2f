//! `lab`: the command line of dicom-range. Thin by design: it parses arguments, calls the
//! engine, prints, and maps the outcome to the exit code (0 pass, 1 fail, 2 cannot run).

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use engine::catalog;
use engine::progress::Progress;
use wire::{terminal_safe as t, terminal_text as tt};

#[derive(Parser)]
#[command(name = "lab", version, about = "dicom-range: a cyber range for DICOM security", long_about = None)]
struct Cli {
    /// Folder of lab files (default: ./labs, then the project's labs/).
    #[arg(long, global = true, env = "LAB_LABS_DIR")]
    labs: Option<PathBuf>,
    /// Print only the result.
    #[arg(long, short, global = true)]
    quiet: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a lab: build missing images, start it, exercise it, grade it, tear it down.
    #[command(
        after_help = "Examples:\n  lab run plaintext-store\n  lab run plaintext-store -p patient=ROE^RICHARD\n  lab run ./my-lab.yaml --keep"
    )]
    Run {
        /// Lab name (see `lab list`) or path to a lab file.
        lab: String,
        #[command(flatten)]
        params: ParamArgs,
        /// Where run directories go.
        #[arg(long, default_value = "runs", env = "LAB_RUNS_DIR")]
        runs_dir: PathBuf,
        /// Keep the lab running when it does not pass, for debugging (`lab down <id>` later).
        #[arg(long)]
        keep: bool,
    },
    /// Run many labs as a regression suite: a table, reports for CI, and exit 0 only when
    /// every lab meets its expectations (1 when one does not, 2 when one could not run).
    #[command(
        after_help = "Examples:\n  lab test\n  lab test labs/ -j 2 --junit junit.xml --sarif findings.sarif\n  lab test plaintext-store tls-store"
    )]
    Test {
        /// Lab names, lab files or folders of labs (default: the whole catalog).
        #[arg(value_name = "LAB")]
        targets: Vec<String>,
        /// Labs run at the same time.
        #[arg(short = 'j', long, default_value_t = 2)]
        jobs: usize,
        /// Write a JUnit XML report (a testsuite per lab, a testcase per check).
        #[arg(long, value_name = "FILE")]
        junit: Option<PathBuf>,
        /// Write SARIF 2.1.0 with the security findings.
        #[arg(long, value_name = "FILE")]
        sarif: Option<PathBuf>,
        /// Write every run's report.json as one JSON array.
        #[arg(long, value_name = "FILE")]
        json: Option<PathBuf>,
        /// Where run directories go.
        #[arg(long, default_value = "runs", env = "LAB_RUNS_DIR")]
        runs_dir: PathBuf,
    },
    /// Try an exercise as a student: run it with its public checks only (exit 0 when they
    /// are all met).
    #[command(after_help = "Examples:\n  lab check s001.yaml\n  lab check turn-on-dicom-tls")]
    Check {
        /// The exercise file you were given (or an exercise's name).
        lab: String,
        /// Where run directories go.
        #[arg(long, default_value = "runs", env = "LAB_RUNS_DIR")]
        runs_dir: PathBuf,
    },
    /// Instructors: write one exercise file per student of a roster, with per-student
    /// values and without hidden checks, seed or solution.
    #[command(
        after_help = "Examples:\n  lab pack turn-on-dicom-tls --students roster.csv --out handout/\n\nThe roster is CSV with a header line: `id,name` (name optional)."
    )]
    Pack {
        /// The exercise (instructor's file or name).
        lab: String,
        /// Roster: CSV with an `id` column.
        #[arg(long, value_name = "CSV")]
        students: PathBuf,
        /// Folder to write `<id>.yaml` files into.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
    /// Instructors: grade submissions with the hidden checks; writes a CSV and a JUnit
    /// report of scores (exit 0 when every submission has full marks, 1 otherwise, 2 when
    /// nothing could be graded).
    #[command(
        after_help = "Examples:\n  lab grade turn-on-dicom-tls submissions/ --students roster.csv --csv grades.csv --junit grades.xml -j 2"
    )]
    Grade {
        /// The exercise (instructor's file or name).
        lab: String,
        /// Submission files, or folders of them.
        #[arg(required = true, value_name = "SUBMISSION")]
        submissions: Vec<PathBuf>,
        /// Roster: students who handed in nothing get a row with 0.
        #[arg(long, value_name = "CSV")]
        students: Option<PathBuf>,
        /// Submissions graded at the same time.
        #[arg(short = 'j', long, default_value_t = 2)]
        jobs: usize,
        /// Where to write the scores as CSV.
        #[arg(long, value_name = "FILE", default_value = "grades.csv")]
        csv: PathBuf,
        /// Where to write the scores as JUnit XML.
        #[arg(long, value_name = "FILE")]
        junit: Option<PathBuf>,
        /// Where run directories go (runs/grade-<exercise>/<student>/...).
        #[arg(long, default_value = "runs", env = "LAB_RUNS_DIR")]
        runs_dir: PathBuf,
    },
    /// Export a lab's topology for other tools.
    Export {
        #[command(subcommand)]
        command: ExportCommand,
    },
    /// Tear down a run (or all runs) from Docker labels alone.
    #[command(
        after_help = "Examples:\n  lab down plaintext-store-1a2b\n  lab down --all\n  lab down --all --runs-dir /tmp/class-runs"
    )]
    Down {
        /// Run id, as printed by `lab run`.
        id: Option<String>,
        /// Every dicom-range run on this Docker daemon (or, with --runs-dir, every run
        /// whose evidence goes to that folder).
        #[arg(long, conflicts_with = "id")]
        all: bool,
        /// With --all: only the runs whose run directories are in this folder.
        #[arg(long, requires = "all")]
        runs_dir: Option<PathBuf>,
    },
    /// Run a lab like `lab run`, then leave it running to explore: prints how the host
    /// reaches Orthanc (web UI and DICOM port), how to watch traffic and how to tear down.
    #[command(
        after_help = "Examples:\n  lab up plaintext-store\n  lab up tls-store -p patient=ROE^RICHARD"
    )]
    Up {
        /// Lab name (see `lab list`) or path to a lab file.
        lab: String,
        #[command(flatten)]
        params: ParamArgs,
        /// Where run directories go.
        #[arg(long, default_value = "runs", env = "LAB_RUNS_DIR")]
        runs_dir: PathBuf,
    },
    #[command(flatten)]
    Lifecycle(LifecycleCommand),
    /// Build the images labs need (base, Orthanc, agent).
    Images {
        #[command(subcommand)]
        command: ImagesCommand,
    },
    /// List the labs: name, threat, variant, MITRE ids, title.
    #[command(after_help = "Examples:\n  lab list\n  lab list --json")]
    List {
        /// One JSON object per lab.
        #[arg(long)]
        json: bool,
    },
    /// Print a lab as it would run: parameters substituted, defaults filled in.
    #[command(
        after_help = "Examples:\n  lab show plaintext-store\n  lab show plaintext-store -p patient=ROE^RICHARD --json"
    )]
    Show {
        lab: String,
        #[command(flatten)]
        params: ParamArgs,
        /// The validated scenario as JSON (every default filled in) instead of the YAML.
        #[arg(long)]
        json: bool,
    },
    /// Print the JSON Schema of lab files (docs/scenario.schema.json).
    Schema,
    /// Check lab files and print every problem (exit 0 valid, 2 not).
    #[command(after_help = "Examples:\n  lab validate\n  lab validate labs/plaintext-store.yaml")]
    Validate {
        /// Lab names, files or folders of labs (default: every lab).
        #[arg(value_name = "LAB")]
        targets: Vec<String>,
    },
    /// Print the DICOM timeline of any pcap or pcapng capture.
    #[command(after_help = "Example:\n  lab inspect runs/plaintext-store-1a2b/capture.pcapng")]
    Inspect {
        capture: PathBuf,
        /// JSON lines (events, PHI, issues, association summaries, totals; each with a
        /// "type" field) instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Grade a run directory again from its saved evidence and rewrite its report.
    #[command(after_help = "Example:\n  lab report runs/plaintext-store-1a2b")]
    Report { run_dir: PathBuf },
    /// Check a run directory against its SHA256SUMS (exit 0 intact, 1 changed or missing
    /// files, 2 no SHA256SUMS).
    #[command(after_help = "Example:\n  lab verify runs/plaintext-store-1a2b")]
    Verify { run_dir: PathBuf },
}

/// Parameters of a lab: `-p key=value` (repeatable) and `--params FILE` (a YAML mapping);
/// `-p` wins over the file.
#[derive(clap::Args)]
struct ParamArgs {
    /// Set a parameter of the lab: -p key=value (repeatable).
    #[arg(short = 'p', long = "param", value_parser = scenario::parse_override)]
    param: Vec<(String, String)>,
    /// A YAML file of parameters (`key: value` lines), e.g. one per student.
    #[arg(long = "params", value_name = "FILE")]
    params_file: Option<PathBuf>,
}

impl ParamArgs {
    fn resolve(&self) -> Result<BTreeMap<String, String>, engine::EngineError> {
        let mut out = match &self.params_file {
            Some(f) => scenario::load_params_file(f)?,
            None => BTreeMap::new(),
        };
        out.extend(self.param.iter().cloned());
        Ok(out)
    }
}

/// Looking inside running labs and cleaning up after them.
#[derive(Subcommand)]
enum LifecycleCommand {
    /// The runs on this Docker daemon: nodes, health, age, owner.
    #[command(after_help = "Examples:\n  lab status\n  lab status --json")]
    Status {
        /// One JSON object per run.
        #[arg(long)]
        json: bool,
        /// Only the runs whose run directories are in this folder.
        #[arg(long)]
        runs_dir: Option<PathBuf>,
    },
    /// A run's logs: every node's (prefixed with its name) or one node's.
    #[command(
        after_help = "Examples:\n  lab logs plaintext-store-1a2b\n  lab logs plaintext-store-1a2b pacs -f"
    )]
    Logs {
        id: String,
        node: Option<String>,
        /// Keep following new output.
        #[arg(short, long)]
        follow: bool,
    },
    /// Run a command inside a node of a running lab; exits with the command's code.
    #[command(
        after_help = "Examples:\n  lab exec plaintext-store-1a2b modality -- lab-agent echo --host pacs\n  lab exec plaintext-store-1a2b pacs -- cat /etc/orthanc-lab/orthanc.json"
    )]
    Exec {
        id: String,
        node: String,
        #[arg(last = true, required = true)]
        cmd: Vec<String>,
    },
    /// Live capture of a run's lab network as pcapng on stdout (for Wireshark).
    #[command(
        after_help = "Examples:\n  lab capture plaintext-store-1a2b | wireshark -k -i -\n  lab capture plaintext-store-1a2b --network clinical > live.pcapng"
    )]
    Capture {
        id: String,
        /// The lab network to tap (default: the run's first).
        #[arg(long)]
        network: Option<String>,
    },
    /// Remove runs whose `lab` process is gone (killed) and that were not kept on purpose,
    /// after saving what they left into their run directories. Live runs are untouched.
    #[command(after_help = "Examples:\n  lab gc\n  lab gc --runs-dir /tmp/class-runs")]
    Gc {
        /// Only the runs whose run directories are in this folder.
        #[arg(long)]
        runs_dir: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum ExportCommand {
    /// A docker compose file of the lab's nodes and networks (compose/<lab>/ by default).
    #[command(
        after_help = "Example:\n  lab export compose plaintext-store && cd compose/plaintext-store && docker-compose up -d"
    )]
    Compose {
        lab: String,
        #[command(flatten)]
        params: ParamArgs,
        /// Folder to write into.
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum ImagesCommand {
    /// Build every image whose recipe changed (or all, with --force).
    Build {
        #[arg(long)]
        force: bool,
    },
    /// Remove images of older recipes (each rebuild of lab-agent leaves agent, toolbox and
    /// pynetdicom images behind) and dangling leftovers; images in use stay.
    Prune,
}

fn main() -> ExitCode {
    // `lab list | head` must end quietly when the pipe closes, as Unix tools do, rather
    // than panic on a failed print.
    // SAFETY: setting a signal disposition to its default at start-up, before any thread.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let code = runtime.block_on(dispatch(cli));
    ExitCode::from(code)
}

async fn dispatch(cli: Cli) -> u8 {
    let progress = Progress::detect(cli.quiet);
    let labs = cli.labs.as_deref();
    let result: Result<u8, engine::EngineError> = match cli.command {
        Command::Run {
            lab,
            params,
            runs_dir,
            keep,
        } => run(labs, &lab, params, runs_dir, keep, progress).await,
        Command::Down { id, all, runs_dir } => down(id, all, runs_dir).await,
        Command::Up {
            lab,
            params,
            runs_dir,
        } => up(labs, &lab, params, runs_dir, progress).await,
        Command::Lifecycle(cmd) => lifecycle(cmd).await,
        Command::Check { lab, runs_dir } => check(labs, &lab, runs_dir, progress).await,
        Command::Pack { lab, students, out } => pack(labs, &lab, &students, &out),
        Command::Grade {
            lab,
            submissions,
            students,
            jobs,
            csv,
            junit,
            runs_dir,
        } => {
            grade(
                labs,
                &lab,
                submissions,
                students,
                jobs,
                (csv, junit),
                runs_dir,
                progress,
            )
            .await
        }
        Command::Export {
            command: ExportCommand::Compose { lab, params, out },
        } => export_compose(labs, &lab, &params, out),
        Command::Test {
            targets,
            jobs,
            junit,
            sarif,
            json,
            runs_dir,
        } => {
            test(
                labs,
                targets,
                jobs,
                [junit, sarif, json],
                runs_dir,
                progress,
            )
            .await
        }
        Command::Images {
            command: ImagesCommand::Build { force },
        } => images(labs, force, progress).await,
        Command::Images {
            command: ImagesCommand::Prune,
        } => prune_images().await,
        Command::List { json } => list(labs, json),
        Command::Show { lab, params, json } => show(labs, &lab, &params, json),
        Command::Schema => {
            println!(
                "{}",
                serde_json::to_string_pretty(&scenario::schema::json_schema()).expect("json")
            );
            Ok(0)
        }
        Command::Validate { targets } => validate(labs, targets),
        Command::Inspect { capture, json } => inspect(&capture, json),
        Command::Report { run_dir } => report(&run_dir),
        Command::Verify { run_dir } => Ok(verify(&run_dir)),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", tt(&e.to_string()));
            2
        }
    }
}

async fn run(
    labs: Option<&std::path::Path>,
    lab: &str,
    params: ParamArgs,
    runs_dir: PathBuf,
    keep: bool,
    progress: Progress,
) -> Result<u8, engine::EngineError> {
    // SIGINT and SIGTERM are caught from here on, for every run this command makes.
    let shutdown = engine::Shutdown::install();
    let path = catalog::find(lab, labs)?;
    let overrides = params.resolve()?;
    let scenario = scenario::load(&path, &overrides)?;
    let keep = if keep {
        engine::KeepPolicy::OnFailure
    } else {
        engine::KeepPolicy::Never
    };
    let opts = engine::RunOptions {
        runs_dir,
        keep,
        progress,
        shutdown,
    };
    let result = run_and_summarize(&scenario, &opts).await?;
    if result.kept {
        println!(
            "the lab is still running: `lab down {}` removes it",
            result.report.run_id
        );
    }
    Ok(result.report.verdict.exit_code() as u8)
}

async fn prune_images() -> Result<u8, engine::EngineError> {
    let docker = runtime::Docker::connect().await?;
    let pruned = engine::images::prune(&docker).await?;
    for r in &pruned.removed {
        println!("removed {r}");
    }
    for r in &pruned.in_use {
        println!("kept {r} (a container uses it)");
    }
    println!("removed {} image(s)", pruned.removed.len());
    Ok(0)
}

async fn check(
    labs: Option<&std::path::Path>,
    lab: &str,
    runs_dir: PathBuf,
    progress: Progress,
) -> Result<u8, engine::EngineError> {
    // SIGINT and SIGTERM are caught from here on, for every run this command makes.
    let shutdown = engine::Shutdown::install();
    let path = catalog::find(lab, labs)?;
    let scenario = scenario::load(&path, &BTreeMap::new())?;
    let Some(ex) = scenario.exercise.clone() else {
        return Err(engine::EngineError::Setup(format!(
            "{} is not an exercise\n  fix: `lab run {lab}` runs a lab; `lab check` is for exercise files",
            path.display()
        )));
    };
    let hidden = scenario.checks.iter().filter(|c| c.hidden).count();
    let scenario = engine::classroom::public_view(scenario);
    let opts = engine::RunOptions {
        runs_dir,
        keep: engine::KeepPolicy::Never,
        progress,
        shutdown: shutdown.clone(),
    };
    let result = run_and_summarize(&scenario, &opts).await?;
    let met = result
        .report
        .checks
        .iter()
        .filter(|c| c.outcome == checks::Outcome::Met)
        .count();
    println!(
        "exercise: {met}/{} public checks met{}; you may edit {}",
        scenario.checks.len(),
        if hidden > 0 {
            format!(" ({hidden} hidden check(s) not run: `lab grade` runs them)")
        } else {
            " (your instructor may grade with more checks, kept hidden)".to_string()
        },
        ex.editable_paths().join(", ")
    );
    Ok(result.report.verdict.exit_code() as u8)
}

fn pack(
    labs: Option<&std::path::Path>,
    lab: &str,
    students: &std::path::Path,
    out: &std::path::Path,
) -> Result<u8, engine::EngineError> {
    let path = catalog::find(lab, labs)?;
    let roster = engine::classroom::read_roster(students)?;
    let files = engine::classroom::pack(&path, &roster, out)?;
    println!(
        "wrote {} exercise file(s) to {} (no hidden checks, seed or solution in them)",
        files.len(),
        out.display()
    );
    Ok(0)
}

#[allow(clippy::too_many_arguments)]
async fn grade(
    labs: Option<&std::path::Path>,
    lab: &str,
    inputs: Vec<PathBuf>,
    students: Option<PathBuf>,
    jobs: usize,
    (csv_out, junit_out): (PathBuf, Option<PathBuf>),
    runs_dir: PathBuf,
    progress: Progress,
) -> Result<u8, engine::EngineError> {
    // SIGINT and SIGTERM are caught from here on, for every run this command makes.
    let shutdown = engine::Shutdown::install();
    let path = catalog::find(lab, labs)?;
    let roster = students
        .as_deref()
        .map(engine::classroom::read_roster)
        .transpose()?;
    let files = engine::classroom::submissions(&inputs)?;
    let name = path
        .file_stem()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned();
    progress.phase(&format!(
        "grading {} submission(s) of {name}, {} at a time",
        files.len(),
        jobs.max(1)
    ));
    let opts = engine::RunOptions {
        runs_dir: runs_dir.join(format!("grade-{name}")),
        keep: engine::KeepPolicy::Never,
        progress,
        shutdown: shutdown.clone(),
    };
    let rows = engine::classroom::grade(&path, files, roster.as_deref(), jobs, opts, move |r| {
        if !progress.quiet {
            eprintln!(
                "  {:<20} {:>3}/{:<3} {}",
                t(&r.student),
                r.score,
                r.max,
                t(r.error.as_deref().unwrap_or(""))
            );
        }
    })
    .await?;
    let (_, lab_scenario) = engine::classroom::load_exercise(&path)?;
    let ids: Vec<String> = lab_scenario.checks.iter().map(|c| c.id.clone()).collect();
    write_output(&csv_out, report::scores_csv(&rows, &ids))?;
    if let Some(j) = &junit_out {
        write_output(j, report::scores_junit(&name, &rows))?;
    }
    println!("{:<24} {:>7}  note", "student", "score");
    for r in &rows {
        let mut note = r.error.clone().unwrap_or_default();
        if !r.ignored.is_empty() {
            if !note.is_empty() {
                note.push_str("; ");
            }
            note.push_str(&format!("ignored changes to {}", r.ignored.join(", ")));
        }
        println!(
            "{:<24} {:>3}/{:<3}  {}",
            t(&r.student),
            r.score,
            r.max,
            t(&note)
        );
    }
    println!("scores written to {}", csv_out.display());
    let graded = rows.iter().filter(|r| !r.checks.is_empty()).count();
    if let Some(s) = shutdown.last() {
        println!(
            "interrupted by {s}: {graded} of {} submission(s) graded; the others are marked not graded",
            rows.len()
        );
        return Ok(2);
    }
    Ok(if graded == 0 {
        2
    } else if rows.iter().all(|r| r.error.is_none() && r.score == r.max) {
        0
    } else {
        1
    })
}

/// Runs one lab and prints its terminal summary (colour only on a terminal): what `run`,
/// `up` and `check` share.
async fn run_and_summarize(
    scenario: &scenario::Scenario,
    opts: &engine::RunOptions,
) -> Result<engine::RunResult, engine::EngineError> {
    let result = engine::run_lab(scenario, opts).await?;
    let color = std::io::stdout().is_terminal() && opts.progress.interactive;
    print!(
        "{}",
        report::terminal_summary(&result.report, &result.run_dir.display().to_string(), color)
    );
    Ok(result)
}

async fn test(
    labs: Option<&std::path::Path>,
    targets: Vec<String>,
    jobs: usize,
    [junit, sarif, json]: [Option<PathBuf>; 3],
    runs_dir: PathBuf,
    progress: Progress,
) -> Result<u8, engine::EngineError> {
    // SIGINT and SIGTERM are caught from here on, for every run this command makes.
    let shutdown = engine::Shutdown::install();
    let paths = catalog::targets(&targets, labs)?;
    if paths.is_empty() {
        return Err(engine::EngineError::Setup(
            "no lab files to test\n  fix: run from the project folder or name the labs".into(),
        ));
    }
    progress.phase(&format!(
        "testing {} lab(s), {} at a time",
        paths.len(),
        jobs.max(1)
    ));
    let opts = engine::RunOptions {
        runs_dir,
        keep: engine::KeepPolicy::Never,
        progress,
        shutdown: shutdown.clone(),
    };
    let entries = engine::suite::run_suite(paths, jobs, opts, move |e| {
        if !progress.quiet {
            let what = match &e.outcome {
                Ok(r) => format!("{:?}", r.report.verdict).to_uppercase(),
                Err(_) => "ERROR".into(),
            };
            eprintln!("    {:<26} {what}", t(&e.name));
        }
    })
    .await?;

    println!(
        "{:<26} {:<28} {:<11} {:>7} {:>7}  RESULT",
        "LAB", "THREAT", "VARIANT", "CHECKS", "TIME"
    );
    let mut worst = 0u8;
    // Every lab is in the reports, those that did not run too (with why).
    let reports: Vec<report::RunReport> = entries.iter().map(|e| e.report()).collect();
    for e in &entries {
        match &e.outcome {
            Ok(r) => {
                let rep = &r.report;
                let met = rep
                    .checks
                    .iter()
                    .filter(|c| c.outcome == checks::Outcome::Met)
                    .count();
                println!(
                    "{:<26} {:<28} {:<11} {:>7} {:>6.1}s  {}",
                    t(&rep.lab),
                    t(&rep.threat),
                    t(&rep.variant),
                    format!("{met}/{}", rep.checks.len()),
                    rep.duration_s,
                    format!("{:?}", rep.verdict).to_uppercase()
                );
                for c in rep
                    .checks
                    .iter()
                    .filter(|c| c.outcome != checks::Outcome::Met)
                {
                    println!(
                        "    {} {:?}: expected {}; observed {}",
                        t(&c.id),
                        c.outcome,
                        tt(&c.expected),
                        tt(&c.observed)
                    );
                }
                if let Some(err) = &rep.error {
                    println!("    error: {}", tt(err));
                }
                worst = worst.max(rep.verdict.exit_code() as u8);
            }
            Err(err) => {
                println!(
                    "{:<26} {:<28} {:<11} {:>7} {:>7}  ERROR",
                    t(&e.name),
                    "-",
                    "-",
                    "-",
                    "-"
                );
                println!("    {}", tt(&err.to_string()).replace('\n', "\n    "));
                worst = 2;
            }
        }
    }
    let passed = entries
        .iter()
        .filter(|e| matches!(&e.outcome, Ok(r) if r.report.verdict == report::Verdict::Pass))
        .count();
    println!("{passed} of {} lab(s) met every expectation", entries.len());
    let write = |path: &Option<PathBuf>, body: String| -> Result<(), engine::EngineError> {
        match path {
            Some(p) => write_output(p, body),
            None => Ok(()),
        }
    };
    write(&junit, report::junit(&reports))?;
    write(
        &sarif,
        serde_json::to_string_pretty(&report::sarif(&reports)).expect("json"),
    )?;
    write(&json, serde_json::to_string_pretty(&reports).expect("json"))?;
    if let Some(s) = shutdown.last() {
        let not_run = entries
            .iter()
            .filter(|e| matches!(e.outcome, Err(engine::EngineError::NotRun(_))))
            .count();
        println!(
            "interrupted by {s}: {not_run} of {} lab(s) not run",
            entries.len()
        );
        return Ok(2);
    }
    Ok(worst)
}

/// Writes a file the user asked for (scores, JUnit, JSON) whole or not at all.
fn write_output(path: &std::path::Path, body: String) -> Result<(), engine::EngineError> {
    // The error names the file already.
    report::write_atomic(path, body.as_bytes()).map_err(|source| engine::EngineError::Io {
        what: "saving output".into(),
        source,
    })
}

async fn down(
    id: Option<String>,
    all: bool,
    runs_dir: Option<PathBuf>,
) -> Result<u8, engine::EngineError> {
    if id.is_none() && !all {
        return Err(engine::EngineError::Setup(
            "say which run: `lab down <id>` or `lab down --all`".into(),
        ));
    }
    let docker = runtime::Docker::connect().await?;
    let removed = match (&id, &runs_dir) {
        (None, Some(dir)) => engine::lifecycle::down_all(&docker, Some(dir)).await?,
        _ => engine::teardown(&docker, id.as_deref()).await?,
    };
    if removed.containers.is_empty() && removed.networks.is_empty() {
        match id {
            Some(id) => println!("nothing labelled with run {id} is left"),
            None => println!("no dicom-range run is up"),
        }
    } else {
        println!(
            "removed {} container(s) and {} network(s)",
            removed.containers.len(),
            removed.networks.len()
        );
    }
    Ok(0)
}

/// Builds every image a lab of the catalog needs.
async fn images(
    labs: Option<&std::path::Path>,
    force: bool,
    progress: Progress,
) -> Result<u8, engine::EngineError> {
    use engine::images::{Image, ensure, needed_by};
    let docker = runtime::Docker::connect().await?;
    let mut all = vec![Image::Agent];
    for path in catalog::list(labs) {
        if let Ok(s) = scenario::load(&path, &BTreeMap::new()) {
            for img in needed_by(&s) {
                if !all.contains(&img) {
                    all.push(img);
                }
            }
        }
    }
    let built = ensure(&docker, &all, progress, force).await?;
    if built.is_empty() {
        println!("every image is up to date");
    } else {
        println!("built: {}", built.join(", "));
    }
    Ok(0)
}

fn export_compose(
    labs: Option<&std::path::Path>,
    lab: &str,
    params: &ParamArgs,
    out: Option<PathBuf>,
) -> Result<u8, engine::EngineError> {
    let path = catalog::find(lab, labs)?;
    let s = scenario::load(&path, &params.resolve()?)?;
    let out = out.unwrap_or_else(|| PathBuf::from("compose").join(&s.metadata.name));
    let file = engine::export::compose(&s, &out)?;
    println!(
        "wrote {} (and the files it mounts, and a README with the lab's steps)",
        file.display()
    );
    println!("  up:   cd {} && docker-compose up -d", out.display());
    println!(
        "  down: docker-compose down   (or: lab down compose-{})",
        s.metadata.name
    );
    Ok(0)
}

fn list(labs: Option<&std::path::Path>, json: bool) -> Result<u8, engine::EngineError> {
    if !json {
        println!(
            "{:<24} {:<28} {:<11} {:<13} TITLE",
            "NAME", "THREAT", "VARIANT", "MITRE"
        );
    }
    let mut bad = 0;
    for path in catalog::list(labs) {
        match scenario::load(&path, &BTreeMap::new()) {
            Ok(s) => {
                let m = &s.metadata;
                let variant = format!("{:?}", m.variant).to_lowercase();
                if json {
                    let row = serde_json::json!({
                        "name": m.name, "threat": m.threat, "variant": variant, "mitre": m.mitre,
                        "title": m.title, "pair": m.pair, "file": path.display().to_string(),
                    });
                    println!("{row}");
                } else {
                    println!(
                        "{:<24} {:<28} {:<11} {:<13} {}",
                        m.name,
                        m.threat,
                        variant,
                        m.mitre.join(","),
                        t(&m.title)
                    );
                }
            }
            Err(e) => {
                bad += 1;
                eprintln!("{}", tt(&e.to_string()));
            }
        }
    }
    Ok(if bad > 0 { 2 } else { 0 })
}

fn show(
    labs: Option<&std::path::Path>,
    lab: &str,
    params: &ParamArgs,
    json: bool,
) -> Result<u8, engine::EngineError> {
    let path = catalog::find(lab, labs)?;
    let s = scenario::load(&path, &params.resolve()?)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&s).expect("json"));
    } else {
        // The file as written, byte for byte, into a pipe; on a terminal its comments
        // (which validation does not read) cannot drive the terminal either.
        if std::io::stdout().is_terminal() {
            print!("{}", tt(&s.resolved_text));
        } else {
            print!("{}", s.resolved_text);
        }
    }
    Ok(0)
}

fn validate(labs: Option<&std::path::Path>, names: Vec<String>) -> Result<u8, engine::EngineError> {
    let all = catalog::list(labs);
    let paths = catalog::targets(&names, labs)?;
    if paths.is_empty() {
        return Err(engine::EngineError::Setup(
            "no lab files found\n  fix: run from the project folder or pass --labs DIR".into(),
        ));
    }
    // Pairs are looked up among the catalog and the files given.
    let mut known = all;
    known.extend(paths.iter().cloned());
    let index = catalog::index(&known);
    let mut bad = 0;
    for path in &paths {
        let problems = match scenario::load(path, &BTreeMap::new()) {
            Ok(s) => catalog::pair_problems(&s, &index),
            Err(e) => e.problems,
        };
        if problems.is_empty() {
            println!("ok    {}", path.display());
        } else {
            bad += 1;
            for p in problems {
                println!("{}", tt(&p.to_string()));
            }
        }
    }
    if bad > 0 {
        eprintln!("{bad} of {} lab file(s) have problems", paths.len());
    }
    Ok(if bad > 0 { 2 } else { 0 })
}

fn inspect(capture: &std::path::Path, json: bool) -> Result<u8, engine::EngineError> {
    // Streams: each line is written as the capture is read, nothing is kept.
    let fail = |e: String| engine::EngineError::Setup(format!("{}: {e}", capture.display()));
    let stdout = std::io::stdout().lock();
    let out = std::io::BufWriter::with_capacity(64 * 1024, stdout);
    let written = if json {
        let mut sink = wire::JsonLines::new(out);
        let totals =
            wire::analyze_file_with(capture, &mut sink).map_err(|e| fail(e.to_string()))?;
        sink.finish(&totals).map(drop)
    } else {
        let mut sink = wire::Table::new(out);
        let totals =
            wire::analyze_file_with(capture, &mut sink).map_err(|e| fail(e.to_string()))?;
        sink.finish(&totals).map(drop)
    };
    match written {
        Ok(()) => Ok(0),
        // `lab inspect ... | head` is not an error
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(0),
        Err(e) => Err(fail(format!("writing the timeline: {e}"))),
    }
}

/// `lab verify`: 0 when every file listed in SHA256SUMS is there unchanged, 1 listing
/// each changed, missing or invalid entry, 2 when there is no SHA256SUMS to check.
fn verify(run_dir: &std::path::Path) -> u8 {
    let v = match report::verify_sums(run_dir) {
        Ok(v) => v,
        Err(e) => {
            let sums = run_dir.join(report::SUMS_FILE);
            if e.kind() == std::io::ErrorKind::NotFound {
                eprintln!(
                    "error: {} does not exist: nothing to verify (`lab report {}` writes it)",
                    sums.display(),
                    run_dir.display()
                );
            } else {
                eprintln!("error: cannot read {}: {e}", sums.display());
            }
            return 2;
        }
    };
    for f in &v.mismatched {
        println!("CHANGED  {}", t(f));
    }
    for f in &v.missing {
        println!("MISSING  {}", t(f));
    }
    for f in &v.invalid {
        println!("INVALID  {}: {}", report::SUMS_FILE, t(f));
    }
    for f in &v.unlisted {
        println!(
            "note: {} is not covered by {} (added later?)",
            t(f),
            report::SUMS_FILE
        );
    }
    if v.is_ok() {
        println!(
            "{}: OK, {} file(s) match {}",
            run_dir.display(),
            v.ok.len(),
            report::SUMS_FILE
        );
        0
    } else {
        println!(
            "{}: FAILED, {} changed, {} missing, {} invalid line(s); {} file(s) match",
            run_dir.display(),
            v.mismatched.len(),
            v.missing.len(),
            v.invalid.len(),
            v.ok.len()
        );
        1
    }
}

fn report(run_dir: &std::path::Path) -> Result<u8, engine::EngineError> {
    let (r, out) = engine::regrade(run_dir)?;
    let color = std::io::stdout().is_terminal();
    print!(
        "{}",
        report::terminal_summary(&r, &run_dir.display().to_string(), color)
    );
    println!(
        "graded again into {} (the run's own report and SHA256SUMS are unchanged)",
        t(&out.dir().display().to_string())
    );
    Ok(r.verdict.exit_code() as u8)
}

/// `lab up`: `lab run` that keeps the lab, then says how to reach it.
async fn up(
    labs: Option<&std::path::Path>,
    lab: &str,
    params: ParamArgs,
    runs_dir: PathBuf,
    progress: Progress,
) -> Result<u8, engine::EngineError> {
    // SIGINT and SIGTERM are caught from here on, for every run this command makes.
    let shutdown = engine::Shutdown::install();
    let path = catalog::find(lab, labs)?;
    let scenario = scenario::load(&path, &params.resolve()?)?;
    let opts = engine::RunOptions {
        runs_dir,
        keep: engine::KeepPolicy::Always,
        progress,
        shutdown: shutdown.clone(),
    };
    let result = run_and_summarize(&scenario, &opts).await?;
    let id = &result.report.run_id;
    if !result.kept {
        println!("the lab was torn down (interrupted); nothing of {id} is left");
        return Ok(result.report.verdict.exit_code() as u8);
    }
    let docker = runtime::Docker::connect().await?;
    let endpoints = engine::lifecycle::expose(&docker, id, &scenario).await?;
    println!("\nthe lab is up: run {id}");
    for e in &endpoints {
        println!(
            "  {} (Orthanc, AET {}){}",
            e.node,
            e.aet,
            if e.tls { ", DICOM TLS" } else { "" }
        );
        println!("    web UI:  {}   (from this host only)", e.web);
        println!(
            "    DICOM:   {}:{}   e.g. echoscu -aec {} {} {}",
            e.address, e.dicom_port, e.aet, e.address, e.dicom_port
        );
    }
    println!("  status:  lab status");
    println!("  logs:    lab logs {id} [node] -f");
    println!("  shell:   lab exec {id} <node> -- <command>");
    println!("  traffic: lab capture {id} | wireshark -k -i -");
    println!("  down:    lab down {id}");
    Ok(result.report.verdict.exit_code() as u8)
}

async fn lifecycle(cmd: LifecycleCommand) -> Result<u8, engine::EngineError> {
    let docker = runtime::Docker::connect().await?;
    match cmd {
        LifecycleCommand::Status { json, runs_dir } => status(&docker, json, runs_dir).await,
        LifecycleCommand::Logs { id, node, follow } => logs(&docker, &id, node, follow).await,
        LifecycleCommand::Exec { id, node, cmd } => exec(&docker, &id, &node, &cmd).await,
        LifecycleCommand::Capture { id, network } => capture(&docker, &id, network).await,
        LifecycleCommand::Gc { runs_dir } => gc(&docker, runs_dir).await,
    }
}

fn age(secs: i64) -> String {
    match secs {
        s if s < 120 => format!("{s}s"),
        s if s < 7200 => format!("{}m", s / 60),
        s if s < 172_800 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86_400),
    }
}

async fn status(
    docker: &runtime::Docker,
    json: bool,
    runs_dir: Option<PathBuf>,
) -> Result<u8, engine::EngineError> {
    let runs = engine::lifecycle::list_runs(docker, runs_dir.as_deref()).await?;
    if json {
        for r in &runs {
            println!("{}", serde_json::to_string(r).expect("json"));
        }
        return Ok(0);
    }
    if runs.is_empty() {
        println!("no dicom-range run is up");
        return Ok(0);
    }
    println!(
        "{:<30} {:<24} {:>5} {:>6}  {:<22} HEALTH",
        "RUN", "LAB", "NODES", "AGE", "OWNER"
    );
    for r in &runs {
        let running = r.nodes.iter().filter(|n| n.state == "running").count();
        let owner = match (r.owner_pid, r.owner_alive, r.kept) {
            (_, _, true) => "kept (lab up/--keep)".to_string(),
            (Some(pid), true, _) => format!("pid {pid}"),
            (Some(pid), false, _) => format!("pid {pid} gone: lab gc"),
            (None, _, _) => "unknown (not lab)".into(),
        };
        println!(
            "{:<30} {:<24} {:>5} {:>6}  {:<22} {}",
            t(&r.run),
            t(&r.lab),
            format!("{running}/{}", r.nodes.len()),
            age(r.age_s),
            owner,
            tt(&r.health)
        );
    }
    Ok(0)
}

/// The containers of run `id` (node name, container), or an error naming the runs up.
async fn run_nodes(
    docker: &runtime::Docker,
    id: &str,
) -> Result<Vec<(String, String)>, engine::EngineError> {
    let mut nodes: Vec<(String, String)> = docker
        .containers(runtime::LABEL_RUN, Some(id))
        .await?
        .into_iter()
        .filter(|c| !c.labels.contains_key(runtime::LABEL_HELPER))
        .map(|c| {
            (
                c.labels
                    .get(runtime::LABEL_NODE)
                    .cloned()
                    .unwrap_or_default(),
                c.name,
            )
        })
        .collect();
    nodes.sort();
    if nodes.is_empty() {
        let up: Vec<String> = engine::lifecycle::list_runs(docker, None)
            .await?
            .into_iter()
            .map(|r| r.run)
            .collect();
        return Err(engine::EngineError::Setup(format!(
            "no container is labelled with run `{id}`; runs up: {}",
            if up.is_empty() {
                "none".into()
            } else {
                up.join(", ")
            }
        )));
    }
    Ok(nodes)
}

fn pick_node<'a>(
    nodes: &'a [(String, String)],
    id: &str,
    node: &str,
) -> Result<&'a str, engine::EngineError> {
    nodes
        .iter()
        .find(|(n, _)| n == node)
        .map(|(_, c)| c.as_str())
        .ok_or_else(|| {
            let names: Vec<&str> = nodes.iter().map(|(n, _)| n.as_str()).collect();
            engine::EngineError::Setup(format!(
                "run {id} has no node `{node}`; its nodes: {}",
                names.join(", ")
            ))
        })
}

async fn logs(
    docker: &runtime::Docker,
    id: &str,
    node: Option<String>,
    follow: bool,
) -> Result<u8, engine::EngineError> {
    use futures_util::StreamExt;
    use std::io::Write;
    let nodes = run_nodes(docker, id).await?;
    let chosen: Vec<(String, String)> = match &node {
        Some(n) => vec![(n.clone(), pick_node(&nodes, id, n)?.to_string())],
        None => nodes,
    };
    let prefix = chosen.len() > 1;
    // Node logs are the lab's (and an attacker's) text: on a terminal they are escaped;
    // into a file or a pipe they stay byte for byte, as `docker logs` gives them.
    let escape = std::io::stdout().is_terminal();
    let shown = |bytes: &[u8]| -> Vec<u8> {
        if escape {
            tt(&String::from_utf8_lossy(bytes))
                .into_owned()
                .into_bytes()
        } else {
            bytes.to_vec()
        }
    };
    let streams = chosen.into_iter().map(|(node, container)| {
        docker
            .log_stream(&container, follow)
            .map(move |r| (node.clone(), r))
    });
    let mut all = futures_util::stream::select_all(streams.map(Box::pin));
    // Lines of several nodes are kept whole: each chunk is cut at its last newline.
    let mut pending: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    while let Some((node, item)) = all.next().await {
        let (is_err, bytes) = item?;
        let mut out: Box<dyn Write> = if is_err && !prefix {
            Box::new(std::io::stderr().lock())
        } else {
            Box::new(std::io::stdout().lock())
        };
        let written = if prefix {
            let buf = pending.entry(node.clone()).or_default();
            buf.extend_from_slice(&bytes);
            let mut res = Ok(());
            while let Some(pos) = buf.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = buf.drain(..=pos).collect();
                res = res.and(write!(out, "{node:<10} | ").and(out.write_all(&shown(&line))));
            }
            res
        } else {
            out.write_all(&shown(&bytes))
        };
        if written.and(out.flush()).is_err() {
            return Ok(0);
        }
    }
    for (node, rest) in pending {
        if !rest.is_empty() {
            println!("{node:<10} | {}", tt(&String::from_utf8_lossy(&rest)));
        }
    }
    Ok(0)
}

async fn exec(
    docker: &runtime::Docker,
    id: &str,
    node: &str,
    cmd: &[String],
) -> Result<u8, engine::EngineError> {
    use std::io::Write;
    let nodes = run_nodes(docker, id).await?;
    let container = pick_node(&nodes, id, node)?;
    let code = docker
        .exec_streaming(container, cmd, |is_err, bytes| {
            let _ = if is_err {
                std::io::stderr().lock().write_all(bytes)
            } else {
                let mut o = std::io::stdout().lock();
                o.write_all(bytes).and_then(|_| o.flush())
            };
        })
        .await?;
    // The command's own code; one that does not fit (or a lost exec) is reported as 2.
    Ok(u8::try_from(code).unwrap_or(2))
}

async fn capture(
    docker: &runtime::Docker,
    id: &str,
    network: Option<String>,
) -> Result<u8, engine::EngineError> {
    use futures_util::StreamExt;
    use std::io::Write;
    let shutdown = engine::Shutdown::install();
    let (helper, mut stream) = engine::lifecycle::capture(docker, id, network.as_deref()).await?;
    let mut stdout = std::io::stdout().lock();
    let mut outcome = Ok(0);
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
    loop {
        let next = tokio::select! {
            n = stream.next() => n,
            // A quiet lab writes nothing: notice the reader leaving (Wireshark closed)
            // without waiting for the next packet.
            _ = tick.tick() => {
                if reader_gone() { None } else { continue }
            }
            _ = shutdown.wait(1) => None,
        };
        match next {
            // The pcapng is the helper's stderr; its stdout says when it is capturing.
            Some(Ok((true, bytes))) => {
                if stdout
                    .write_all(&bytes)
                    .and_then(|_| stdout.flush())
                    .is_err()
                {
                    break; // the reader (Wireshark) went away
                }
            }
            Some(Ok((false, line))) => {
                eprint!("{}", tt(&String::from_utf8_lossy(&line)));
            }
            Some(Err(e)) => {
                outcome = Err(e.into());
                break;
            }
            None => break,
        }
    }
    docker.remove_container(&helper).await?;
    outcome
}

/// Whether stdout is a pipe or socket whose reader has gone (poll says error or hang-up).
fn reader_gone() -> bool {
    let mut fd = libc::pollfd {
        fd: 1,
        events: 0,
        revents: 0,
    };
    // SAFETY: one valid pollfd, zero timeout.
    let n = unsafe { libc::poll(&mut fd, 1, 0) };
    n > 0 && fd.revents & (libc::POLLERR | libc::POLLHUP) != 0
}

async fn gc(
    docker: &runtime::Docker,
    runs_dir: Option<PathBuf>,
) -> Result<u8, engine::EngineError> {
    let collected = engine::lifecycle::gc(docker, runs_dir.as_deref()).await?;
    if collected.is_empty() {
        println!("nothing to collect: every run has a live owner or was kept on purpose");
    }
    let mut code = 0;
    for c in &collected {
        if let Some(why) = &c.left {
            let why = tt(why);
            println!(
                "left {} in place: {}, but saving what it left failed: {why}\n  fix: free space or make its runs folder writable, then `lab gc` again (or `lab down {}` removes it without saving)",
                t(&c.run),
                tt(&c.reason),
                t(&c.run)
            );
            code = 2;
            continue;
        }
        println!(
            "removed {}: {} container(s), {} network(s); {}",
            c.run,
            c.removed.containers.len(),
            c.removed.networks.len(),
            tt(&c.reason)
        );
        if let Some(dir) = &c.saved {
            println!("  what it left is saved in {}", dir.display());
        }
    }
    Ok(code)
}
