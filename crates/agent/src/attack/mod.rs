//! The attacker side of the range, real and bounded: every loop has a count and a time limit,
//! every wait a timeout. Each tool prints one JSON line (`"action"`, `"success"` for whether
//! the *attack* worked) and exits 0 when it ran, 4 when the target was unreachable, 1 on
//! any other error: see [`cli`].
//!
//! - [`raw`]: raw PDU I/O and the bare association probe;
//! - [`scan`]: `aet-scan` (nmap's dicom-ping / dicom-brute) and `flood`;
//! - [`rest`]: Orthanc's REST API: `rest-probe`, `rest-write` (CVE-2023-33466),
//!   `upload-polyglot` (CVE-2019-11687);
//! - [`fingerprint`]: association + REST version fingerprint against known vulnerabilities;
//! - [`proxy`]: an on-path DICOM proxy that rewrites PatientName in P-DATA and, when asked,
//!   paints a fake lesion into the image;
//! - [`arp`]: unsolicited ARP replies (ARP spoofing), bounded.

pub mod arp;
pub mod cli;
pub mod fingerprint;
pub mod proxy;
pub mod raw;
pub mod rest;
pub mod scan;
