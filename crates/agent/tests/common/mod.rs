//! Helpers shared by the integration tests. Traffic goes to 127.0.0.1 only.
#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A port that was free a moment ago on 127.0.0.1.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A fresh, empty directory under the system temp dir.
pub fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "agent-test-{name}-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Whether a program is on PATH.
pub fn on_path(prog: &str) -> bool {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(prog).is_file()))
        .unwrap_or(false)
}

/// The `lab-agent` binary under test.
pub fn agent() -> Command {
    Command::new(env!("CARGO_BIN_EXE_lab-agent"))
}

/// Kills the child on drop (a failing test never leaves a server behind).
pub struct Guard(pub Child);
impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Whether a test must stop for want of `what`: under `CI=true` that is a failure with the
/// install hint (CI installs every prerequisite, so a missing one is a broken setup); on a
/// developer's machine the test notes the reason and returns early.
pub fn missing_prerequisite(missing: bool, what: &str, hint: &str) -> bool {
    if !missing {
        return false;
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{what} is missing: {hint}");
    }
    eprintln!("not run here: {what} is missing ({hint})");
    true
}

/// dcmtk's storescp, killed when dropped.
pub struct StoreScp {
    pub child: Child,
    pub port: u16,
    pub dir: PathBuf,
}

impl StoreScp {
    /// `None` (with the reason printed) when storescp is not installed.
    pub fn start(extra: &[&str]) -> Option<StoreScp> {
        if missing_prerequisite(
            !on_path("storescp"),
            "dcmtk's storescp",
            "apt-get install -y dcmtk",
        ) {
            return None;
        }
        let port = free_port();
        let dir = temp_dir("storescp");
        Some(Self::start_at(port, &dir, extra))
    }

    pub fn start_at(port: u16, dir: &Path, extra: &[&str]) -> StoreScp {
        let child = Command::new("storescp")
            .args(["-aet", "ORTHANC", "+xa", "-od"])
            .arg(dir)
            .args(extra)
            .arg(port.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("cannot start storescp");
        StoreScp {
            child,
            port,
            dir: dir.to_path_buf(),
        }
    }

    /// Wait until the port accepts TCP connections.
    pub fn wait_listening(&self) {
        for _ in 0..200 {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        panic!("storescp did not listen on port {}", self.port);
    }

    pub fn files(&self) -> Vec<String> {
        std::fs::read_dir(&self.dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect()
    }
}

impl Drop for StoreScp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Send SIGTERM to a child we started.
pub fn sigterm(child: &Child) {
    let ok = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill -TERM failed");
}
