//! Hostile peers against the real `lab-agent` binary, over loopback TCP with raw PDU bytes:
//! a lying SCU against `serve` (a command set claiming 4 GiB, a PDU over the negotiated
//! maximum, a data set over `--max-dataset-mb`, 10,000 levels of nested sequences) and a
//! lying SCP against the client (`echo`). Each must end in an abort or refusal with a
//! reason, never a crash, with a peak RSS (VmHWM / ru_maxrss) under [`RSS_LIMIT_KIB`].

mod common;

use common::*;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::Stdio;
use std::time::Duration;

/// 64 MiB, in KiB as /proc and getrusage count.
const RSS_LIMIT_KIB: u64 = 64 * 1024;
const VERIFICATION: &str = "1.2.840.10008.1.1";
const CT_IMAGE_STORAGE: &str = "1.2.840.10008.5.1.4.1.1.2";
const IMPLICIT_LE: &str = "1.2.840.10008.1.2";
const EXPLICIT_LE: &str = "1.2.840.10008.1.2.1";

// ---------------------------------------------------------------------------------------
// Raw PDUs

fn item(kind: u8, value: &[u8]) -> Vec<u8> {
    let mut b = vec![kind, 0];
    b.extend_from_slice(&(value.len() as u16).to_be_bytes());
    b.extend_from_slice(value);
    b
}

fn pdu(kind: u8, body: &[u8]) -> Vec<u8> {
    let mut b = vec![kind, 0];
    b.extend_from_slice(&(body.len() as u32).to_be_bytes());
    b.extend_from_slice(body);
    b
}

fn ae(title: &str) -> [u8; 16] {
    let mut a = [b' '; 16];
    a[..title.len()].copy_from_slice(title.as_bytes());
    a
}

fn user_info(max_length: u32) -> Vec<u8> {
    let mut ui = item(0x51, &max_length.to_be_bytes());
    ui.extend(item(0x52, b"1.2.826.0.1.3680043.10.1"));
    item(0x50, &ui)
}

/// An A-ASSOCIATE-RQ proposing one presentation context (id 1).
fn associate_rq(called: &str, abstract_syntax: &str, ts: &str) -> Vec<u8> {
    let mut body = vec![0, 1, 0, 0];
    body.extend_from_slice(&ae(called));
    body.extend_from_slice(&ae("HOSTILE"));
    body.extend_from_slice(&[0; 32]);
    body.extend(item(0x10, b"1.2.840.10008.3.1.1.1"));
    let mut pc = vec![1, 0, 0, 0];
    pc.extend(item(0x30, abstract_syntax.as_bytes()));
    pc.extend(item(0x40, ts.as_bytes()));
    body.extend(item(0x20, &pc));
    body.extend(user_info(16_384));
    pdu(0x01, &body)
}

/// One P-DATA-TF holding PDVs (pc id, control header, value).
fn pdata(pdvs: &[(u8, u8, &[u8])]) -> Vec<u8> {
    let mut body = Vec::new();
    for (pc, ctrl, v) in pdvs {
        body.extend_from_slice(&((v.len() + 2) as u32).to_be_bytes());
        body.push(*pc);
        body.push(*ctrl);
        body.extend_from_slice(v);
    }
    pdu(0x04, &body)
}

const COMMAND_LAST: u8 = 0x03;
const DATA: u8 = 0x00;
const DATA_LAST: u8 = 0x02;

/// Read one PDU (type, body); `None` when the peer closed the connection.
fn read_pdu(s: &mut TcpStream) -> Option<(u8, Vec<u8>)> {
    let mut h = [0u8; 6];
    s.read_exact(&mut h).ok()?;
    let len = u32::from_be_bytes([h[2], h[3], h[4], h[5]]) as usize;
    assert!(len <= 1 << 20, "the agent sent a PDU of {len} bytes");
    let mut body = vec![0u8; len];
    s.read_exact(&mut body).ok()?;
    Some((h[0], body))
}

/// The Maximum Length (0x51) in the user information of an A-ASSOCIATE-RQ/AC body.
fn max_length_of(body: &[u8]) -> Option<u32> {
    let mut at = 68;
    while at + 4 <= body.len() {
        let (kind, len) = (
            body[at],
            u16::from_be_bytes([body[at + 2], body[at + 3]]) as usize,
        );
        let v = body.get(at + 4..at + 4 + len)?;
        if kind == 0x50 {
            let mut s = 0;
            while s + 4 <= v.len() {
                let l = u16::from_be_bytes([v[s + 2], v[s + 3]]) as usize;
                if v[s] == 0x51 && l == 4 {
                    return Some(u32::from_be_bytes(v[s + 4..s + 8].try_into().ok()?));
                }
                s += 4 + l;
            }
        }
        at += 4 + len;
    }
    None
}

/// Implicit VR LE element.
fn element(group: u16, elem: u16, value: &[u8]) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&group.to_le_bytes());
    b.extend_from_slice(&elem.to_le_bytes());
    b.extend_from_slice(&(value.len() as u32).to_le_bytes());
    b.extend_from_slice(value);
    b
}

fn uid_value(uid: &str) -> Vec<u8> {
    let mut v = uid.as_bytes().to_vec();
    if v.len() % 2 == 1 {
        v.push(0);
    }
    v
}

/// A C-STORE-RQ command set (Implicit VR LE, with its group length).
fn store_rq(instance: &str) -> Vec<u8> {
    let mut rest = element(0x0000, 0x0002, &uid_value(CT_IMAGE_STORAGE));
    rest.extend(element(0x0000, 0x0100, &1u16.to_le_bytes()));
    rest.extend(element(0x0000, 0x0110, &7u16.to_le_bytes()));
    rest.extend(element(0x0000, 0x0700, &0u16.to_le_bytes()));
    rest.extend(element(0x0000, 0x0800, &0u16.to_le_bytes()));
    rest.extend(element(0x0000, 0x1000, &uid_value(instance)));
    let mut cmd = element(0x0000, 0x0000, &(rest.len() as u32).to_le_bytes());
    cmd.extend(rest);
    cmd
}

/// 20 bytes of command set whose first element, Affected SOP Class UID, claims a value of
/// almost 4 GiB.
fn lying_command() -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&0x0000u16.to_le_bytes());
    b.extend_from_slice(&0x0002u16.to_le_bytes());
    b.extend_from_slice(&0xFFFF_FFF0u32.to_le_bytes());
    b.extend_from_slice(b"1.2.840.1000");
    assert_eq!(b.len(), 20);
    b
}

/// The value of a US element in an Implicit VR LE command set.
fn command_u16(cmd: &[u8], group: u16, elem: u16) -> Option<u16> {
    let mut at = 0;
    while at + 8 <= cmd.len() {
        let g = u16::from_le_bytes([cmd[at], cmd[at + 1]]);
        let e = u16::from_le_bytes([cmd[at + 2], cmd[at + 3]]);
        let l = u32::from_le_bytes(cmd[at + 4..at + 8].try_into().unwrap()) as usize;
        if (g, e) == (group, elem) && l == 2 {
            return Some(u16::from_le_bytes([cmd[at + 8], cmd[at + 9]]));
        }
        at += 8 + l;
    }
    None
}

/// The PDV values of one P-DATA-TF body.
fn pdvs_of(body: &[u8]) -> Vec<(u8, Vec<u8>)> {
    let mut out = Vec::new();
    let mut at = 0;
    while at + 6 <= body.len() {
        let l = u32::from_be_bytes(body[at..at + 4].try_into().unwrap()) as usize;
        out.push((body[at + 5], body[at + 6..at + 4 + l].to_vec()));
        at += 4 + l;
    }
    out
}

// ---------------------------------------------------------------------------------------
// serve

struct Serve {
    guard: Guard,
    port: u16,
    lines: std::io::Lines<BufReader<std::process::ChildStdout>>,
    out: std::path::PathBuf,
}

fn serve(extra: &[&str]) -> Serve {
    let port = free_port();
    let out = temp_dir("hostile-serve");
    let mut child = agent()
        .args(["serve", "--bind", "127.0.0.1", "--port", &port.to_string()])
        .args(["--aet", "LABSCP", "--timeout-secs", "10"])
        .args(extra)
        .arg("--out")
        .arg(&out)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let guard = Guard(child);
    let first = lines
        .next()
        .expect("serve printed nothing (did it accept the options?)")
        .unwrap();
    let first: serde_json::Value = serde_json::from_str(&first).unwrap();
    assert_eq!(first["event"], "listening", "{first}");
    Serve {
        guard,
        port,
        lines,
        out,
    }
}

impl Serve {
    /// Connect and associate; returns the stream and serve's maximum PDU length.
    fn associate(&self, abstract_syntax: &str, ts: &str) -> (TcpStream, u32) {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        s.write_all(&associate_rq("LABSCP", abstract_syntax, ts))
            .unwrap();
        let (kind, body) = read_pdu(&mut s).expect("no answer to the A-ASSOCIATE-RQ");
        assert_eq!(kind, 0x02, "serve did not accept the association");
        let max = max_length_of(&body).expect("no maximum length in the A-ASSOCIATE-AC");
        (s, max)
    }

    /// The next association line serve prints.
    fn next_association(&mut self) -> serde_json::Value {
        for line in self.lines.by_ref() {
            let v: serde_json::Value = serde_json::from_str(&line.unwrap()).unwrap();
            if v["event"] == "association" {
                return v;
            }
        }
        panic!("serve ended without an association line");
    }

    /// Peak RSS of the serve process, in KiB.
    fn vm_hwm_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.guard.0.id()))
            .expect("serve is no longer running");
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("no VmHWM in /proc/<pid>/status")
    }

    /// Serve must still be running (not killed by a signal).
    fn assert_alive(&mut self) {
        if let Some(status) = self.guard.0.try_wait().unwrap() {
            panic!("serve ended: {status:?}");
        }
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.out);
    }
}

/// Wait until the agent aborts (A-ABORT) or closes the connection; returns what it sent.
fn until_abort(s: &mut TcpStream) -> Vec<u8> {
    let mut seen = Vec::new();
    while let Some((kind, _)) = read_pdu(s) {
        seen.push(kind);
        if kind == 0x07 {
            break;
        }
    }
    assert!(
        seen.iter().all(|&k| k == 0x07),
        "the agent answered with PDUs {seen:?} instead of aborting"
    );
    seen
}

#[test]
fn serve_aborts_lying_peers_with_bounded_memory() {
    let mut srv = serve(&[]);

    // 1. A 20-byte command set whose first element claims almost 4 GiB.
    let (mut s, _) = srv.associate(VERIFICATION, IMPLICIT_LE);
    s.write_all(&pdata(&[(1, COMMAND_LAST, &lying_command())]))
        .unwrap();
    until_abort(&mut s);
    let v = srv.next_association();
    assert_eq!(v["ok"], false, "{v}");
    let why = v["error"].as_str().unwrap_or_default();
    assert!(
        why.contains("command set") && why.contains("beyond"),
        "no reason naming the lying length: {v}"
    );

    // 2. A P-DATA-TF announcing 1 GiB, far over serve's maximum length.
    let (mut s, max) = srv.associate(VERIFICATION, IMPLICIT_LE);
    let mut big = vec![0x04, 0x00];
    big.extend_from_slice(&(1u32 << 30).to_be_bytes());
    big.extend_from_slice(&vec![0u8; 1 << 20]);
    let _ = s.write_all(&big); // serve may cut the connection before all is written
    until_abort(&mut s);
    let v = srv.next_association();
    assert_eq!(v["ok"], false, "{v}");
    let why = v["error"].as_str().unwrap_or_default();
    assert!(
        why.contains(&(1u32 << 30).to_string()) && why.contains(&max.to_string()),
        "no reason naming the PDU length and the maximum {max}: {v}"
    );

    srv.assert_alive();
    let hwm = srv.vm_hwm_kib();
    eprintln!("serve's peak RSS after both lying peers: {hwm} KiB");
    assert!(
        hwm < RSS_LIMIT_KIB,
        "serve's peak RSS was {hwm} KiB, over {RSS_LIMIT_KIB}"
    );
}

#[test]
fn serve_aborts_a_data_set_over_max_dataset_mb() {
    let mut srv = serve(&["--max-dataset-mb", "1"]);
    let (mut s, max) = srv.associate(CT_IMAGE_STORAGE, EXPLICIT_LE);
    s.write_all(&pdata(&[(1, COMMAND_LAST, &store_rq("1.2.3.4"))]))
        .unwrap();
    // Up to 32 MiB of data set in fragments within serve's maximum length, never the last
    // one: serve must stop reading after 1 MiB (more than the socket buffers can hold).
    let chunk = vec![0u8; max as usize - 6];
    let mut sent = 0usize;
    while sent < 32 << 20 {
        if s.write_all(&pdata(&[(1, DATA, &chunk)])).is_err() {
            break; // serve aborted and closed
        }
        sent += chunk.len();
    }
    until_abort(&mut s);
    let v = srv.next_association();
    assert_eq!(v["ok"], false, "{v}");
    let why = v["error"].as_str().unwrap_or_default();
    assert!(
        why.contains("--max-dataset-mb"),
        "no reason naming the bound: {v}"
    );
    assert!(
        sent < 32 << 20,
        "serve read 32 MiB of a data set bounded to 1"
    );
    srv.assert_alive();
    assert!(srv.vm_hwm_kib() < RSS_LIMIT_KIB);
}

#[test]
fn serve_refuses_a_data_set_nested_10000_levels_deep() {
    let mut srv = serve(&[]);
    let (mut s, max) = srv.associate(CT_IMAGE_STORAGE, EXPLICIT_LE);
    let data = wire::fuzzing::deep_nesting_dataset(10_000);
    assert!(data.len() > 350_000);
    s.write_all(&pdata(&[(1, COMMAND_LAST, &store_rq("1.2.3.5"))]))
        .unwrap();
    let pieces: Vec<&[u8]> = data.chunks(max as usize - 6).collect();
    for (i, p) in pieces.iter().enumerate() {
        let ctrl = if i + 1 == pieces.len() {
            DATA_LAST
        } else {
            DATA
        };
        s.write_all(&pdata(&[(1, ctrl, p)])).unwrap();
    }
    let (kind, body) = read_pdu(&mut s).expect("serve closed without a C-STORE-RSP");
    assert_eq!(kind, 0x04, "expected a P-DATA-TF with the C-STORE-RSP");
    let (_, cmd) = pdvs_of(&body).into_iter().next().unwrap();
    assert_eq!(command_u16(&cmd, 0x0000, 0x0100), Some(0x8001));
    let status = command_u16(&cmd, 0x0000, 0x0900).unwrap();
    assert_ne!(status, 0x0000, "serve stored 10,000 nested levels");
    s.write_all(&pdu(0x05, &[0; 4])).unwrap();
    let _ = read_pdu(&mut s);
    let v = srv.next_association();
    let inst = &v["instances"][0];
    assert_eq!(inst["status"], status, "{v}");
    let why = inst["error"].as_str().unwrap_or_default();
    assert!(why.contains("nest"), "no reason naming the nesting: {v}");
    assert!(
        !srv.out.join("1.2.3.5.dcm").exists(),
        "the nested data set was written"
    );
    srv.assert_alive();
}

// ---------------------------------------------------------------------------------------
// the client against a hostile SCP

/// The hostile SCP: accepts one association (every proposed context, Implicit VR LE, max
/// length 16384), waits for the first P-DATA-TF, then sends `attack` and keeps the
/// connection open a while (so that only the client can end it).
fn hostile_scp(attack: Vec<Vec<u8>>) -> (u16, std::thread::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let h = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let (kind, rq) = read_pdu(&mut s).expect("no A-ASSOCIATE-RQ");
        assert_eq!(kind, 0x01);
        let mut body = rq[..68].to_vec();
        body.extend(item(0x10, b"1.2.840.10008.3.1.1.1"));
        let mut at = 68;
        while at + 4 <= rq.len() {
            let len = u16::from_be_bytes([rq[at + 2], rq[at + 3]]) as usize;
            if rq[at] == 0x20 {
                let mut pc = vec![rq[at + 4], 0, 0, 0];
                pc.extend(item(0x40, IMPLICIT_LE.as_bytes()));
                body.extend(item(0x21, &pc));
            }
            at += 4 + len;
        }
        body.extend(user_info(16_384));
        s.write_all(&pdu(0x02, &body)).unwrap();
        let (kind, _) = read_pdu(&mut s).expect("no request from the client");
        assert_eq!(kind, 0x04);
        for chunk in attack {
            if s.write_all(&chunk).is_err() {
                return; // the client closed: what it should do
            }
        }
        // Wait for the client to abort or close.
        let mut sink = [0u8; 4096];
        while let Ok(n) = s.read(&mut sink) {
            if n == 0 {
                break;
            }
        }
    });
    (port, h)
}

/// Run `lab-agent echo` against the port; returns (exit status, stdout JSON, peak RSS KiB).
// Reaped by wait4 below, which Child::wait cannot replace (it gives no rusage).
#[allow(clippy::zombie_processes)]
fn echo_against(port: u16) -> (std::process::ExitStatus, serde_json::Value, u64) {
    let mut child = agent()
        .args(["echo", "--host", "127.0.0.1", "--port", &port.to_string()])
        .args(["--timeout-secs", "15"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    // wait4 rather than Child::wait: it also says the child's peak RSS.
    let mut status = 0;
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let pid = child.id() as libc::pid_t;
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(r, pid, "wait4 failed");
    use std::os::unix::process::ExitStatusExt;
    let status = std::process::ExitStatus::from_raw(status);
    let v: serde_json::Value = serde_json::from_str(out.lines().last().unwrap_or("{}"))
        .unwrap_or_else(|e| panic!("not a JSON line ({e}): {out}"));
    (status, v, usage.ru_maxrss as u64)
}

#[test]
fn client_refuses_a_lying_command_set_with_bounded_memory() {
    let (port, scp) = hostile_scp(vec![pdata(&[(1, COMMAND_LAST, &lying_command())])]);
    let (status, v, rss) = echo_against(port);
    scp.join().unwrap();
    assert!(
        status.code().is_some(),
        "the client died by a signal: {status:?}"
    );
    assert_ne!(status.code(), Some(0), "{v}");
    let why = v["error"].as_str().unwrap_or_default();
    assert!(
        why.contains("command set") && why.contains("beyond"),
        "no clear error: {v}"
    );
    eprintln!("the client's peak RSS: {rss} KiB");
    assert!(rss < RSS_LIMIT_KIB, "the client's peak RSS was {rss} KiB");
}

#[test]
fn client_refuses_a_pdu_over_the_length_it_proposed() {
    // A P-DATA-TF announcing 1 GiB, then 96 MiB of it.
    let mut header = vec![0x04, 0x00];
    header.extend_from_slice(&(1u32 << 30).to_be_bytes());
    let mut attack = vec![header];
    attack.extend((0..96).map(|_| vec![0u8; 1 << 20]));
    let (port, scp) = hostile_scp(attack);
    let (status, v, rss) = echo_against(port);
    scp.join().unwrap();
    assert!(
        status.code().is_some(),
        "the client died by a signal: {status:?}"
    );
    assert_ne!(status.code(), Some(0), "{v}");
    let why = v["error"].as_str().unwrap_or_default();
    assert!(
        why.contains(&(1u32 << 30).to_string()) && why.contains("maximum"),
        "no error naming the PDU length and the maximum: {v}"
    );
    eprintln!("the client's peak RSS: {rss} KiB");
    assert!(rss < RSS_LIMIT_KIB, "the client's peak RSS was {rss} KiB");
}
