//! Twenty runs of plaintext-store started at once: every one passes, each has its own
//! run id, bridge and subnet (sampled from Docker while they run), and nothing is left.
//! About 40 s on the 2-core machine (`just concurrency` runs it alone); `just bench
//! lifecycle` times the same and records peak memory.

mod common;

use common::*;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const RUNS: usize = 20;

#[test]
fn twenty_runs_at_once_pass_without_clash_or_leak() {
    let dir = runs_dir("twenty");
    let dir_label = format!("label=dicom-range.runs-dir={}", dir.display());
    // Every (network -> subnet, bridge) seen while the runs are up.
    let seen: Arc<Mutex<BTreeMap<String, (String, String)>>> = Arc::default();
    let clashes: Arc<Mutex<Vec<String>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (seen, clashes, stop, filter) = (
            seen.clone(),
            clashes.clone(),
            stop.clone(),
            dir_label.clone(),
        );
        std::thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                let names = docker(&["network", "ls", "-q", "--filter", &filter]);
                let ids: Vec<&str> = names.split_whitespace().collect();
                if !ids.is_empty() {
                    let mut args = vec![
                        "network",
                        "inspect",
                        "-f",
                        "{{.Name}} {{range .IPAM.Config}}{{.Subnet}}{{end}} {{index .Options \"com.docker.network.bridge.name\"}}",
                    ];
                    args.extend(&ids);
                    // A network may go between ls and inspect: ignore that sample.
                    let out = std::process::Command::new("docker")
                        .args(&args)
                        .output()
                        .unwrap();
                    let text = String::from_utf8_lossy(&out.stdout);
                    let mut subnets: BTreeMap<String, String> = BTreeMap::new();
                    let mut bridges: BTreeMap<String, String> = BTreeMap::new();
                    for line in text.lines() {
                        let f: Vec<&str> = line.split_whitespace().collect();
                        if f.len() != 3 {
                            continue;
                        }
                        for (map, key) in [(&mut subnets, f[1]), (&mut bridges, f[2])] {
                            if let Some(other) = map.insert(key.to_string(), f[0].to_string()) {
                                clashes
                                    .lock()
                                    .unwrap()
                                    .push(format!("{} and {other} share {key}", f[0]));
                            }
                        }
                        seen.lock()
                            .unwrap()
                            .insert(f[0].to_string(), (f[1].to_string(), f[2].to_string()));
                    }
                }
                std::thread::sleep(Duration::from_millis(250));
            }
        })
    };

    let t0 = std::time::Instant::now();
    let children: Vec<Running> = (0..RUNS)
        .map(|i| {
            Running::spawn(
                lab()
                    .args(["run", "plaintext-store", "-p"])
                    .arg(format!("patient=CONCURRENT^{i}"))
                    .arg("--runs-dir")
                    .arg(&dir),
            )
        })
        .collect();
    let results: Vec<(Option<i32>, Vec<u8>, String)> =
        children.into_iter().map(Running::finish).collect();
    let wall = t0.elapsed();
    stop.store(true, Ordering::SeqCst);
    sampler.join().unwrap();
    eprintln!("{RUNS} runs at once: {:.1} s wall", wall.as_secs_f64());

    for (i, (code, out, err)) in results.iter().enumerate() {
        assert_eq!(
            *code,
            Some(0),
            "run {i}:\n{}\n{err}",
            String::from_utf8_lossy(out)
        );
    }
    let runs = runs_in(&dir);
    assert_eq!(runs.len(), RUNS, "{runs:?}");
    let mut patients = BTreeSet::new();
    for run in &runs {
        let r = report(run);
        assert_eq!(r["verdict"], "pass", "{}", run.display());
        let phi = r["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == "phi-visible")
            .unwrap();
        // Each capture holds its own run's patient, never another run's.
        let names: Vec<&str> = phi["details"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|d| d.as_str()?.strip_prefix("PatientName = "))
            .collect();
        assert_eq!(names.len(), 1, "{}: {names:?}", run.display());
        patients.insert(names[0].to_string());
        let id = run.file_name().unwrap().to_string_lossy();
        assert_eq!(leftovers(&id), "", "{id} left objects behind");
    }
    assert_eq!(patients.len(), RUNS, "{patients:?}");
    let clashes = clashes.lock().unwrap();
    assert!(clashes.is_empty(), "{clashes:?}");
    let seen = seen.lock().unwrap();
    assert!(
        seen.len() >= RUNS / 2,
        "the sampler saw only {} of the runs' networks: {seen:?}",
        seen.len()
    );
    eprintln!(
        "{} networks seen while up, no subnet or bridge shared",
        seen.len()
    );
}
