//! The JSON lines `lab-agent` prints on stdout, one type per line.
//!
//! Fields are declared in alphabetical order: that is the order the agent printed them in
//! when its lines were built as `serde_json` maps, and the bytes stay the same. An event's
//! `event` key is a tag type ([`tags`]): a line parses as an event only when it is that
//! event, so a reader matches a line by type, never by text.
//!
//! Readers ([`Outcome`], [`StoreOutcome`]) take only what they need and ignore the rest,
//! so a line stays readable when fields are added.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Declares a tag: a unit type that serializes as one fixed string and deserializes only
/// from it.
macro_rules! tag {
    ($name:ident, $text:literal) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
        pub struct $name;

        impl $name {
            pub const TEXT: &'static str = $text;
        }

        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str($text)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                if s == $text {
                    Ok($name)
                } else {
                    Err(serde::de::Error::custom(format!(
                        "expected `{}`, not `{s}`",
                        $text
                    )))
                }
            }
        }
    };
}

/// The values of `event` and `action` keys.
pub mod tags {
    use super::*;
    tag!(Capturing, "capturing");
    tag!(CaptureLimit, "capture_limit");
    tag!(Stopped, "stopped");
    tag!(Listening, "listening");
    tag!(Association, "association");
    tag!(Alert, "alert");
    tag!(Error, "error");
    tag!(Echo, "echo");
    tag!(Store, "store");
    tag!(Generate, "generate");
    tag!(Find, "find");
}

/// Serialize one line as JSON (no newline).
pub fn to_line<T: Serialize>(line: &T) -> String {
    serde_json::to_string(line).expect("a result line serializes to JSON")
}

/// The TLS session of an association.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tls {
    pub cipher: String,
    pub client_certificate: bool,
    pub version: String,
}

/// `{"event":"capturing"}`: the sniffer's or the IDS's readiness (the IDS adds `alerts`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Capturing {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alerts: Option<String>,
    pub event: tags::Capturing,
    pub iface: String,
}

/// `{"event":"capture_limit"}`: the sniffer reached `--max-bytes` and stopped writing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaptureLimit {
    pub bytes: u64,
    pub event: tags::CaptureLimit,
    pub max_bytes: Option<u64>,
    pub packets: u64,
}

/// The sniffer's last line, at SIGTERM.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SniffStopped {
    pub bytes: u64,
    pub capture_limit_hit: bool,
    pub event: tags::Stopped,
    pub packets: u64,
}

/// The IDS's last line, at SIGTERM.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IdsStopped {
    pub alerts: u64,
    pub event: tags::Stopped,
    pub packets: u64,
}

/// `serve`'s readiness.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServeListening {
    pub aet: String,
    pub bind: String,
    pub event: tags::Listening,
    pub out: String,
    pub port: u16,
}

/// `serve`'s line per association.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ServeAssociation {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub called: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calling: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub echoes: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub elapsed_ms: Option<u64>,
    /// How it ended (released, aborted by the peer, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub event: tags::Association,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instances: Option<Vec<ReceivedInstance>>,
    pub ok: bool,
    pub peer: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stored: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_password_given: Option<bool>,
}

/// The proxy's readiness.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProxyListening {
    pub event: tags::Listening,
    pub listen: String,
    pub upstream: String,
}

/// A daemon's fatal error (`serve` adds `"ok": false`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorEvent {
    pub error: String,
    pub event: tags::Error,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ok: Option<bool>,
}

/// An IDS alert (also the lines of its alerts file).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    pub count: u64,
    pub event: tags::Alert,
    pub first: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keyword: Option<String>,
    pub last: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_called_aet: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preamble: Option<String>,
    pub rule: String,
    pub source: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    pub window_secs: f64,
}

/// What an alert says besides its rule, source and times (each rule fills some).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AlertDetail {
    pub keyword: Option<String>,
    pub last_called_aet: Option<String>,
    pub preamble: Option<String>,
    pub target: Option<String>,
}

impl Alert {
    /// The rule of an alert read as JSON.
    pub fn rule_of(alert: &Value) -> Option<&str> {
        alert.get(keys::RULE).and_then(Value::as_str)
    }

    /// The source address of an alert line read back as JSON.
    pub fn source_of(alert: &Value) -> Option<&str> {
        alert.get(keys::SOURCE).and_then(Value::as_str)
    }
}

/// Whether one line of a daemon's output says it is ready: the sniffer's or IDS's
/// `capturing`, the proxy's or `serve`'s `listening`.
pub fn is_ready_line(line: &str) -> bool {
    #[derive(Deserialize)]
    struct Capture {
        #[allow(dead_code)]
        event: tags::Capturing,
    }
    #[derive(Deserialize)]
    struct Listen {
        #[allow(dead_code)]
        event: tags::Listening,
    }
    let line = line.trim();
    serde_json::from_str::<Capture>(line).is_ok() || serde_json::from_str::<Listen>(line).is_ok()
}

/// The first `capture_limit` line among a sniffer's output lines.
pub fn capture_limit(output: &str) -> Option<CaptureLimit> {
    output
        .lines()
        .find_map(|l| serde_json::from_str(l.trim()).ok())
}

/// What every command's last line says, whatever the command: read by the engine (a
/// step's outcome) and by the checks (`attack.succeeded`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Outcome {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    /// Number of matches (`find`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ok: Option<bool>,
    /// Whether an attack worked (attacker tools only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub success: Option<bool>,
}

impl Outcome {
    /// Read the fields of a parsed line (missing or mistyped fields are `None`).
    pub fn of(v: &Value) -> Outcome {
        let s = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
        Outcome {
            action: s(keys::ACTION),
            count: v.get(keys::COUNT).and_then(Value::as_u64),
            error: s(keys::ERROR),
            ok: v.get(keys::OK).and_then(Value::as_bool),
            success: v.get(keys::SUCCESS).and_then(Value::as_bool),
        }
    }

    /// Set whether an attack worked, on a line read as JSON.
    pub fn set_success(line: &mut Value, success: bool) {
        if let Some(m) = line.as_object_mut() {
            m.insert(keys::SUCCESS.into(), Value::Bool(success));
        }
    }
}

/// The keys of [`Outcome`], for code that edits a line it does not own whole.
pub mod keys {
    pub const ACTION: &str = "action";
    pub const COUNT: &str = "count";
    pub const ERROR: &str = "error";
    pub const OK: &str = "ok";
    pub const SUCCESS: &str = "success";
    pub const EVIDENCE: &str = "evidence";
    pub const RULE: &str = "rule";
    pub const SOURCE: &str = "source";
}

/// `echo`'s line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EchoResult {
    pub action: tags::Echo,
    pub attempts: u32,
    pub elapsed_ms: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<Tls>,
}

/// One instance sent by `store`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredInstance {
    pub bytes: u64,
    /// The first frame's fingerprint (`agent::pixels`), when the agent made the pixels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pixel_sha256: Option<String>,
    pub sop_class_uid: String,
    pub sop_instance_uid: String,
    pub status: u16,
    pub status_name: String,
}

/// `store`'s line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoreResult {
    pub action: tags::Store,
    pub associations: u64,
    pub bytes: u64,
    pub elapsed_ms: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Absent with `--summary`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instances: Option<Vec<StoredInstance>>,
    pub instances_per_s: f64,
    pub mb_per_s: f64,
    pub ok: bool,
    pub peak_rss_kib: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub saved: Option<Vec<String>>,
    pub stored: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<Tls>,
    pub total: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warnings: Option<Vec<String>>,
}

/// What the checks read of a `store` line: the instances sent and their fingerprints.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct StoreOutcome {
    #[serde(default)]
    pub instances: Vec<StoredInstanceView>,
}

/// One sent instance as the checks read it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct StoredInstanceView {
    pub sop_instance_uid: String,
    #[serde(default)]
    pub pixel_sha256: Option<String>,
}

/// `generate`'s line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GenerateResult {
    pub action: tags::Generate,
    pub bytes: u64,
    pub elapsed_ms: u64,
    pub files: u64,
    pub ok: bool,
    pub out: String,
}

/// `find`'s line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FindResult {
    pub action: tags::Find,
    pub cancelled: bool,
    pub count: u64,
    pub elapsed_ms: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub level: String,
    /// Each match as { keyword: value }.
    pub matches: Vec<Map<String, Value>>,
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<Tls>,
}

/// `move`'s and `get`'s line (`action` says which).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RetrieveResult {
    pub action: String,
    pub completed: u64,
    /// `move` only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destination: Option<String>,
    pub elapsed_ms: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub failed: u64,
    /// `get` only: what was received, one object per instance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instances: Option<Vec<ReceivedInstance>>,
    pub level: String,
    pub ok: bool,
    /// `get` only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub out: Option<String>,
    pub pending_responses: u64,
    /// `get` only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub received: Option<u64>,
    pub remaining: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<Tls>,
    pub warning: u64,
}

/// An instance received by `get` or `serve`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReceivedInstance {
    pub bytes: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Where it was written (`get`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    pub sop_class_uid: String,
    pub sop_instance_uid: String,
    pub status: u16,
    pub transfer_syntax_uid: String,
}

/// A command's failure before it could do anything (bad options, unreachable files):
/// the action, `"ok": false` and the error; attacker tools add `"success": false`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Failure {
    pub action: String,
    pub error: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level: Option<String>,
    pub ok: bool,
}

/// One association request of `aet-scan`, as its line shows it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ProbeLine {
    pub aet: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub released: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

/// `aet-scan`'s line.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AetScanResult {
    pub accepted: Vec<String>,
    pub action: String,
    /// Whether the random AE title was accepted (`null`: not tried or no answer).
    pub any_aet_accepted: Option<bool>,
    pub attempts: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub elapsed_ms: Option<u64>,
    pub failed: Vec<ProbeLine>,
    pub implementation_class_uid: Option<String>,
    pub implementation_version_name: Option<String>,
    pub random_aet: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub random_probe: Option<ProbeLine>,
    pub rejected: Vec<ProbeLine>,
    pub success: bool,
    pub truncated: bool,
}

/// `flood`'s line.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FloodResult {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accepted: Option<u64>,
    pub action: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub associations_per_s: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempted: Option<u64>,
    pub concurrency: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub elapsed_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rejected: Option<u64>,
    pub requested: u64,
    pub success: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timed_out: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unreachable: Option<u64>,
}

/// A typed line as the JSON value the attack tools hand to their caller.
pub fn to_value<T: Serialize>(line: &T) -> Value {
    serde_json::to_value(line).expect("a result line serializes to JSON")
}

/// `rest-write`'s line when it could not start.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RestWriteAttempt {
    pub action: String,
    pub path: String,
}

/// `upload-polyglot`'s line when it could not start.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PolyglotAttempt {
    pub action: String,
    pub preamble: String,
}

/// `arp-spoof`'s line.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ArpSpoofResult {
    pub action: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub both_ways: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub elapsed_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frames: Option<u32>,
    pub iface: String,
    pub impersonate: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub impersonate_mac: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub impersonate_mac_from: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub our_mac: Option<String>,
    /// Rounds sent (one reply to each poisoned host per round).
    pub sent: u32,
    pub success: bool,
    pub target: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_mac: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_mac_from: Option<String>,
}

/// A fake lesion the proxy painted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LesionLine {
    /// (column, row) in pixels.
    pub centre: [u64; 2],
    pub encoding: String,
    pub radius: u64,
}

/// The proxy's summary, at SIGTERM or its time limit.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ProxyResult {
    pub action: String,
    pub associations: u64,
    pub errors: Vec<String>,
    pub lesions: Vec<LesionLine>,
    pub new_patient_name: String,
    pub original_names: Vec<String>,
    pub pixels_tampered: u64,
    pub rewritten: u64,
    pub success: bool,
    pub tls_seen: bool,
}

/// A known vulnerability of a fingerprinted version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KnownVulnerability {
    pub component: String,
    pub fixed_in: String,
    pub id: String,
    pub version: String,
    pub why: String,
}

/// `fingerprint`'s line.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FingerprintResult {
    pub action: String,
    /// accepted, rejected: <reason>, or failed: <why>.
    pub association: Option<String>,
    pub dcmtk_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dicom_error: Option<String>,
    pub implementation_class_uid: Option<String>,
    pub implementation_version_name: Option<String>,
    pub known_vulnerabilities: Vec<KnownVulnerability>,
    pub orthanc_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rest_error: Option<String>,
    pub rest_status: Option<u16>,
    pub success: bool,
}

/// `rest-probe`'s line. Values copied from Orthanc's `/system` keep Orthanc's types.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RestProbeResult {
    pub action: String,
    pub authenticated: bool,
    pub dicom_aet: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub download_is_dicom: Option<bool>,
    pub downloaded_bytes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub elapsed_ms: Option<u64>,
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_patient_name: Option<String>,
    pub instances: Option<u64>,
    pub name: Value,
    pub orthanc_version: Value,
    pub patient_names: Vec<String>,
    pub patients: Option<u64>,
    /// HTTP status by path requested.
    pub status: Map<String, Value>,
    pub success: bool,
    pub url: String,
}

/// `upload-polyglot`'s line.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct UploadPolyglotResult {
    pub action: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub http_status: Option<u16>,
    pub orthanc_id: Option<String>,
    /// Orthanc's `Status` answer, as it wrote it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub orthanc_status: Option<Value>,
    pub preamble: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preamble_magic: Option<String>,
    pub success: bool,
}

/// `rest-write`'s line.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RestWriteResult {
    pub action: String,
    pub error: Option<String>,
    pub http_status: Option<u16>,
    pub instance: Option<String>,
    pub path: String,
    pub success: bool,
    pub uploaded: bool,
}

/// The result of an nmap DICOM script step (`dicom-ping`, `dicom-brute`), made by the
/// engine from nmap's XML in the shape of an attacker tool's line.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NmapResult {
    pub action: String,
    /// nmap said "DICOM Service Provider discovered".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discovered: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// nmap's XML, relative to the run directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evidence: Option<String>,
    pub ok: bool,
    /// The script's output, line by line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<Vec<String>>,
    pub port: String,
    pub success: bool,
    pub target: String,
    pub tool: String,
    /// `dicom-brute`: the called AE titles nmap found valid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_aets: Option<Vec<String>>,
}

/// The result of a `harvest` step: what an attacker's own capture holds, made by the
/// engine with `wire`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HarvestResult {
    pub action: String,
    pub capture: String,
    pub dicom_events: usize,
    pub ok: bool,
    pub packets: u64,
    /// The PHI seen, `Keyword = value`, at most 20.
    pub phi: Vec<String>,
    pub success: bool,
}
