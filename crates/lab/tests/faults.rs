//! Faults, on the real daemon: the PACS killed mid-transfer, the sniffer dying, SIGINT
//! and SIGTERM in each phase of a run, and `lab` killed with SIGKILL then `lab gc`. In
//! every case the evidence gathered so far is saved, the result is exit 2 with the cause
//! in words, and nothing labelled with the run remains.

mod common;

use common::*;
use std::path::{Path, PathBuf};

/// A long store (3000 CT images) that is still going when a test strikes.
const LONG: &str = "tests/fixtures/long-store.yaml";

/// Waits for `lab_run` to fail (exit 2); returns its stdout, its run directory in `dir`
/// and the error its report holds.
fn failed(lab_run: Running, dir: &Path) -> (String, PathBuf, String) {
    let (code, out, err) = lab_run.finish();
    let stdout = String::from_utf8_lossy(&out).into_owned();
    assert_eq!(code, Some(2), "{stdout}\n{err}");
    let run = only_run(dir);
    let error = error_of(&run);
    (stdout, run, error)
}

fn error_of(run: &Path) -> String {
    let r = report(run);
    assert_eq!(r["verdict"], "error", "{r}");
    r["error"].as_str().unwrap_or_default().to_string()
}

/// The events of the run's capture (it must exist and be readable).
fn capture_events(run: &Path) -> Vec<String> {
    let a = wire::analyze_file(&run.join("capture.pcapng")).expect("capture.pcapng saved");
    a.events.iter().map(|e| e.label.clone()).collect()
}

/// `lab run` of the long lab into `dir`, returned once its C-STOREs are reaching the PACS
/// (step 2 started 1.5 s ago), with its run id.
fn mid_transfer(dir: &Path) -> (Running, String) {
    let (lab_run, id) = run_until(LONG, dir, "==> step 2 (");
    std::thread::sleep(std::time::Duration::from_millis(1500));
    (lab_run, id)
}

#[test]
fn orthanc_killed_mid_transfer() {
    let dir = runs_dir("kill-pacs");
    let (lab_run, id) = mid_transfer(&dir);
    docker(&["kill", &format!("lab-{id}-pacs")]);
    let (stdout, run, error) = failed(lab_run, &dir);
    assert!(
        error.contains("node `pacs` (the PACS) exited with code 137 (killed by SIGKILL"),
        "{error}"
    );
    assert!(stdout.contains("node `pacs` (the PACS) exited"), "{stdout}");
    // What was gathered: the capture up to the kill, the PACS's own log, step results.
    let events = capture_events(&run);
    assert!(
        events.iter().any(|e| e == "C-STORE-RQ"),
        "no C-STORE in the capture: {events:?}"
    );
    assert!(run.join("logs/pacs.log").is_file());
    let steps = report(&run)["steps"].as_array().unwrap().clone();
    assert_eq!(steps.len(), 2, "{steps:?}");
    assert_eq!(steps[1]["ok"], false);
    assert_eq!(leftovers(&id), "");
}

#[test]
fn the_sniffer_dies() {
    let dir = runs_dir("kill-sniffer");
    let (mut lab_run, id) = run_started("plaintext-store", &dir);
    // The sniffer is up once the steps begin.
    lab_run.wait_for("==> step 1 (", 120);
    docker(&["kill", &format!("lab-{id}-sniffer")]);
    let (stdout, run, error) = failed(lab_run, &dir);
    assert!(
        error.contains(
            "node `sniffer` (the sniffer; the capture stops where it died) exited with code 137"
        ),
        "{error}"
    );
    assert!(stdout.contains("node `sniffer` (the sniffer"), "{stdout}");
    // The capture up to its death is kept, and readable.
    capture_events(&run);
    assert!(run.join("logs/sniffer.log").is_file());
    assert!(run.join("logs/pacs.log").is_file());
    assert_eq!(leftovers(&id), "");
}

/// Sends `signal` once the run prints `line`, then checks exit 2, the cause (the signal
/// and one of `phases`), the evidence expected by then, and that nothing is left.
fn interrupt(test: &str, line: &str, signal: &str, phases: &[&str], evidence: &[&str]) {
    let dir = runs_dir(test);
    let (mut lab_run, id) = run_started("plaintext-store", &dir);
    lab_run.wait_for(line, 120);
    lab_run.signal(signal);
    let (stdout, run, error) = failed(lab_run, &dir);
    let name = if signal == "INT" {
        "SIGINT (Ctrl-C)"
    } else {
        "SIGTERM"
    };
    assert!(
        error.starts_with(&format!("interrupted by {name} while ")),
        "{error}"
    );
    assert!(
        phases.iter().any(|p| error.contains(&format!("while {p}"))),
        "{error} (expected one of {phases:?})"
    );
    assert!(
        stdout.contains(&format!("interrupted by {name}")),
        "{stdout}"
    );
    for f in ["scenario.yaml", "report.json", "SHA256SUMS"]
        .iter()
        .chain(evidence)
    {
        assert!(
            run.join(f).is_file(),
            "{f} missing after {name} at `{line}`"
        );
    }
    assert_eq!(leftovers(&id), "");
    if phases.contains(&"creating the networks") {
        // A creation the signal cut short may still be finished by the daemon: nothing
        // may appear after `lab` has exited either.
        std::thread::sleep(std::time::Duration::from_secs(3));
        assert_eq!(leftovers(&id), "", "appeared after lab exited");
    }
}

macro_rules! interrupt_tests {
    ($($name:ident: $line:expr, $sig:expr, $phases:expr, $evidence:expr;)*) => {$(
        #[test]
        fn $name() {
            interrupt(stringify!($name), $line, $sig, &$phases, &$evidence);
        }
    )*};
}

const UP: [&str; 3] = [
    "creating the networks",
    "starting the nodes",
    "waiting for the PACS",
];
const READY: [&str; 2] = ["waiting for the PACS", "starting the taps"];
const STEPS: [&str; 3] = ["running step 1 (", "running step 2 (", "checking the nodes"];
const END: [&str; 2] = ["saving evidence", "tearing down"];

interrupt_tests! {
    sigint_while_starting: "==> starting plaintext-store", "INT", UP, [];
    sigterm_while_starting: "==> starting plaintext-store", "TERM", UP, [];
    sigint_while_waiting_for_the_pacs: "==> waiting for the PACS", "INT", READY, ["logs/pacs.log"];
    sigterm_while_waiting_for_the_pacs: "==> waiting for the PACS", "TERM", READY, ["logs/pacs.log"];
    sigint_during_a_step: "==> step 1 (", "INT", STEPS, ["logs/pacs.log", "capture.pcapng"];
    sigterm_during_a_step: "==> step 1 (", "TERM", STEPS, ["logs/pacs.log", "capture.pcapng"];
    sigint_while_saving_evidence: "==> saving evidence", "INT", END, ["logs/pacs.log", "capture.pcapng"];
    sigterm_while_saving_evidence: "==> saving evidence", "TERM", END, ["logs/pacs.log", "capture.pcapng"];
    sigint_while_tearing_down: "==> tearing down", "INT", ["tearing down"], ["logs/pacs.log", "capture.pcapng"];
    sigterm_while_tearing_down: "==> tearing down", "TERM", ["tearing down"], ["logs/pacs.log", "capture.pcapng"];
}

/// `lab` killed with SIGKILL cannot clean up: its run stays, owned by a dead process.
/// `lab gc` saves what it left (capture, logs, a report whose verdict is error, with the
/// cause) and removes it; `lab report` then exits 2 with that cause.
#[test]
fn sigkill_then_gc() {
    let dir = runs_dir("sigkill");
    let (lab_run, id) = mid_transfer(&dir);
    let pid = lab_run.child.id();
    lab_run.signal("KILL");
    let (code, _, _) = lab_run.finish();
    assert_eq!(code, None, "killed by a signal");
    assert_ne!(leftovers(&id), "", "nothing to collect?");

    let status = expect_exit(&lab_in(&dir, &["status", "--json"]), 0);
    let r: serde_json::Value = serde_json::from_str(status.lines().next().unwrap()).unwrap();
    assert_eq!(
        (r["run"].as_str(), r["owner_alive"].as_bool()),
        (Some(id.as_str()), Some(false))
    );
    assert_eq!(r["owner_pid"], pid);

    let gc = lab_in(&dir, &["gc"]);
    let said = expect_exit(&gc, 0);
    assert!(said.contains(&format!("removed {id}")), "{said}");
    assert!(said.contains(&format!("(pid {pid}) is gone")), "{said}");
    assert_eq!(leftovers(&id), "");

    let run = only_run(&dir);
    let error = error_of(&run);
    assert!(
        error.contains(&format!("(pid {pid}) is gone")) && error.contains("lab gc"),
        "{error}"
    );
    let events = capture_events(&run);
    assert!(events.iter().any(|e| e == "C-STORE-RQ"), "{events:?}");
    for f in ["logs/pacs.log", "logs/modality.log", "SHA256SUMS"] {
        assert!(run.join(f).is_file(), "{f}");
    }
    let regraded = lab().arg("report").arg(&run).output().unwrap();
    assert_eq!(regraded.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&regraded.stdout).contains("is gone"));
    // A second gc finds nothing of it.
    let again = expect_exit(&lab_in(&dir, &["gc"]), 0);
    assert!(!again.contains(&id), "{again}");
}

/// Ctrl-C during `lab test -j 2` of four long labs: the two in flight save their evidence
/// and tear down, the two queued never start, the JUnit written still names all four (the
/// queued ones as not run), exit 2, and nothing of any run is left.
#[test]
fn sigint_during_a_batch_stops_starting_runs_and_ends_those_in_flight() {
    let dir = runs_dir("batch-sigint");
    let labs = dir.join("labs");
    std::fs::create_dir_all(&labs).unwrap();
    let long = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(LONG)).unwrap();
    for name in ["sig-a", "sig-b", "sig-c", "sig-d"] {
        let text = long.replace("name: long-store", &format!("name: {name}"));
        std::fs::write(labs.join(format!("{name}.yaml")), text).unwrap();
    }
    let runs = dir.join("runs");
    let junit = dir.join("junit.xml");
    let batch = Running::spawn(
        lab()
            .arg("test")
            .arg(&labs)
            .args(["-j", "2", "--junit"])
            .arg(&junit)
            .arg("--runs-dir")
            .arg(&runs),
    );
    let in_flight = wait_in_flight(&runs, 2, 180);
    // Well into the runs (the PACS up, the store going) when the user presses Ctrl-C.
    std::thread::sleep(std::time::Duration::from_secs(8));
    batch.signal("INT");
    let (code, out, err) = batch.finish();
    let stdout = String::from_utf8_lossy(&out);
    assert_eq!(code, Some(2), "{stdout}\n{err}");
    assert!(
        stdout.contains("interrupted by SIGINT (Ctrl-C): 2 of 4 lab(s) not run"),
        "{stdout}"
    );
    // Only the two runs in flight ever existed; each was saved and torn down.
    let made = runs_in(&runs);
    assert_eq!(made.len(), 2, "{made:?}");
    for run in &made {
        let id = run.file_name().unwrap().to_string_lossy().into_owned();
        assert!(in_flight.contains(&id), "{id} started after Ctrl-C");
        let error = error_of(run);
        assert!(
            error.starts_with("interrupted by SIGINT (Ctrl-C) while "),
            "{id}: {error}"
        );
        for f in [
            "scenario.yaml",
            "report.json",
            "SHA256SUMS",
            "logs/pacs.log",
        ] {
            assert!(run.join(f).is_file(), "{id}: {f} missing");
        }
        assert_eq!(leftovers(&id), "", "{id} left up");
    }
    assert_eq!(leftovers_of_runs_dir(&runs), "");
    // The partial JUnit: every lab, those not run as errors that say so.
    let xml = std::fs::read_to_string(&junit).expect("junit.xml written");
    let doc = roxmltree::Document::parse(&xml).unwrap();
    let suites: Vec<_> = doc
        .descendants()
        .filter(|n| n.has_tag_name("testsuite"))
        .collect();
    assert_eq!(suites.len(), 4, "{xml}");
    assert_eq!(
        xml.matches("not run: interrupted by SIGINT (Ctrl-C) before it started")
            .count(),
        2,
        "{xml}"
    );
    assert_eq!(
        xml.matches("interrupted by SIGINT (Ctrl-C) while ").count(),
        2,
        "{xml}"
    );
}

/// The IDS's evidence folder cannot be made (a file named `ids` took its place): that one
/// tap's evidence is a problem of its own, and everything else is still saved (the
/// capture, every node's log, the step results), the error names the IDS, and the lab is
/// torn down.
#[test]
fn an_ids_folder_that_cannot_be_made_does_not_stop_the_rest_of_the_evidence() {
    let dir = runs_dir("ids-dir");
    let (lab_run, id) = run_started("tests/fixtures/store-with-ids.yaml", &dir);
    std::fs::write(dir.join(&id).join(rundir::IDS_DIR), "in the way").unwrap();
    let (_, run, error) = failed(lab_run, &dir);
    assert!(error.contains("evidence of `ids`"), "{error}");
    assert!(!error.contains("evidence of `sniffer`"), "{error}");
    capture_events(&run);
    for f in [
        "logs/pacs.log",
        "logs/modality.log",
        "logs/sniffer.log",
        "logs/ids.log",
        "logs/steps.jsonl",
        "SHA256SUMS",
    ] {
        assert!(run.join(f).is_file(), "{f} not saved");
    }
    assert_eq!(leftovers(&id), "");
}
