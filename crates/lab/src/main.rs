//! `lab`: the command line of dicom-range. Thin by design: it parses arguments, calls the
//! engine, prints, and maps the outcome to the exit code (0 pass, 1 fail, 2 cannot run).

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use engine::catalog;
use engine::progress::Progress;

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
    #[command(after_help = "Examples:\n  lab down plaintext-store-1a2b\n  lab down --all")]
    Down {
        /// Run id, as printed by `lab run`.
        id: Option<String>,
        /// Every dicom-range run on this Docker daemon.
        #[arg(long, conflicts_with = "id")]
        all: bool,
    },
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
        /// Lab names or files (default: every lab).
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
        Command::Down { id, all } => down(id, all).await,
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
            eprintln!("error: {e}");
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
    };
    let result = engine::run_lab(&scenario, &opts).await?;
    let color = std::io::stdout().is_terminal() && progress.interactive;
    print!(
        "{}",
        report::terminal_summary(&result.report, &result.run_dir.display().to_string(), color)
    );
    if result.kept {
        println!(
            "the lab is still running: `lab down {}` removes it",
            result.report.run_id
        );
    }
    Ok(result.report.verdict.exit_code() as u8)
}

async fn check(
    labs: Option<&std::path::Path>,
    lab: &str,
    runs_dir: PathBuf,
    progress: Progress,
) -> Result<u8, engine::EngineError> {
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
    };
    let result = engine::run_lab(&scenario, &opts).await?;
    let color = std::io::stdout().is_terminal() && progress.interactive;
    print!(
        "{}",
        report::terminal_summary(&result.report, &result.run_dir.display().to_string(), color)
    );
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
    };
    let rows = engine::classroom::grade(&path, files, roster.as_deref(), jobs, opts, move |r| {
        if !progress.quiet {
            eprintln!(
                "  {:<20} {:>3}/{:<3} {}",
                r.student,
                r.score,
                r.max,
                r.error.as_deref().unwrap_or("")
            );
        }
    })
    .await?;
    let (_, lab_scenario) = engine::classroom::load_exercise(&path)?;
    let ids: Vec<String> = lab_scenario.checks.iter().map(|c| c.id.clone()).collect();
    std::fs::write(&csv_out, report::scores_csv(&rows, &ids)).map_err(|e| {
        engine::EngineError::Io {
            what: format!("writing {}", csv_out.display()),
            source: e,
        }
    })?;
    if let Some(j) = &junit_out {
        std::fs::write(j, report::scores_junit(&name, &rows)).map_err(|e| {
            engine::EngineError::Io {
                what: format!("writing {}", j.display()),
                source: e,
            }
        })?;
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
        println!("{:<24} {:>3}/{:<3}  {note}", r.student, r.score, r.max);
    }
    println!("scores written to {}", csv_out.display());
    let graded = rows.iter().filter(|r| !r.checks.is_empty()).count();
    Ok(if graded == 0 {
        2
    } else if rows.iter().all(|r| r.error.is_none() && r.score == r.max) {
        0
    } else {
        1
    })
}

async fn test(
    labs: Option<&std::path::Path>,
    targets: Vec<String>,
    jobs: usize,
    [junit, sarif, json]: [Option<PathBuf>; 3],
    runs_dir: PathBuf,
    progress: Progress,
) -> Result<u8, engine::EngineError> {
    let mut paths = Vec::new();
    if targets.is_empty() {
        paths = catalog::list(labs);
    }
    for t in &targets {
        let p = std::path::Path::new(t);
        if p.is_dir() {
            paths.extend(catalog::list(Some(p)));
        } else {
            paths.push(catalog::find(t, labs)?);
        }
    }
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
    };
    let entries = engine::suite::run_suite(paths, jobs, opts, move |e| {
        if !progress.quiet {
            let what = match &e.outcome {
                Ok(r) => format!("{:?}", r.report.verdict).to_uppercase(),
                Err(_) => "ERROR".into(),
            };
            eprintln!("    {:<26} {what}", e.name);
        }
    })
    .await?;

    println!(
        "{:<26} {:<28} {:<11} {:>7} {:>7}  RESULT",
        "LAB", "THREAT", "VARIANT", "CHECKS", "TIME"
    );
    let mut worst = 0u8;
    let mut reports = Vec::new();
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
                    rep.lab,
                    rep.threat,
                    rep.variant,
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
                        c.id, c.outcome, c.expected, c.observed
                    );
                }
                if let Some(err) = &rep.error {
                    println!("    error: {err}");
                }
                worst = worst.max(rep.verdict.exit_code() as u8);
                reports.push(rep.clone());
            }
            Err(err) => {
                println!(
                    "{:<26} {:<28} {:<11} {:>7} {:>7}  ERROR",
                    e.name, "-", "-", "-", "-"
                );
                println!("    {}", err.to_string().replace('\n', "\n    "));
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
        if let Some(p) = path {
            std::fs::write(p, body)
                .map_err(|e| engine::EngineError::Setup(format!("writing {}: {e}", p.display())))?;
        }
        Ok(())
    };
    write(&junit, report::junit(&reports))?;
    write(
        &sarif,
        serde_json::to_string_pretty(&report::sarif(&reports)).expect("json"),
    )?;
    write(&json, serde_json::to_string_pretty(&reports).expect("json"))?;
    Ok(worst)
}

async fn down(id: Option<String>, all: bool) -> Result<u8, engine::EngineError> {
    if id.is_none() && !all {
        return Err(engine::EngineError::Setup(
            "say which run: `lab down <id>` or `lab down --all`".into(),
        ));
    }
    let docker = runtime::Docker::connect().await?;
    let removed = engine::teardown(&docker, id.as_deref()).await?;
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
                        m.title
                    );
                }
            }
            Err(e) => {
                bad += 1;
                eprintln!("{e}");
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
        print!("{}", s.resolved_text);
    }
    Ok(0)
}

fn validate(labs: Option<&std::path::Path>, names: Vec<String>) -> Result<u8, engine::EngineError> {
    let all = catalog::list(labs);
    let paths = if names.is_empty() {
        all.clone()
    } else {
        names
            .iter()
            .map(|n| catalog::find(n, labs))
            .collect::<Result<Vec<_>, _>>()?
    };
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
                println!("{p}");
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
        println!("CHANGED  {f}");
    }
    for f in &v.missing {
        println!("MISSING  {f}");
    }
    for f in &v.invalid {
        println!("INVALID  {}: {f}", report::SUMS_FILE);
    }
    for f in &v.unlisted {
        println!(
            "note: {f} is not covered by {} (added later?)",
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
    let r = engine::regrade(run_dir)?;
    let color = std::io::stdout().is_terminal();
    print!(
        "{}",
        report::terminal_summary(&r, &run_dir.display().to_string(), color)
    );
    Ok(r.verdict.exit_code() as u8)
}
