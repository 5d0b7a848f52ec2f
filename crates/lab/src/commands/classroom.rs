//! Exercises: `lab check` (a student's try, public checks only), `lab pack` and `lab grade`
//! (the instructor's side).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use engine::checks::Outcome;
use engine::progress::Progress;
use engine::{EngineError, KeepPolicy, RunOptions, catalog, classroom};

use crate::args::Grade;
use crate::output::{run_and_summarize, t};

pub async fn check(
    labs: Option<&Path>,
    lab: &str,
    runs_dir: PathBuf,
    progress: Progress,
) -> Result<u8, EngineError> {
    // SIGINT and SIGTERM are caught from here on, for every run this command makes.
    let shutdown = engine::Shutdown::install();
    let path = catalog::find(lab, labs)?;
    let scenario = engine::scenario::load(&path, &BTreeMap::new())?;
    let Some(ex) = scenario.exercise.clone() else {
        return Err(EngineError::NotFound(format!(
            "{} is not an exercise\n  fix: `lab run {lab}` runs a lab; `lab check` is for exercise files",
            path.display()
        )));
    };
    let hidden = scenario.checks.iter().filter(|c| c.hidden).count();
    let scenario = classroom::public_view(scenario);
    let opts = RunOptions {
        runs_dir,
        keep: KeepPolicy::Never,
        progress,
        shutdown: shutdown.clone(),
    };
    let result = run_and_summarize(&scenario, &opts).await?;
    let met = result
        .report
        .checks
        .iter()
        .filter(|c| c.outcome == Outcome::Met)
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

pub fn pack(
    labs: Option<&Path>,
    lab: &str,
    students: &Path,
    out: &Path,
) -> Result<u8, EngineError> {
    let path = catalog::find(lab, labs)?;
    let roster = classroom::read_roster(students)?;
    let files = classroom::pack(&path, &roster, out)?;
    println!(
        "wrote {} exercise file(s) to {} (no hidden checks, seed or solution in them) and {} beside them",
        files.len(),
        out.display(),
        engine::scenario::schema::SCHEMA_FILE
    );
    Ok(0)
}

pub async fn grade(labs: Option<&Path>, g: Grade, progress: Progress) -> Result<u8, EngineError> {
    // SIGINT and SIGTERM are caught from here on, for every run this command makes.
    let shutdown = engine::Shutdown::install();
    let path = catalog::find(&g.lab, labs)?;
    let roster = g
        .students
        .as_deref()
        .map(classroom::read_roster)
        .transpose()?;
    let files = classroom::submissions(&g.submissions)?;
    let name = path
        .file_stem()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned();
    progress.phase(&format!(
        "grading {} submission(s) of {name}, {} at a time",
        files.len(),
        g.jobs.max(1)
    ));
    let opts = RunOptions {
        runs_dir: g.runs_dir.join(format!("grade-{name}")),
        keep: KeepPolicy::Never,
        progress,
        shutdown: shutdown.clone(),
    };
    let rows = classroom::grade(&path, files, roster.as_deref(), g.jobs, opts, move |r| {
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
    classroom::write_scores(&path, &rows, &g.csv, g.junit.as_deref())?;
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
    println!("scores written to {}", g.csv.display());
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
