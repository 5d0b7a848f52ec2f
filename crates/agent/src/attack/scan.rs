//! `aet-scan` (nmap's dicom-ping / dicom-brute) and `flood` (a bounded association flood).

use super::raw::{self, Outcome, Probe};
use crate::error::AgentError;
use serde_json::{Value, json};
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

fn probe_json(p: &Probe) -> Value {
    match &p.outcome {
        Outcome::Accepted { released } => json!({"aet": p.called, "released": released}),
        Outcome::Rejected {
            result,
            source,
            reason,
        } => json!({"aet": p.called, "reason": reason, "result": result, "source": source}),
        Outcome::Failed(e) => json!({"aet": p.called, "error": e}),
    }
}

/// Run the scan. Returns the JSON line and the exit class: `Ok` when the scan ran, `Err`
/// (with the partial JSON) when the peer was unreachable on every attempt or the options
/// were wrong.
pub fn aet_scan(o: &ScanOptions) -> Result<Value, (Value, AgentError)> {
    let start = Instant::now();
    let mut v = json!({
        "action": "aet-scan",
        "success": false,
        "any_aet_accepted": Value::Null,
        "random_aet": Value::Null,
        "accepted": [],
        "rejected": [],
        "failed": [],
        "attempts": 0,
        "implementation_version_name": Value::Null,
        "implementation_class_uid": Value::Null,
        "truncated": false,
    });
    if !valid_aet(&o.calling) {
        return Err((
            v,
            AgentError::other(format!(
                "--calling '{}' is not a valid AE title: 1 to 16 ASCII characters",
                o.calling
            )),
        ));
    }
    if o.called.is_empty() && !o.random_probe {
        return Err((
            v,
            AgentError::other("give --called A,B,C and/or --random-probe: nothing to try"),
        ));
    }
    let addrs = match raw::resolve(&o.host, o.port) {
        Ok(a) => a,
        Err(e) => return Err((v, e)),
    };
    let mut list: Vec<(bool, String)> = Vec::new();
    if o.random_probe {
        let r = raw::random_aet();
        v["random_aet"] = json!(r);
        list.push((true, r));
    }
    list.extend(o.called.iter().map(|c| (false, c.clone())));
    let max = o.max.max(1);
    if list.len() > max {
        list.truncate(max);
        v["truncated"] = json!(true);
    }
    let (mut accepted, mut rejected, mut failed) = (Vec::new(), Vec::new(), Vec::new());
    let mut attempts = 0u64;
    let mut unreachable: Option<AgentError> = None;
    let mut answered = 0u64;
    for (i, (is_random, aet)) in list.iter().enumerate() {
        if start.elapsed() >= o.max_time {
            v["truncated"] = json!(true);
            break;
        }
        if i > 0 && !o.delay.is_zero() {
            std::thread::sleep(o.delay);
        }
        attempts += 1;
        match raw::probe(&addrs, &o.calling, aet, o.timeout, Duration::ZERO) {
            Err(e) => {
                failed.push(json!({"aet": aet, "error": e.message}));
                unreachable.get_or_insert(e);
            }
            Ok(p) => {
                if !matches!(p.outcome, Outcome::Failed(_)) {
                    answered += 1;
                }
                if v["implementation_version_name"].is_null() {
                    if let Some(n) = &p.implementation_version_name {
                        v["implementation_version_name"] = json!(n);
                    }
                    if let Some(c) = &p.implementation_class_uid {
                        v["implementation_class_uid"] = json!(c);
                    }
                }
                if *is_random {
                    v["any_aet_accepted"] = match &p.outcome {
                        Outcome::Accepted { .. } => json!(true),
                        Outcome::Rejected { .. } => json!(false),
                        Outcome::Failed(_) => Value::Null,
                    };
                    v["random_probe"] = probe_json(&p);
                    continue;
                }
                match &p.outcome {
                    Outcome::Accepted { .. } => accepted.push(json!(aet)),
                    Outcome::Rejected { .. } => rejected.push(probe_json(&p)),
                    Outcome::Failed(_) => failed.push(probe_json(&p)),
                }
            }
        }
    }
    let any = v["any_aet_accepted"] == json!(true);
    v["success"] = json!(any || !accepted.is_empty());
    v["accepted"] = json!(accepted);
    v["rejected"] = json!(rejected);
    v["failed"] = json!(failed);
    v["attempts"] = json!(attempts);
    v["elapsed_ms"] = json!(start.elapsed().as_millis() as u64);
    match unreachable {
        Some(e) if answered == 0 => Err((v, e)),
        _ => Ok(v),
    }
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
    let mut v = json!({"action": "flood", "success": false, "requested": n, "concurrency": c});
    let addrs: Arc<Vec<SocketAddr>> = match raw::resolve(&o.host, o.port) {
        Ok(a) => Arc::new(a),
        Err(e) => return Err((v, e)),
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
    v["success"] = json!(attempted == n);
    v["attempted"] = json!(attempted);
    v["accepted"] = json!(acc);
    v["rejected"] = json!(rej);
    v["failed"] = json!(failed);
    v["unreachable"] = json!(unreach);
    v["elapsed_ms"] = json!(elapsed.as_millis() as u64);
    v["associations_per_s"] =
        json!(((attempted as f64 / elapsed.as_secs_f64().max(1e-3)) * 10.0).round() / 10.0);
    v["timed_out"] = json!(attempted < n);
    if let Some(e) = first_error.lock().unwrap().take() {
        v["first_error"] = json!(e);
    }
    if attempted > 0 && unreach == attempted {
        let msg = v["first_error"]
            .as_str()
            .unwrap_or("unreachable")
            .to_string();
        return Err((v, AgentError::unreachable(msg)));
    }
    Ok(v)
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
