//! The instructor's workflow: a roster, one exercise file per student (`lab pack`), the
//! student's own try (`lab check`), and grading what comes back (`lab grade`).
//!
//! A submission is data, never code: `scenario::exercise::overlay` takes only the fields
//! the exercise hands out from it and runs them inside the instructor's lab, with the
//! instructor's steps, attacks, images and hidden checks. A submission that cannot be read
//! or run gets its own error row; the others are graded all the same.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures_util::StreamExt;
use report::{CheckScore, ScoreRow};
use scenario::Scenario;
use scenario::exercise;

use crate::progress::Progress;
use crate::{EngineError, RunOptions, images, run_lab};

/// The largest submission read; lab files are a few kilobytes.
pub const MAX_SUBMISSION_BYTES: u64 = scenario::MAX_FILE_BYTES as u64;

pub use scenario::roster::Student;

/// Reads a roster (see [`scenario::roster`]): at most [`scenario::roster::MAX_ROSTER_BYTES`]
/// are read, whatever the file's size.
pub fn read_roster(path: &Path) -> Result<Vec<Student>, EngineError> {
    use std::io::Read;
    let shown = path.display().to_string();
    let limit = scenario::roster::MAX_ROSTER_BYTES as u64;
    let mut text = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(limit + 1).read_to_end(&mut text))
        .map_err(|e| EngineError::Classroom(format!("{shown}: cannot read the roster: {e}")))?;
    scenario::roster::parse(&shown, &text).map_err(|e| EngineError::Classroom(e.to_string()))
}

/// Reads an exercise (the instructor's file) as text and scenario.
pub fn load_exercise(path: &Path) -> Result<(String, Scenario), EngineError> {
    let text = std::fs::read_to_string(path)
        .map_err(EngineError::io(format!("reading {}", path.display())))?;
    let s = scenario::parse_str(&path.display().to_string(), &text, &Default::default())?;
    if s.exercise.is_none() {
        return Err(EngineError::Classroom(format!(
            "{} is not an exercise (it has no `exercise:` section)\n  fix: see docs/instructors.md; `lab list` marks exercises",
            path.display()
        )));
    }
    Ok((text, s))
}

/// Writes `<out>/<student>.yaml` for every student, and beside them the lab file schema
/// their modeline names (`scenario::schema::SCHEMA_FILE`), so a student's editor checks
/// the file wherever the folder is copied; returns the students' files.
pub fn pack(
    instructor: &Path,
    roster: &[Student],
    out: &Path,
) -> Result<Vec<PathBuf>, EngineError> {
    let (text, s) = load_exercise(instructor)?;
    std::fs::create_dir_all(out).map_err(EngineError::io(format!("creating {}", out.display())))?;
    let schema = out.join(scenario::schema::SCHEMA_FILE);
    let json = crate::output::json_pretty(&scenario::schema::json_schema()) + "\n";
    std::fs::write(&schema, json)
        .map_err(EngineError::io(format!("writing {}", schema.display())))?;
    let mut written = Vec::new();
    for st in roster {
        let packed = exercise::pack(&text, &s, &st.id)?;
        let path = out.join(format!("{}.yaml", st.id));
        std::fs::write(&path, packed)
            .map_err(EngineError::io(format!("writing {}", path.display())))?;
        written.push(path);
    }
    Ok(written)
}

/// The scenario a student sees: hidden checks left out (`lab check`).
pub fn public_view(mut s: Scenario) -> Scenario {
    s.checks.retain(|c| !c.hidden);
    s
}

/// An exercise with its reference solution applied: what `lab test` runs for it.
pub fn solved(path: &Path) -> Result<Scenario, EngineError> {
    let (text, s) = load_exercise(path)?;
    let solved = exercise::apply_solution(&text, &s.file, &text)?;
    Ok(scenario::parse_str(
        &format!("{} (reference solution)", path.display()),
        &solved,
        &Default::default(),
    )?)
}

/// The submission files among `inputs` (files, or folders of `*.yaml`), sorted.
pub fn submissions(inputs: &[PathBuf]) -> Result<Vec<PathBuf>, EngineError> {
    let mut files = Vec::new();
    for p in inputs {
        if p.is_dir() {
            let rd = std::fs::read_dir(p)
                .map_err(EngineError::io(format!("reading {}", p.display())))?;
            for e in rd.flatten() {
                let f = e.path();
                if f.is_file() && f.extension().is_some_and(|x| x == "yaml" || x == "yml") {
                    files.push(f);
                }
            }
        } else if p.is_file() {
            files.push(p.clone());
        } else {
            return Err(EngineError::NotFound(format!(
                "{} does not exist\n  fix: pass submission files or a folder of them",
                p.display()
            )));
        }
    }
    files.sort();
    Ok(files)
}

/// Grades every submission against the instructor's exercise, `jobs` at a time.
/// Students of `roster` who handed in nothing get a row with score 0. `on_done` is called
/// as each row is ready.
///
/// After SIGINT or SIGTERM (`opts.shutdown`, shared with every run) no new run starts:
/// the runs in flight save their evidence and tear down, and each submission not run
/// gets a row saying it was not graded, so the partial CSV names every student.
pub async fn grade(
    instructor: &Path,
    files: Vec<PathBuf>,
    roster: Option<&[Student]>,
    jobs: usize,
    opts: RunOptions,
    on_done: impl Fn(&ScoreRow) + Send + Sync + 'static,
) -> Result<Vec<ScoreRow>, EngineError> {
    let (text, lab) = load_exercise(instructor)?;
    let docker = runtime::Docker::connect().await?;
    let needed = images::needed_by(&lab);
    tokio::select! {
        r = images::ensure(&docker, &needed, opts.progress, false) => { r?; }
        s = opts.shutdown.wait(1) => {
            return Err(EngineError::NotStarted {
                signal: s,
                when: "while building images; nothing was graded",
            });
        }
    }
    let max: u32 = lab.checks.iter().map(|c| c.points).sum();
    let text = Arc::new(text);
    let lab = Arc::new(lab);
    let on_done = Arc::new(on_done);
    let quiet = RunOptions {
        progress: Progress {
            quiet: true,
            ..opts.progress
        },
        ..opts
    };

    let mut rows: Vec<ScoreRow> = futures_util::stream::iter(files)
        .map(|file| {
            let (text, lab, on_done, opts) =
                (text.clone(), lab.clone(), on_done.clone(), quiet.clone());
            async move {
                let row = grade_one(&text, &lab, &file, max, &opts).await;
                on_done(&row);
                row
            }
        })
        .buffer_unordered(jobs.max(1))
        .collect()
        .await;

    // Two files for one student: both are graded, and both rows say so.
    let mut counts = std::collections::BTreeMap::<String, usize>::new();
    for r in &rows {
        *counts.entry(r.student.clone()).or_default() += 1;
    }
    for r in &mut rows {
        if counts[&r.student] > 1 {
            let n = counts[&r.student];
            add_note(r, format!("{n} files were handed in for this student"));
        }
    }
    if let Some(roster) = roster {
        for st in roster {
            if !rows.iter().any(|r| r.student == st.id) {
                let row = ScoreRow {
                    student: st.id.clone(),
                    file: String::new(),
                    score: 0,
                    max,
                    checks: Vec::new(),
                    error: Some("nothing handed in".into()),
                    ignored: Vec::new(),
                    run_dir: String::new(),
                    duration_s: 0.0,
                };
                on_done(&row);
                rows.push(row);
            }
        }
        for r in &mut rows {
            if !roster.iter().any(|s| s.id == r.student) {
                add_note(r, "not on the roster".into());
            }
        }
    }
    rows.sort_by(|a, b| a.student.cmp(&b.student).then(a.file.cmp(&b.file)));
    Ok(rows)
}

async fn grade_one(
    text: &str,
    lab: &Scenario,
    file: &Path,
    max: u32,
    opts: &RunOptions,
) -> ScoreRow {
    let stem = file
        .file_stem()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned();
    let mut row = ScoreRow {
        student: stem.clone(),
        file: file.display().to_string(),
        score: 0,
        max,
        checks: Vec::new(),
        error: None,
        ignored: Vec::new(),
        run_dir: String::new(),
        duration_s: 0.0,
    };
    let submission = match read_submission(file) {
        Ok(t) => t,
        Err(e) => {
            row.error = Some(e);
            return row;
        }
    };
    let fallback = if exercise::valid_student_id(&stem) {
        stem.as_str()
    } else {
        "unknown"
    };
    let graded = match exercise::overlay(text, lab, &row.file, &submission, fallback) {
        Ok(g) => g,
        Err(e) => {
            row.error = Some(e.to_string().trim_end().replace('\n', " | "));
            return row;
        }
    };
    row.student = graded.student.clone();
    if exercise::valid_student_id(&stem) && stem != graded.student {
        // Not refused (files get renamed), but an instructor wants to see it.
        add_note(
            &mut row,
            format!(
                "the file is named {stem} but says it is student {}",
                graded.student
            ),
        );
    }
    row.ignored = graded.ignored.clone();
    if let Some(s) = opts.shutdown.last() {
        add_note(&mut row, EngineError::NotRun(s.to_string()).to_string());
        return row;
    }
    let opts = RunOptions {
        runs_dir: opts.runs_dir.join(&graded.student),
        ..opts.clone()
    };
    match run_lab(&graded.scenario, &opts).await {
        Err(e) => add_note(&mut row, e.to_string()),
        Ok(done) => {
            row.run_dir = done.run_dir.display().to_string();
            row.duration_s = done.report.duration_s;
            if let Some(e) = &done.report.error {
                add_note(&mut row, e.clone());
            }
            for c in &lab.checks {
                let met = done
                    .report
                    .checks
                    .iter()
                    .find(|r| r.id == c.id)
                    .is_some_and(|r| r.outcome == checks::Outcome::Met);
                let observed = done
                    .report
                    .checks
                    .iter()
                    .find(|r| r.id == c.id)
                    .map(|r| r.observed.clone())
                    .unwrap_or_else(|| "not graded".into());
                if met {
                    row.score += c.points;
                }
                row.checks.push(CheckScore {
                    id: c.id.clone(),
                    hidden: c.hidden,
                    points: c.points,
                    met,
                    observed,
                });
            }
        }
    }
    row
}

/// Adds a note to a row's error column (which says why a grade needs a look).
fn add_note(row: &mut ScoreRow, note: String) {
    row.error = Some(match row.error.take() {
        Some(e) => format!("{e}; {note}"),
        None => note,
    });
}

/// A submission's text, refused politely when it is not a small UTF-8 file.
fn read_submission(file: &Path) -> Result<String, String> {
    let meta =
        std::fs::metadata(file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
    if meta.len() > MAX_SUBMISSION_BYTES {
        return Err(format!(
            "{} is {} bytes; a submission may hold at most {MAX_SUBMISSION_BYTES}",
            file.display(),
            meta.len()
        ));
    }
    let bytes = std::fs::read(file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
    String::from_utf8(bytes).map_err(|_| format!("{} is not a UTF-8 text file", file.display()))
}

/// Writes the scores of `rows` (graded against the exercise `instructor`) as CSV to `csv`
/// and, when asked, as JUnit XML to `junit`; the CSV has a column per check of the lab.
pub fn write_scores(
    instructor: &Path,
    rows: &[ScoreRow],
    csv: &Path,
    junit: Option<&Path>,
) -> Result<(), EngineError> {
    let (_, lab) = load_exercise(instructor)?;
    let ids: Vec<String> = lab.checks.iter().map(|c| c.id.clone()).collect();
    crate::output::write_output(csv, report::scores_csv(rows, &ids))?;
    if let Some(j) = junit {
        let name = instructor
            .file_stem()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        crate::output::write_output(j, report::scores_junit(&name, rows))?;
    }
    Ok(())
}
