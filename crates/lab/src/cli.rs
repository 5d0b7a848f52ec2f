//! The command line as clap parses it: flags, help texts and examples, and nothing else.
//! `args` turns it into what the commands run with (the second stage, as ripgrep does).

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "lab", version, about = "dicom-range: a cyber range for DICOM security", long_about = None)]
pub struct Cli {
    /// Folder of lab files (default: ./labs, then the installed
    /// /usr/share/dicom-range/labs, then the labs/ of the checkout `lab` was built from).
    #[arg(long, global = true, env = "LAB_LABS_DIR")]
    pub labs: Option<PathBuf>,
    /// Print only the result.
    #[arg(long, short, global = true)]
    pub quiet: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
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
    /// Explain a lab for a student: what it shows, its nodes and steps, what to look for in
    /// Wireshark (display filters, packets to expand) and what each check means.
    #[command(after_help = "Examples:\n  lab explain plaintext-store\n  lab explain ./my-lab.yaml")]
    Explain {
        /// Lab name (see `lab list`) or path to a lab file.
        lab: String,
        /// The explanation as one JSON object (for tools and tests).
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
    #[command(
        after_help = "Examples:\n  lab inspect runs/plaintext-store-1a2b/capture.pcapng\n  lab inspect runs/proxy-tamper-1a2b/capture.pcapng --addresses runs/proxy-tamper-1a2b/addresses.json"
    )]
    Inspect {
        capture: PathBuf,
        /// JSON lines (events, PHI, issues, association summaries, totals; each with a
        /// "type" field) instead of a table.
        #[arg(long)]
        json: bool,
        /// A run's address map (its addresses.json, or the run directory): each address
        /// is named by the node that owned it, each AE title shown as a claim.
        #[arg(long, value_name = "MAP")]
        addresses: Option<PathBuf>,
    },
    /// Grade a run directory again from its saved evidence and rewrite its report.
    #[command(after_help = "Example:\n  lab report runs/plaintext-store-1a2b")]
    Report { run_dir: PathBuf },
    /// Print a shell completion script on stdout.
    #[command(
        after_help = "Examples:\n  lab completions bash > /etc/bash_completion.d/lab\n  lab completions zsh > \"${fpath[1]}/_lab\"\n  lab completions fish > ~/.config/fish/completions/lab.fish"
    )]
    Completions {
        /// The shell to complete in.
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff) on stdout, or write one page per command into a folder.
    #[command(after_help = "Examples:\n  lab man | man -l -\n  lab man --out /usr/share/man/man1")]
    Man {
        /// Write lab.1 and lab-<command>.1 (one per subcommand) into this folder.
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
    },
    /// Check a run directory against its SHA256SUMS (exit 0 intact, 1 changed or missing
    /// files, 2 no SHA256SUMS).
    #[command(after_help = "Example:\n  lab verify runs/plaintext-store-1a2b")]
    Verify { run_dir: PathBuf },
}

/// Parameters of a lab: `-p key=value` (repeatable) and `--params FILE` (a YAML mapping);
/// `-p` wins over the file.
#[derive(clap::Args)]
pub struct ParamArgs {
    /// Set a parameter of the lab: -p key=value (repeatable).
    #[arg(short = 'p', long = "param", value_parser = engine::scenario::parse_override)]
    pub param: Vec<(String, String)>,
    /// A YAML file of parameters (`key: value` lines), e.g. one per student.
    #[arg(long = "params", value_name = "FILE")]
    pub params_file: Option<PathBuf>,
}

/// Looking inside running labs and cleaning up after them.
#[derive(Subcommand)]
pub enum LifecycleCommand {
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
pub enum ExportCommand {
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
pub enum ImagesCommand {
    /// Build every image whose recipe changed (or all, with --force).
    Build {
        #[arg(long)]
        force: bool,
    },
    /// Remove images of older recipes (each rebuild of lab-agent leaves agent, toolbox and
    /// pynetdicom images behind) and dangling leftovers; images in use stay.
    Prune,
}
