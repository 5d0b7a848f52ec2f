//! Labs that are up: `lab status`, `lab logs`, `lab exec`, `lab capture`, `lab gc` and
//! `lab down`.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::path::Path;

use engine::EngineError;
use engine::live::{CaptureChunk, DownTarget};

use crate::output::{age, t, tt};

pub async fn status(json: bool, runs_dir: Option<&Path>) -> Result<u8, EngineError> {
    let runs = engine::live::status(runs_dir).await?;
    if json {
        for r in &runs {
            println!("{}", engine::output::json_line(r));
        }
        return Ok(0);
    }
    if runs.is_empty() {
        println!("no dicom-range run is up");
        return Ok(0);
    }
    println!(
        "{:<30} {:<24} {:>5} {:>6}  {:<22} HEALTH",
        "RUN", "LAB", "NODES", "AGE", "OWNER"
    );
    for r in &runs {
        let running = r.nodes.iter().filter(|n| n.state == "running").count();
        let owner = match (r.owner_pid, r.owner_alive, r.kept) {
            (_, _, true) => "kept (lab up/--keep)".to_string(),
            (Some(pid), true, _) => format!("pid {pid}"),
            (Some(pid), false, _) => format!("pid {pid} gone: lab gc"),
            (None, _, _) => "unknown (not lab)".into(),
        };
        println!(
            "{:<30} {:<24} {:>5} {:>6}  {:<22} {}",
            t(&r.run),
            t(&r.lab),
            format!("{running}/{}", r.nodes.len()),
            age(r.age_s),
            owner,
            tt(&r.health)
        );
    }
    Ok(0)
}

pub async fn logs(id: &str, node: Option<&str>, follow: bool) -> Result<u8, EngineError> {
    let mut feed = engine::live::logs(id, node, follow).await?;
    let prefix = feed.several;
    // Node logs are the lab's (and an attacker's) text: on a terminal they are escaped;
    // into a file or a pipe they stay byte for byte, as `docker logs` gives them.
    let escape = std::io::stdout().is_terminal();
    let shown = |bytes: &[u8]| -> Vec<u8> {
        if escape {
            tt(&String::from_utf8_lossy(bytes))
                .into_owned()
                .into_bytes()
        } else {
            bytes.to_vec()
        }
    };
    // Lines of several nodes are kept whole: each chunk is cut at its last newline.
    let mut pending: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    while let Some(item) = feed.next().await {
        let chunk = item?;
        let mut out: Box<dyn Write> = if chunk.stderr && !prefix {
            Box::new(std::io::stderr().lock())
        } else {
            Box::new(std::io::stdout().lock())
        };
        let written = if prefix {
            let node = &chunk.node;
            let buf = pending.entry(node.clone()).or_default();
            buf.extend_from_slice(&chunk.bytes);
            let mut res = Ok(());
            while let Some(pos) = buf.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = buf.drain(..=pos).collect();
                res = res.and(write!(out, "{node:<10} | ").and(out.write_all(&shown(&line))));
            }
            res
        } else {
            out.write_all(&shown(&chunk.bytes))
        };
        if written.and(out.flush()).is_err() {
            return Ok(0);
        }
    }
    for (node, rest) in pending {
        if !rest.is_empty() {
            println!("{node:<10} | {}", tt(&String::from_utf8_lossy(&rest)));
        }
    }
    Ok(0)
}

pub async fn exec(id: &str, node: &str, cmd: &[String]) -> Result<u8, EngineError> {
    let code = engine::live::exec(id, node, cmd, |is_err, bytes| {
        let _ = if is_err {
            std::io::stderr().lock().write_all(bytes)
        } else {
            let mut o = std::io::stdout().lock();
            o.write_all(bytes).and_then(|_| o.flush())
        };
    })
    .await?;
    // The command's own code; one that does not fit (or a lost exec) is reported as 2.
    Ok(u8::try_from(code).unwrap_or(2))
}

pub async fn capture(id: &str, network: Option<&str>) -> Result<u8, EngineError> {
    let shutdown = engine::Shutdown::install();
    let mut live = engine::live::capture(id, network).await?;
    let mut stdout = std::io::stdout().lock();
    let mut outcome = Ok(0);
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
    loop {
        let next = tokio::select! {
            n = live.next() => n,
            // A quiet lab writes nothing: notice the reader leaving (Wireshark closed)
            // without waiting for the next packet.
            _ = tick.tick() => {
                if reader_gone() { None } else { continue }
            }
            _ = shutdown.wait(1) => None,
        };
        match next {
            Some(Ok(CaptureChunk::Pcapng(bytes))) => {
                if stdout
                    .write_all(&bytes)
                    .and_then(|_| stdout.flush())
                    .is_err()
                {
                    break; // the reader (Wireshark) went away
                }
            }
            Some(Ok(CaptureChunk::Status(line))) => {
                eprint!("{}", tt(&String::from_utf8_lossy(&line)));
            }
            Some(Err(e)) => {
                outcome = Err(e);
                break;
            }
            None => break,
        }
    }
    live.stop().await?;
    outcome
}

/// Whether stdout is a pipe or socket whose reader has gone (poll says error or hang-up).
fn reader_gone() -> bool {
    let mut fd = libc::pollfd {
        fd: 1,
        events: 0,
        revents: 0,
    };
    // SAFETY: one valid pollfd, zero timeout.
    let n = unsafe { libc::poll(&mut fd, 1, 0) };
    n > 0 && fd.revents & (libc::POLLERR | libc::POLLHUP) != 0
}

pub async fn gc(runs_dir: Option<&Path>) -> Result<u8, EngineError> {
    let collected = engine::live::gc(runs_dir).await?;
    if collected.is_empty() {
        println!("nothing to collect: every run has a live owner or was kept on purpose");
    }
    let mut code = 0;
    for c in &collected {
        if let Some(why) = &c.left {
            let why = tt(why);
            println!(
                "left {} in place: {}, but saving what it left failed: {why}\n  fix: free space or make its runs folder writable, then `lab gc` again (or `lab down {}` removes it without saving)",
                t(&c.run),
                tt(&c.reason),
                t(&c.run)
            );
            code = 2;
            continue;
        }
        println!(
            "removed {}: {} container(s), {} network(s); {}",
            c.run,
            c.removed.containers.len(),
            c.removed.networks.len(),
            tt(&c.reason)
        );
        if let Some(dir) = &c.saved {
            println!("  what it left is saved in {}", dir.display());
        }
    }
    Ok(code)
}

pub async fn down(target: &DownTarget) -> Result<u8, EngineError> {
    let removed = engine::live::down(target).await?;
    if removed.containers.is_empty() && removed.networks.is_empty() {
        match target {
            DownTarget::Run(id) => println!("nothing labelled with run {id} is left"),
            DownTarget::All { .. } => println!("no dicom-range run is up"),
        }
    } else {
        println!(
            "removed {} container(s) and {} network(s)",
            removed.containers.len(),
            removed.networks.len()
        );
    }
    Ok(0)
}
