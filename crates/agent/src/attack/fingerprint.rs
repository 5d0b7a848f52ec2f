//! `fingerprint`: what version the PACS runs, from the association (the A-ASSOCIATE-AC's
//! implementation class UID and version name: for Orthanc these are DCMTK's, e.g.
//! `OFFIS_DCMTK_367`) and from REST `/system` (Orthanc's own `Version`) when reachable,
//! compared with a small built-in table of known vulnerabilities.
//!
//! The table is deliberately short and only holds entries checked for this range; an empty
//! match means "nothing known *here*", not "safe".

use super::raw;
use super::rest::Rest;
use crate::error::AgentError;
use protocol::result::{FingerprintResult, KnownVulnerability, to_value};
use serde_json::Value;
use std::time::Duration;

/// One known vulnerability of a component, for versions below `fixed_in`.
#[derive(Debug, Clone, Copy)]
pub struct Known {
    pub id: &'static str,
    /// `Orthanc` or `DCMTK`.
    pub component: &'static str,
    /// First version without it.
    pub fixed_in: &'static str,
    /// Lowest affected version, when the entry does not apply to everything below `fixed_in`.
    pub since: Option<&'static str>,
    pub why: &'static str,
}

/// The built-in table.
pub const KNOWN: &[Known] = &[
    Known {
        id: "CVE-2023-33466",
        component: "Orthanc",
        fixed_in: "1.12.0",
        since: None,
        why: "POST /instances/{id}/export writes the DICOM file to any path the REST caller \
              names (overwriting Orthanc's configuration leads to code execution). 1.12.0 \
              disables the route behind RestApiWriteToFileSystemEnabled (false by default); \
              Debian backported that option to its 1.10.1, where setting it true restores \
              the vulnerable behaviour",
    },
    Known {
        id: "CVE-2024-34509",
        component: "DCMTK",
        fixed_in: "3.6.9",
        since: None,
        why: "dcmdata crashes (segmentation fault) on an invalid DIMSE message: a remote \
              denial of service of the DICOM listener",
    },
    Known {
        id: "CVE-2022-43272",
        component: "DCMTK",
        fixed_in: "3.6.8",
        since: Some("3.6.7"),
        why: "memory leak through the T_ASC_Association object: repeated associations \
              exhaust the memory of the DICOM listener",
    },
];

/// Parse `1.10.1` (or `3.6.7`) into numbers; `None` for `mainline` and the like.
pub fn parse_version(s: &str) -> Option<Vec<u32>> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    s.split('.')
        .map(|p| {
            let digits: String = p.chars().take_while(|c| c.is_ascii_digit()).collect();
            digits.parse().ok()
        })
        .collect()
}

fn less(a: &[u32], b: &[u32]) -> bool {
    let n = a.len().max(b.len());
    for i in 0..n {
        let (x, y) = (*a.get(i).unwrap_or(&0), *b.get(i).unwrap_or(&0));
        if x != y {
            return x < y;
        }
    }
    false
}

/// The DCMTK version behind an implementation version name: `OFFIS_DCMTK_367` -> `3.6.7`.
pub fn dcmtk_version(version_name: &str) -> Option<String> {
    let d = version_name.trim().strip_prefix("OFFIS_DCMTK_")?;
    let digits: String = d.chars().take_while(|c| c.is_ascii_digit()).collect();
    if digits.len() < 3 {
        return None;
    }
    let (major, rest) = digits.split_at(1);
    let (minor, patch) = rest.split_at(1);
    Some(format!("{major}.{minor}.{patch}"))
}

/// The known vulnerabilities of `component` at `version`.
pub fn vulnerabilities(component: &str, version: &str) -> Vec<&'static Known> {
    let Some(v) = parse_version(version) else {
        return vec![];
    };
    KNOWN
        .iter()
        .filter(|k| k.component == component)
        .filter(|k| parse_version(k.fixed_in).is_some_and(|f| less(&v, &f)))
        .filter(|k| {
            k.since
                .and_then(parse_version)
                .is_none_or(|s| !less(&v, &s))
        })
        .collect()
}

fn known_line(k: &Known, version: &str) -> KnownVulnerability {
    KnownVulnerability {
        component: k.component.into(),
        fixed_in: k.fixed_in.into(),
        id: k.id.into(),
        version: version.into(),
        why: k.why.into(),
    }
}

/// Options of `fingerprint`.
#[derive(Debug, Clone)]
pub struct FingerprintOptions {
    pub host: String,
    pub port: u16,
    pub calling: String,
    pub called: String,
    pub url: Option<String>,
    pub user: Option<String>,
    pub password: Option<String>,
    pub timeout: Duration,
}

pub fn fingerprint(o: &FingerprintOptions) -> Result<Value, (Value, AgentError)> {
    let (v, error) = fingerprint_line(o);
    match error {
        None => Ok(to_value(&v)),
        Some(e) => Err((to_value(&v), e)),
    }
}

/// The line, and the error when neither DICOM nor REST answered.
fn fingerprint_line(o: &FingerprintOptions) -> (FingerprintResult, Option<AgentError>) {
    let mut v = FingerprintResult {
        action: "fingerprint".into(),
        ..Default::default()
    };
    let mut found = Vec::new();
    let mut dicom_error = None;
    match raw::resolve(&o.host, o.port)
        .and_then(|a| raw::probe(&a, &o.calling, &o.called, o.timeout, Duration::ZERO))
    {
        Ok(p) => {
            v.association = Some(match &p.outcome {
                raw::Outcome::Accepted { .. } => "accepted".to_string(),
                raw::Outcome::Rejected { reason, .. } => format!("rejected: {reason}"),
                raw::Outcome::Failed(e) => format!("failed: {e}"),
            });
            // Only an A-ASSOCIATE-AC carries the implementation items; a rejected
            // association tells nothing about the version.
            v.implementation_class_uid = p.implementation_class_uid.clone();
            v.implementation_version_name = p.implementation_version_name.clone();
            if let Some(d) = p
                .implementation_version_name
                .as_deref()
                .and_then(dcmtk_version)
            {
                v.dcmtk_version = Some(d.clone());
                found.extend(
                    vulnerabilities("DCMTK", &d)
                        .into_iter()
                        .map(|k| known_line(k, &d)),
                );
            }
        }
        Err(e) => dicom_error = Some(e),
    }
    let mut rest_error = None;
    if let Some(url) = &o.url {
        match Rest::new(url, o.user.as_deref(), o.password.as_deref(), o.timeout)
            .and_then(|r| r.get("/system"))
        {
            Ok(a) => {
                v.rest_status = Some(a.status);
                if a.status == 200
                    && let Some(ver) = a
                        .json()
                        .and_then(|j| j["Version"].as_str().map(String::from))
                {
                    v.orthanc_version = Some(ver.clone());
                    found.extend(
                        vulnerabilities("Orthanc", &ver)
                            .into_iter()
                            .map(|k| known_line(k, &ver)),
                    );
                }
            }
            Err(e) => rest_error = Some(e),
        }
    }
    v.success = !found.is_empty();
    v.known_vulnerabilities = found;
    if let Some(e) = &rest_error {
        v.rest_error = Some(e.message.clone());
    }
    match dicom_error {
        // Neither DICOM nor REST answered: unreachable.
        Some(e) if o.url.is_none() || rest_error.is_some() => (v, Some(e)),
        Some(e) => {
            v.dicom_error = Some(e.message);
            (v, None)
        }
        None => (v, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_compare() {
        assert_eq!(dcmtk_version("OFFIS_DCMTK_367").as_deref(), Some("3.6.7"));
        assert_eq!(dcmtk_version("OFFIS_DCMTK_369").as_deref(), Some("3.6.9"));
        assert_eq!(dcmtk_version("DICOM-rs 0.10.1"), None);
        let ids = |c, v| {
            vulnerabilities(c, v)
                .iter()
                .map(|k| k.id)
                .collect::<Vec<_>>()
        };
        assert_eq!(ids("Orthanc", "1.10.1"), vec!["CVE-2023-33466"]);
        assert!(ids("Orthanc", "1.12.0").is_empty());
        assert!(ids("Orthanc", "1.12.7").is_empty());
        assert!(ids("Orthanc", "mainline").is_empty());
        assert_eq!(
            ids("DCMTK", "3.6.7"),
            vec!["CVE-2024-34509", "CVE-2022-43272"]
        );
        assert_eq!(ids("DCMTK", "3.6.8"), vec!["CVE-2024-34509"]);
        assert!(ids("DCMTK", "3.6.9").is_empty());
        assert_eq!(ids("DCMTK", "3.6.6"), vec!["CVE-2024-34509"]);
    }
}
