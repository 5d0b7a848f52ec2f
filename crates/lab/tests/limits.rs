//! Resource limits, on the real daemon: a PACS that fork-bombs or allocates without end
//! is stopped by its limits, the host keeps forking, the run ends with exit 2 naming the
//! node and the limit, and nothing labelled with the run remains. A running lab's
//! containers show their limits, `no-new-privileges` and dropped capabilities to
//! `docker inspect` (and inside, in /proc); a sniffer's capture stops at its cap with a
//! note in the report; `lab export compose` writes the same limits.

mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/labs")
        .join(name)
}

/// Forks `true` on the host every 100 ms until stopped: (forks done, forks failed).
struct HostForks {
    stop: Arc<AtomicBool>,
    done: Arc<AtomicU64>,
    failed: Arc<AtomicU64>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl HostForks {
    fn start() -> HostForks {
        let stop = Arc::new(AtomicBool::new(false));
        let done = Arc::new(AtomicU64::new(0));
        let failed = Arc::new(AtomicU64::new(0));
        let (s, d, f) = (stop.clone(), done.clone(), failed.clone());
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::SeqCst) {
                match std::process::Command::new("true").status() {
                    Ok(st) if st.success() => d.fetch_add(1, Ordering::SeqCst),
                    _ => f.fetch_add(1, Ordering::SeqCst),
                };
                std::thread::sleep(Duration::from_millis(100));
            }
        });
        HostForks {
            stop,
            done,
            failed,
            thread: Some(thread),
        }
    }

    fn finish(mut self) -> (u64, u64) {
        self.stop.store(true, Ordering::SeqCst);
        self.thread.take().unwrap().join().unwrap();
        (
            self.done.load(Ordering::SeqCst),
            self.failed.load(Ordering::SeqCst),
        )
    }
}

/// Runs a fixture lab that must end in exit 2 because `pacs` met a limit; returns the
/// report's error and the terminal output, after checking the host kept forking during
/// the run and nothing of the run is left.
fn run_to_its_limit(test: &str, lab_file: &str) -> (String, String, PathBuf) {
    let dir = runs_dir(test);
    let forks = HostForks::start();
    let out = lab()
        .arg("run")
        .arg(fixture(lab_file))
        .arg("--runs-dir")
        .arg(&dir)
        .output()
        .unwrap();
    let (done, failed) = forks.finish();
    let stdout = expect_exit(&out, 2);
    assert_eq!(
        failed, 0,
        "the host could not fork {failed} times during the run"
    );
    assert!(done > 0);
    let run = only_run(&dir);
    let r = report(&run);
    assert_eq!(r["verdict"], "error", "{r}");
    let error = r["error"].as_str().unwrap_or_default().to_string();
    let id = run.file_name().unwrap().to_string_lossy().into_owned();
    assert_eq!(leftovers(&id), "", "objects of {id} left");
    // What was gathered: the PACS's log, the step results.
    assert!(run.join("logs/pacs.log").is_file());
    assert!(run.join("logs/steps.jsonl").is_file());
    (error, stdout, run)
}

#[test]
fn a_fork_bomb_is_stopped_by_the_pids_limit() {
    let (error, stdout, run) = run_to_its_limit("limits-fork-bomb", "fork-bomb.yaml");
    let said = "node `pacs` hit its pids limit (128 processes)";
    assert!(error.starts_with(said), "{error}");
    assert!(stdout.contains(said), "{stdout}");
    // The bomb went off after the store: the store itself is recorded.
    let r = report(&run);
    assert_eq!(r["steps"][0]["ok"], true, "{r}");
    assert!(run.join("capture.pcapng").is_file());
}

#[test]
fn a_memory_hog_is_killed_by_its_memory_limit() {
    let (error, stdout, _) = run_to_its_limit("limits-memory-hog", "memory-hog.yaml");
    let said = "node `pacs` was killed by its memory limit (256 MiB)";
    assert!(error.starts_with(said), "{error}");
    assert!(stdout.contains(said), "{stdout}");
}

const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;

/// (memory, pids, cpu shares, log max-size per file, capabilities) expected of each node
/// of tests/labs/limits-up.yaml: the defaults, and the modality's own `limits`.
fn expected(node: &str) -> (u64, u64, u64, u64, &'static [&'static str]) {
    match node {
        "pacs" => (
            5 * GIB,
            1024,
            1024,
            32 * MIB,
            &["CHOWN", "DAC_READ_SEARCH", "SETGID", "SETUID"],
        ),
        "modality" => (GIB, 256, 768, 4 * MIB, &[]),
        "attacker" => (2 * GIB, 512, 512, 8 * MIB, &["NET_RAW"]),
        "sniffer" | "ids" => (512 * MIB, 128, 1024, 8 * MIB, &["NET_RAW"]),
        other => panic!("unexpected node {other}"),
    }
}

fn caps_of(v: &serde_json::Value) -> Vec<String> {
    let mut caps: Vec<String> = v
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|c| c.as_str())
                .map(|c| c.trim_start_matches("CAP_").to_string())
                .collect()
        })
        .unwrap_or_default();
    caps.sort();
    caps
}

/// Bit numbers of the capabilities named (linux/capability.h).
fn cap_mask(caps: &[&str]) -> u64 {
    caps.iter()
        .map(|c| match *c {
            "CHOWN" => 1u64 << 0,
            "DAC_READ_SEARCH" => 1 << 2,
            "SETGID" => 1 << 6,
            "SETUID" => 1 << 7,
            "NET_ADMIN" => 1 << 12,
            "NET_RAW" => 1 << 13,
            other => panic!("no bit for {other}"),
        })
        .fold(0, |a, b| a | b)
}

fn look_at_the_containers(id: &str) {
    let names = docker(&[
        "ps",
        "-q",
        "--filter",
        &format!("label=dicom-range.run={id}"),
    ]);
    let names: Vec<&str> = names.split_whitespace().collect();
    assert_eq!(names.len(), 5, "{names:?}");
    let inspected: serde_json::Value =
        serde_json::from_str(&docker(&[&["inspect"][..], &names].concat())).unwrap();
    let mut seen = Vec::new();
    for c in inspected.as_array().unwrap() {
        let node = c["Config"]["Labels"]["dicom-range.node"]
            .as_str()
            .unwrap()
            .to_string();
        let (memory, pids, shares, log, caps) = expected(&node);
        let h = &c["HostConfig"];
        assert_eq!(h["Memory"], memory, "{node}: Memory");
        assert_eq!(
            h["MemorySwap"], memory,
            "{node}: MemorySwap (no swap on top)"
        );
        assert_eq!(h["PidsLimit"], pids, "{node}: PidsLimit");
        assert_eq!(h["CpuShares"], shares, "{node}: CpuShares");
        assert_eq!(h["LogConfig"]["Type"], "json-file", "{node}");
        assert_eq!(
            h["LogConfig"]["Config"]["max-size"],
            log.to_string(),
            "{node}: log max-size"
        );
        assert_eq!(h["LogConfig"]["Config"]["max-file"], "2", "{node}");
        assert_eq!(caps_of(&h["CapDrop"]), ["ALL"], "{node}: CapDrop");
        assert_eq!(caps_of(&h["CapAdd"]), caps, "{node}: CapAdd");
        let sec: Vec<&str> = h["SecurityOpt"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|s| s.as_str())
            .collect();
        assert!(
            sec.iter().any(|s| s.starts_with("no-new-privileges")),
            "{node}: {sec:?}"
        );
        // Inside, as the kernel sees it: the main process of every node but the PACS
        // (which has given its capabilities up by then) holds exactly those, and cannot
        // gain more.
        let name = c["Name"].as_str().unwrap().trim_start_matches('/');
        let status = docker(&["exec", name, "cat", "/proc/1/status"]);
        let field = |k: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(k))
                .map(|v| v.trim().to_string())
                .unwrap_or_else(|| panic!("{node}: no {k} in /proc/1/status"))
        };
        assert_eq!(field("NoNewPrivs:"), "1", "{node}");
        let bounding = u64::from_str_radix(&field("CapBnd:"), 16).unwrap();
        assert_eq!(bounding, cap_mask(caps), "{node}: bounding set");
        let effective = u64::from_str_radix(&field("CapEff:"), 16).unwrap();
        let want = if node == "pacs" { 0 } else { cap_mask(caps) };
        assert_eq!(effective, want, "{node}: effective set of PID 1");
        seen.push(node);
    }
    seen.sort();
    assert_eq!(seen, ["attacker", "ids", "modality", "pacs", "sniffer"]);
}

/// One `lab run` of tests/labs/limits-up.yaml: every container's limits and
/// capabilities while its long store runs, then the capture stopped at its 1 MiB cap,
/// readable, and noted in the report.
#[test]
fn a_running_lab_shows_its_limits_and_a_full_capture_is_noted() {
    let dir = runs_dir("limits-up");
    let (mut lab_run, id) = run_started(fixture("limits-up.yaml"), &dir);
    // Every node, the taps included, is up once the steps begin.
    lab_run.wait_for("==> step 1 (", 120);
    let looked = std::panic::catch_unwind(|| look_at_the_containers(&id));
    let (code, out, err) = lab_run.finish();
    looked.unwrap();
    let stdout = String::from_utf8_lossy(&out).into_owned();
    assert_eq!(code, Some(0), "{stdout}\n{err}");
    let run = only_run(&dir);
    assert_eq!(leftovers(&id), "");

    let note = "the capture of `sniffer` stopped at its size cap (1 MiB, `limits.capture`)";
    assert!(stdout.contains(note), "{stdout}");
    let r = report(&run);
    let notes = r["notes"].to_string();
    assert!(notes.contains(note), "{r}");
    let capture = run.join("capture.pcapng");
    let size = std::fs::metadata(&capture).unwrap().len();
    assert!(
        size <= MIB,
        "capture.pcapng holds {size} bytes, over its 1 MiB cap"
    );
    let analysis = wire::analyze_file(&capture).expect("the capped capture reads to its end");
    assert!(
        analysis.events.iter().any(|e| e.label == "A-ASSOCIATE-RQ"),
        "the capture's start is kept"
    );
}

/// `lab export compose` writes the limits `lab run` applies (no daemon needed).
#[test]
fn the_compose_export_carries_the_same_limits() {
    let dir = runs_dir("limits-export");
    expect_exit(
        &lab()
            .args(["export", "compose", "-q", "--out"])
            .arg(&dir)
            .arg(fixture("limits-up.yaml"))
            .output()
            .unwrap(),
        0,
    );
    let text = std::fs::read_to_string(dir.join("docker-compose.yml")).unwrap();
    let doc: serde_json::Value = serde_saphyr::from_str(&text).unwrap();
    for node in ["pacs", "modality", "attacker", "sniffer", "ids"] {
        let s = &doc["services"][node];
        let (memory, pids, shares, log, caps) = expected(node);
        assert_eq!(s["mem_limit"], memory, "{node}");
        assert_eq!(s["memswap_limit"], memory, "{node}");
        assert_eq!(s["pids_limit"], pids, "{node}");
        assert_eq!(s["cpu_shares"], shares, "{node}");
        assert_eq!(
            s["logging"]["options"]["max-size"],
            log.to_string(),
            "{node}"
        );
        assert_eq!(caps_of(&s["cap_drop"]), ["ALL"], "{node}");
        assert_eq!(caps_of(&s["cap_add"]), caps, "{node}");
        assert_eq!(s["security_opt"][0], "no-new-privileges:true", "{node}");
    }
    let cmd = doc["services"]["sniffer"]["command"].to_string();
    assert!(cmd.contains("\"--max-bytes\",\"1048576\""), "{cmd}");
}
