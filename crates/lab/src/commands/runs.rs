//! Running labs: `lab run`, `lab up` (run, keep, say how to reach it) and `lab test` (many
//! labs as a regression suite).

use std::path::{Path, PathBuf};

use engine::checks::Outcome;
use engine::progress::Progress;
use engine::suite::SuiteOutputs;
use engine::{EngineError, KeepPolicy, RunOptions, catalog};

use crate::args::Params;
use crate::output::{run_and_summarize, t, tt};

pub async fn run(
    labs: Option<&Path>,
    lab: &str,
    params: &Params,
    runs_dir: PathBuf,
    keep: KeepPolicy,
    progress: Progress,
) -> Result<u8, EngineError> {
    // SIGINT and SIGTERM are caught from here on, for every run this command makes.
    let shutdown = engine::Shutdown::install();
    let path = catalog::find(lab, labs)?;
    let overrides = params.resolve()?;
    let scenario = engine::scenario::load(&path, &overrides)?;
    let opts = RunOptions {
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

/// `lab up`: `lab run` that keeps the lab, then says how to reach it.
pub async fn up(
    labs: Option<&Path>,
    lab: &str,
    params: &Params,
    runs_dir: PathBuf,
    progress: Progress,
) -> Result<u8, EngineError> {
    // SIGINT and SIGTERM are caught from here on, for every run this command makes.
    let shutdown = engine::Shutdown::install();
    let path = catalog::find(lab, labs)?;
    let scenario = engine::scenario::load(&path, &params.resolve()?)?;
    let opts = RunOptions {
        runs_dir,
        keep: KeepPolicy::Always,
        progress,
        shutdown: shutdown.clone(),
    };
    let result = run_and_summarize(&scenario, &opts).await?;
    let id = &result.report.run_id;
    if !result.kept {
        println!("the lab was torn down (interrupted); nothing of {id} is left");
        return Ok(result.report.verdict.exit_code() as u8);
    }
    let endpoints = engine::live::expose(id, &scenario).await?;
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

pub async fn test(
    labs: Option<&Path>,
    targets: &[String],
    jobs: usize,
    outputs: &SuiteOutputs,
    runs_dir: PathBuf,
    progress: Progress,
) -> Result<u8, EngineError> {
    // SIGINT and SIGTERM are caught from here on, for every run this command makes.
    let shutdown = engine::Shutdown::install();
    let paths = catalog::targets(targets, labs)?;
    if paths.is_empty() {
        return Err(EngineError::NotFound(
            "no lab files to test\n  fix: run from the project folder or name the labs".into(),
        ));
    }
    progress.phase(&format!(
        "testing {} lab(s), {} at a time",
        paths.len(),
        jobs.max(1)
    ));
    let opts = RunOptions {
        runs_dir,
        keep: KeepPolicy::Never,
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
    for e in &entries {
        match &e.outcome {
            Ok(r) => {
                let rep = &r.report;
                let met = rep
                    .checks
                    .iter()
                    .filter(|c| c.outcome == Outcome::Met)
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
                for c in rep.checks.iter().filter(|c| c.outcome != Outcome::Met) {
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
        .filter(
            |e| matches!(&e.outcome, Ok(r) if r.report.verdict == engine::report::Verdict::Pass),
        )
        .count();
    println!("{passed} of {} lab(s) met every expectation", entries.len());
    engine::suite::write_reports(&entries, outputs)?;
    if let Some(s) = shutdown.last() {
        let not_run = entries
            .iter()
            .filter(|e| matches!(e.outcome, Err(EngineError::NotRun(_))))
            .count();
        println!(
            "interrupted by {s}: {not_run} of {} lab(s) not run",
            entries.len()
        );
        return Ok(2);
    }
    Ok(worst)
}
