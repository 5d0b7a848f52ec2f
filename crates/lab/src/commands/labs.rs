//! Lab files without Docker: `lab list`, `lab show`, `lab schema`, `lab validate` and
//! `lab export compose`.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use engine::{EngineError, catalog};

use crate::args::Params;
use crate::output::{t, tt};

pub fn list(labs: Option<&Path>, json: bool) -> u8 {
    if !json {
        println!(
            "{:<24} {:<28} {:<11} {:<13} TITLE",
            "NAME", "THREAT", "VARIANT", "MITRE"
        );
    }
    let mut bad = 0;
    for entry in catalog::summaries(labs) {
        match entry {
            Ok(s) if json => println!("{}", engine::output::json_line(&s)),
            Ok(s) => println!(
                "{:<24} {:<28} {:<11} {:<13} {}",
                s.name,
                s.threat,
                s.variant,
                s.mitre.join(","),
                t(&s.title)
            ),
            Err(e) => {
                bad += 1;
                eprintln!("{}", tt(&e.to_string()));
            }
        }
    }
    if bad > 0 { 2 } else { 0 }
}

pub fn show(
    labs: Option<&Path>,
    lab: &str,
    params: &Params,
    json: bool,
) -> Result<u8, EngineError> {
    let path = catalog::find(lab, labs)?;
    let s = engine::scenario::load(&path, &params.resolve()?)?;
    if json {
        println!("{}", engine::output::json_pretty(&s));
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

pub fn schema() -> u8 {
    println!(
        "{}",
        engine::output::json_pretty(&engine::scenario::schema::json_schema())
    );
    0
}

pub fn validate(labs: Option<&Path>, names: &[String]) -> Result<u8, EngineError> {
    let all = catalog::list(labs);
    let paths = catalog::targets(names, labs)?;
    if paths.is_empty() {
        return Err(EngineError::NotFound(
            "no lab files found\n  fix: run from the project folder or pass --labs DIR".into(),
        ));
    }
    // Pairs are looked up among the catalog and the files given.
    let mut known = all;
    known.extend(paths.iter().cloned());
    let index = catalog::index(&known);
    let mut bad = 0;
    for path in &paths {
        let problems = match engine::scenario::load(path, &BTreeMap::new()) {
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

pub fn export_compose(
    labs: Option<&Path>,
    lab: &str,
    params: &Params,
    out: Option<PathBuf>,
) -> Result<u8, EngineError> {
    let path = catalog::find(lab, labs)?;
    let s = engine::scenario::load(&path, &params.resolve()?)?;
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
