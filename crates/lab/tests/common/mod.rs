//! Helpers shared by the tests of the `lab` binary: the real `lab` on the real daemon, each
//! test with its own runs folder (so `--runs-dir` scopes what a
//! test may tear down or collect: other people's runs on the daemon are never touched).
#![allow(dead_code)]

use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub fn lab() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_lab"));
    c.current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("CI", "true")
        .env(
            "LAB_LABS_DIR",
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../labs"),
        );
    c
}

/// `lab exec <run> <node> -- <args>`, run to completion.
pub fn lab_exec(run: &str, node: &str, args: &[&str]) -> Output {
    lab()
        .args(["exec", run, node, "--"])
        .args(args)
        .output()
        .unwrap()
}

pub fn runs_dir(test: &str) -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("runs")
        .join(test);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Asserts how a command exited, showing everything it printed if not; returns stdout.
pub fn expect_exit(out: &Output, code: i32) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(
        out.status.code(),
        Some(code),
        "stdout:\n{stdout}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// The run directories a test's runs created.
pub fn runs_in(dir: &Path) -> Vec<PathBuf> {
    let mut runs: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    runs.sort();
    runs
}

pub fn only_run(dir: &Path) -> PathBuf {
    let runs = runs_in(dir);
    assert_eq!(runs.len(), 1, "{runs:?}");
    runs.into_iter().next().unwrap()
}

/// `lab <args> --runs-dir <dir>`, run to completion.
pub fn lab_in(dir: &Path, args: &[&str]) -> Output {
    lab()
        .args(args)
        .arg("--runs-dir")
        .arg(dir)
        .output()
        .unwrap()
}

pub fn report(run: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(run.join("report.json")).expect("report.json")).unwrap()
}

/// The check `id` of a `report.json`.
pub fn check<'a>(report: &'a serde_json::Value, id: &str) -> &'a serde_json::Value {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("no check {id}"))
}

/// `docker` CLI output (the tests look at Docker with other eyes than the code's).
pub fn docker(args: &[&str]) -> String {
    let o = Command::new("docker")
        .args(args)
        .output()
        .expect("docker CLI");
    assert!(
        o.status.success(),
        "docker {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Docker objects (containers, networks, volumes) still labelled with this run id.
pub fn leftovers(run_id: &str) -> String {
    labelled(&format!("dicom-range.run={run_id}"))
}

/// Every Docker object (containers, networks, volumes) whose runs go to `dir`.
pub fn leftovers_of_runs_dir(dir: &Path) -> String {
    labelled(&format!("dicom-range.runs-dir={}", dir.display()))
}

/// The ids of the containers, networks and volumes carrying `label` (`key=value`).
fn labelled(label: &str) -> String {
    let filter = format!("label={label}");
    let mut out = String::new();
    for what in [
        &["ps", "-a"][..],
        &["network", "ls"][..],
        &["volume", "ls"][..],
    ] {
        let mut args = what.to_vec();
        args.extend(["-q", "--filter", &filter]);
        out.push_str(&docker(&args));
    }
    out
}

/// Every file under `dir`, relative to it, sorted; a symbolic link anywhere fails the test
/// (a run directory never holds one).
pub fn files_under(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let entry = entry.unwrap();
            let kind = entry.file_type().unwrap();
            assert!(
                !kind.is_symlink(),
                "a link in {}: {}",
                dir.display(),
                entry.path().display()
            );
            if kind.is_dir() {
                stack.push(entry.path());
            } else {
                out.push(
                    entry
                        .path()
                        .strip_prefix(dir)
                        .unwrap()
                        .display()
                        .to_string(),
                );
            }
        }
    }
    out.sort();
    out
}

/// `lab run <lab> --runs-dir <dir>`, returned with its run id once stderr names the run.
pub fn run_started(lab_name: impl AsRef<OsStr>, dir: &Path) -> (Running, String) {
    let mut lab_run = Running::spawn(lab().arg("run").arg(lab_name).arg("--runs-dir").arg(dir));
    lab_run.wait_for("==> run ", 120);
    let id = run_id_in(&lab_run.seen);
    (lab_run, id)
}

/// [`run_started`], returned once stderr also shows `marker` (a phase such as
/// `==> step 1 (`).
pub fn run_until(lab_name: impl AsRef<OsStr>, dir: &Path, marker: &str) -> (Running, String) {
    let (mut lab_run, id) = run_started(lab_name, dir);
    lab_run.wait_for(marker, 120);
    (lab_run, id)
}

/// A `lab` process whose stderr is read line by line as it comes.
pub struct Running {
    pub child: Child,
    lines: mpsc::Receiver<String>,
    pub seen: String,
    stdout: Option<std::thread::JoinHandle<Vec<u8>>>,
}

impl Running {
    pub fn spawn(cmd: &mut Command) -> Running {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (tx, lines) = mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut out = child.stdout.take().unwrap();
        let stdout = std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = out.read_to_end(&mut buf);
            buf
        });
        Running {
            child,
            lines,
            seen: String::new(),
            stdout: Some(stdout),
        }
    }

    /// Waits for a stderr line containing `needle` (panics after `secs`).
    pub fn wait_for(&mut self, needle: &str, secs: u64) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push_str(&line);
                    self.seen.push('\n');
                    if line.contains(needle) {
                        return;
                    }
                }
                Err(_) => {
                    let _ = self.child.kill();
                    panic!(
                        "no `{needle}` within {secs} s; stderr so far:\n{}",
                        self.seen
                    );
                }
            }
        }
    }

    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([&format!("-{sig}"), &self.child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -{sig}");
    }

    /// Waits for the exit; returns (code, stdout, all of stderr).
    pub fn finish(mut self) -> (Option<i32>, Vec<u8>, String) {
        let status = self.child.wait().unwrap();
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(5)) {
            self.seen.push_str(&line);
            self.seen.push('\n');
        }
        let out = self.stdout.take().unwrap().join().unwrap();
        (status.code(), out, self.seen)
    }
}

/// Stops a running `lab capture` as a user's Ctrl-C would, once the sniffer's 200 ms flush
/// has passed; writes the pcapng it printed to `file` and decodes it.
pub fn stop_live_capture(cap: Running, file: &Path) -> wire::Analysis {
    std::thread::sleep(Duration::from_millis(800));
    cap.signal("INT");
    let (code, pcap, err) = cap.finish();
    assert_eq!(code, Some(0), "{err}");
    std::fs::write(file, &pcap).unwrap();
    wire::analyze_file(file).expect("lab capture wrote a readable pcapng")
}

/// The run id in a line such as `==> run plaintext-store-1a2b -> ...`.
pub fn run_id_in(text: &str) -> String {
    text.lines()
        .find_map(|l| l.strip_prefix("==> run "))
        .and_then(|l| l.split_whitespace().next())
        .unwrap_or_else(|| panic!("no run id in:\n{text}"))
        .to_string()
}

/// The run ids of `dir`'s runs (directories holding a `scenario.yaml`, at most two levels
/// down: `lab grade` puts runs under `<dir>/grade-<ex>/<student>/`) whose containers are
/// running now.
pub fn runs_in_flight(dir: &Path) -> Vec<String> {
    let mut ids = Vec::new();
    let mut stack = vec![(dir.to_path_buf(), 0)];
    while let Some((d, depth)) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if !p.is_dir() {
                continue;
            }
            if p.join("scenario.yaml").is_file() {
                let id = e.file_name().to_string_lossy().into_owned();
                let filter = format!("label=dicom-range.run={id}");
                if !docker(&["ps", "-q", "--filter", &filter]).trim().is_empty() {
                    ids.push(id);
                }
            } else if depth < 2 {
                stack.push((p, depth + 1));
            }
        }
    }
    ids.sort();
    ids
}

/// Waits until `n` runs of `dir` have running containers; returns their ids.
pub fn wait_in_flight(dir: &Path, n: usize, secs: u64) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let ids = runs_in_flight(dir);
        if ids.len() >= n {
            return ids;
        }
        assert!(
            Instant::now() < deadline,
            "only {ids:?} in flight after {secs} s"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// A small tmpfs of its own, mounted for one test and unmounted when dropped: a runs
/// folder whose disk really fills (ENOSPC), which `chmod` cannot fake for root.
pub struct Tmpfs {
    pub path: PathBuf,
}

impl Tmpfs {
    pub fn mount(test: &str, size: &str) -> Tmpfs {
        let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join("tmpfs")
            .join(test);
        let _ = Command::new("umount").arg("-l").arg(&path).status();
        std::fs::create_dir_all(&path).unwrap();
        let out = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0755"),
                "tmpfs",
            ])
            .arg(&path)
            .output()
            .expect("mount(8)");
        assert!(
            out.status.success(),
            "mounting a tmpfs at {} failed: {}\n  fix: run the tests as root (or with CAP_SYS_ADMIN)",
            path.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        Tmpfs { path }
    }

    /// Fills the file system to the last byte; returns the filler file (remove it to free
    /// the space again).
    pub fn fill(&self) -> PathBuf {
        use std::io::Write;
        let filler = self.path.join("filler");
        let mut f = std::fs::File::create(&filler).unwrap();
        let chunk = vec![0u8; 64 << 10];
        loop {
            match f.write(&chunk) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) if e.raw_os_error() == Some(28) => break,
                Err(e) => panic!("filling {}: {e}", self.path.display()),
            }
        }
        // The last bytes a smaller write still fits.
        for n in [4096usize, 512, 1] {
            while f.write(&chunk[..n]).is_ok_and(|w| w > 0) {}
        }
        filler
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.path).status();
    }
}
