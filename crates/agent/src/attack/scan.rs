//! `aet-scan` (nmap's dicom-ping / dicom-brute) and `flood` (a bounded association flood).

use super::raw::{self, Outcome, Probe};
use crate::error::AgentError;
use protocol::result::{AetScanResult, FloodResult, ProbeLine, to_value};
use serde_json::Value;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Options of `aet-scan`.
#[derive(Debug, Clone)]
pub struct ScanOptions {
    pub host: String,
    pub port: u16,
    pub calling: String,
    pub called: Vec<String>,
    pub random_probe: bool,
    /// At most this many A-ASSOCIATE-RQs (the random probe included).
    pub max: usize,
    pub delay: Duration,
    pub timeout: Duration,
    /// Stop trying new AE titles after this long.
    pub max_time: Duration,
}

fn valid_aet(s: &str) -> bool {
    !s.trim().is_empty() && s.len() <= 16 && s.is_ascii() && !s.contains('\\')
}

/// Parse a comma-separated list of AE titles (blank entries dropped).
pub fn parse_aet_list(s: &str) -> Result<Vec<String>, AgentError> {
    let mut out = Vec::new();
    for a in s.split(',').map(str::trim).filter(|a| !a.is_empty()) {
        if !valid_aet(a) {
            return Err(AgentError::other(format!(
                "'{a}' is not a valid AE title: 1 to 16 ASCII characters, no backslash"
            )));
        }
        out.push(a.to_string());
    }
    Ok(out)
}

fn probe_line(p: &Probe) -> ProbeLine {
    let aet = p.called.clone();
    match &p.outcome {
        Outcome::Accepted { released } => ProbeLine {
            aet,
            released: Some(*released),
            ..Default::default()
        },
        Outcome::Rejected {
            result,
            source,
            reason,
        } => ProbeLine {
            aet,
            reason: Some(reason.clone()),
            result: Some(result.clone()),
            source: Some(source.clone()),
            ..Default::default()
        },
        Outcome::Failed(e) => ProbeLine {
            aet,
            error: Some(e.clone()),
            ..Default::default()
        },
    }
}

/// Run the scan. Returns the JSON line and the exit class: `Ok` when the scan ran, `Err`
/// (with the partial JSON) when the peer was unreachable on every attempt or the options
/// were wrong.
pub fn aet_scan(o: &ScanOptions) -> Result<Value, (Value, AgentError)> {
    match aet_scan_line(o) {
        (v, None) => Ok(to_value(&v)),
        (v, Some(e)) => Err((to_value(&v), e)),
    }
}

/// The scan's line, and why it did not run (if it did not).
fn aet_scan_line(o: &ScanOptions) -> (AetScanResult, Option<AgentError>) {
    let start = Instant::now();
    let mut v = AetScanResult {
        action: "aet-scan".into(),
        ..Default::default()
    };
    if !valid_aet(&o.calling) {
        let e = AgentError::other(format!(
            "--calling '{}' is not a valid AE title: 1 to 16 ASCII characters",
            o.calling
        ));
        return (v, Some(e));
    }
    if o.called.is_empty() && !o.random_probe {
        let e = AgentError::other("give --called A,B,C and/or --random-probe: nothing to try");
        return (v, Some(e));
    }
    let addrs = match raw::resolve(&o.host, o.port) {
        Ok(a) => a,
        Err(e) => return (v, Some(e)),
    };
    let mut list: Vec<(bool, String)> = Vec::new();
    if o.random_probe {
        let r = raw::random_aet();
        v.random_aet = Some(r.clone());
        list.push((true, r));
    }
    list.extend(o.called.iter().map(|c| (false, c.clone())));
    let max = o.max.max(1);
    if list.len() > max {
        list.truncate(max);
        v.truncated = true;
    }
    let mut unreachable: Option<AgentError> = None;
    let mut answered = 0u64;
    for (i, (is_random, aet)) in list.iter().enumerate() {
        if start.elapsed() >= o.max_time {
            v.truncated = true;
            break;
        }
        if i > 0 && !o.delay.is_zero() {
            std::thread::sleep(o.delay);
        }
        v.attempts += 1;
        match raw::probe(&addrs, &o.calling, aet, o.timeout, Duration::ZERO) {
            Err(e) => {
                v.failed.push(ProbeLine {
                    aet: aet.clone(),
                    error: Some(e.message.clone()),
                    ..Default::default()
                });
                unreachable.get_or_insert(e);
            }
            Ok(p) => {
                if !matches!(p.outcome, Outcome::Failed(_)) {
                    answered += 1;
                }
                if v.implementation_version_name.is_none() {
                    if let Some(n) = &p.implementation_version_name {
                        v.implementation_version_name = Some(n.clone());
                    }
                    if let Some(c) = &p.implementation_class_uid {
                        v.implementation_class_uid = Some(c.clone());
                    }
                }
                if *is_random {
                    v.any_aet_accepted = match &p.outcome {
                        Outcome::Accepted { .. } => Some(true),
                        Outcome::Rejected { .. } => Some(false),
                        Outcome::Failed(_) => None,
                    };
                    v.random_probe = Some(probe_line(&p));
                    continue;
                }
                match &p.outcome {
                    Outcome::Accepted { .. } => v.accepted.push(aet.clone()),
                    Outcome::Rejected { .. } => v.rejected.push(probe_line(&p)),
                    Outcome::Failed(_) => v.failed.push(probe_line(&p)),
                }
            }
        }
    }
    v.success = v.any_aet_accepted == Some(true) || !v.accepted.is_empty();
    v.elapsed_ms = Some(start.elapsed().as_millis() as u64);
    let error = unreachable.filter(|_| answered == 0);
    (v, error)
}

/// Options of `flood`.
#[derive(Debug, Clone)]
pub struct FloodOptions {
    pub host: String,
    pub port: u16,
    pub calling: String,
    pub called: String,
    pub associations: u32,
    pub concurrency: u32,
    pub max_time: Duration,
    /// How long each accepted association is held before release.
    pub hold: Duration,
    pub timeout: Duration,
}

/// Hard limits, whatever the command line says.
pub const FLOOD_MAX_ASSOCIATIONS: u32 = 2000;
pub const FLOOD_MAX_SECS: u64 = 30;
pub const FLOOD_MAX_CONCURRENCY: u32 = 256;

/// Open up to N Verification associations with C workers until N were attempted or the
/// time is up; each accepted one is held `hold` then released.
pub fn flood(o: &FloodOptions) -> Result<Value, (Value, AgentError)> {
    let start = Instant::now();
    let n = o.associations.clamp(1, FLOOD_MAX_ASSOCIATIONS) as u64;
    let c = o.concurrency.clamp(1, FLOOD_MAX_CONCURRENCY).min(n as u32);
    let max_time = o.max_time.min(Duration::from_secs(FLOOD_MAX_SECS));
    let deadline = start + max_time;
    let mut v = FloodResult {
        action: "flood".into(),
        concurrency: c,
        requested: n,
        ..Default::default()
    };
    let addrs: Arc<Vec<SocketAddr>> = match raw::resolve(&o.host, o.port) {
        Ok(a) => Arc::new(a),
        Err(e) => return Err((to_value(&v), e)),
    };
    let next = Arc::new(AtomicU64::new(0));
    let counters: Arc<[AtomicU64; 5]> = Arc::new(Default::default()); // acc, rej, failed, unreachable, answered
    let first_error = Arc::new(std::sync::Mutex::new(None::<String>));
    let mut workers = Vec::new();
    for _ in 0..c {
        let (addrs, next, counters, first_error, o) = (
            addrs.clone(),
            next.clone(),
            counters.clone(),
            first_error.clone(),
            o.clone(),
        );
        workers.push(std::thread::spawn(move || {
            loop {
                let now = Instant::now();
                if now >= deadline {
                    break;
                }
                if next.fetch_add(1, Ordering::SeqCst) >= n {
                    next.fetch_sub(1, Ordering::SeqCst);
                    break;
                }
                let left = deadline - now;
                let timeout = o.timeout.min(left).max(Duration::from_millis(200));
                let hold = o.hold.min(left);
                match raw::probe(&addrs, &o.calling, &o.called, timeout, hold) {
                    Ok(p) => match p.outcome {
                        Outcome::Accepted { .. } => {
                            counters[0].fetch_add(1, Ordering::SeqCst);
                        }
                        Outcome::Rejected { .. } => {
                            counters[1].fetch_add(1, Ordering::SeqCst);
                        }
                        Outcome::Failed(e) => {
                            counters[2].fetch_add(1, Ordering::SeqCst);
                            first_error.lock().unwrap().get_or_insert(e);
                        }
                    },
                    Err(e) => {
                        counters[2].fetch_add(1, Ordering::SeqCst);
                        counters[3].fetch_add(1, Ordering::SeqCst);
                        first_error.lock().unwrap().get_or_insert(e.message);
                    }
                }
            }
        }));
    }
    for w in workers {
        let _ = w.join();
    }
    let attempted = next.load(Ordering::SeqCst).min(n);
    let [acc, rej, failed, unreach] = [0, 1, 2, 3].map(|i| counters[i].load(Ordering::SeqCst));
    let elapsed = start.elapsed();
    v.success = attempted == n;
    v.attempted = Some(attempted);
    v.accepted = Some(acc);
    v.rejected = Some(rej);
    v.failed = Some(failed);
    v.unreachable = Some(unreach);
    v.elapsed_ms = Some(elapsed.as_millis() as u64);
    v.associations_per_s =
        Some(((attempted as f64 / elapsed.as_secs_f64().max(1e-3)) * 10.0).round() / 10.0);
    v.timed_out = Some(attempted < n);
    v.first_error = first_error.lock().unwrap().take();
    if attempted > 0 && unreach == attempted {
        let msg = v
            .first_error
            .as_deref()
            .unwrap_or("unreachable")
            .to_string();
        return Err((to_value(&v), AgentError::unreachable(msg)));
    }
    Ok(to_value(&v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aet_lists_parse() {
        assert_eq!(
            parse_aet_list("ORTHANC, PACS,,ANY-SCP").unwrap(),
            vec!["ORTHANC", "PACS", "ANY-SCP"]
        );
        assert!(parse_aet_list("WAY-TOO-LONG-AE-TITLE").is_err());
    }
}
