//! Raw DICOM upper-layer I/O on blocking sockets: read and write whole PDUs as bytes, and a
//! bare association probe (A-ASSOCIATE-RQ for Verification, then A-RELEASE), which is what
//! nmap's `dicom-ping` and `dicom-brute` send. Working on raw PDUs (rather than through an
//! association object) keeps what the attacker needs: the A-ASSOCIATE-AC's implementation
//! class UID and version name (the DICOM version fingerprint) and the exact A-ASSOCIATE-RJ
//! reason.
//!
//! Every read and write is under a socket timeout; every PDU read is bounded in size.

use crate::error::AgentError;
use dicom_dictionary_std::uids;
use dicom_ul::Pdu;
use dicom_ul::pdu::{
    AssociationRJResult, AssociationRJSource, PresentationContextProposed, UserVariableItem,
};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

/// The DICOM application context name (PS3.7 A.2.1).
pub const APPLICATION_CONTEXT: &str = "1.2.840.10008.3.1.1.1";
/// Largest PDU read by the attacker tools (the proxy reads bigger ones through its own path).
pub const MAX_READ_PDU: u32 = 16 * 1024 * 1024;
/// Implementation version name we announce.
pub const OUR_VERSION_NAME: &str = "DICOM-RANGE";

/// Resolve `host:port` once (numeric addresses or names).
pub fn resolve(host: &str, port: u16) -> Result<Vec<SocketAddr>, AgentError> {
    let addrs: Vec<SocketAddr> = (host, port)
        .to_socket_addrs()
        .map_err(|e| {
            AgentError::unreachable(format!(
                "cannot resolve host name '{host}' ({e}): check the node name and that both \
                 containers share a network"
            ))
        })?
        .collect();
    if addrs.is_empty() {
        return Err(AgentError::unreachable(format!(
            "host name '{host}' has no address"
        )));
    }
    Ok(addrs)
}

/// Connect to the first address that answers, with a timeout, and set socket timeouts.
pub fn connect(addrs: &[SocketAddr], timeout: Duration) -> Result<TcpStream, AgentError> {
    let mut last = None;
    for a in addrs {
        match TcpStream::connect_timeout(a, timeout) {
            Ok(s) => {
                let _ = s.set_nodelay(true);
                s.set_read_timeout(Some(timeout))
                    .and_then(|_| s.set_write_timeout(Some(timeout)))
                    .map_err(|e| AgentError::other(format!("cannot set socket timeouts: {e}")))?;
                return Ok(s);
            }
            Err(e) => last = Some((a, e)),
        }
    }
    let (a, e) = last.expect("at least one address");
    use std::io::ErrorKind::*;
    let why = match e.kind() {
        ConnectionRefused => format!("connection refused by {a}: nothing listens on that port"),
        TimedOut | WouldBlock => format!("no answer from {a} (connection timed out)"),
        _ => format!("cannot connect to {a}: {e}"),
    };
    Err(AgentError::unreachable(why))
}

/// Read one whole PDU (6-byte header + body) as raw bytes. `Ok(None)` on a clean EOF before
/// any byte of the PDU.
pub fn read_raw_pdu<R: Read>(s: &mut R, max: u32) -> std::io::Result<Option<Vec<u8>>> {
    let mut hdr = [0u8; 6];
    let mut got = 0;
    while got < 6 {
        let n = s.read(&mut hdr[got..])?;
        if n == 0 {
            if got == 0 {
                return Ok(None);
            }
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "connection closed inside a PDU header",
            ));
        }
        got += n;
    }
    let len = u32::from_be_bytes([hdr[2], hdr[3], hdr[4], hdr[5]]);
    if len > max {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("PDU of {len} bytes is larger than the {max} bytes allowed"),
        ));
    }
    // grown with the bytes that arrive, not sized from the header a peer wrote
    let mut buf = Vec::with_capacity(6 + (len as usize).min(64 * 1024));
    buf.extend_from_slice(&hdr);
    let got = s.take(u64::from(len)).read_to_end(&mut buf)?;
    if got < len as usize {
        return Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            format!("connection closed {got} bytes into a PDU of {len}"),
        ));
    }
    Ok(Some(buf))
}

/// Decode raw PDU bytes (as read by [`read_raw_pdu`]).
pub fn decode(bytes: &[u8]) -> Result<Pdu, String> {
    match dicom_ul::read_pdu(bytes, dicom_ul::pdu::MAXIMUM_PDU_SIZE, false) {
        Ok(Some(p)) => Ok(p),
        Ok(None) => Err("truncated PDU".into()),
        Err(e) => Err(crate::error::chain(&e)),
    }
}

/// Encode a PDU.
pub fn encode(pdu: &Pdu) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    dicom_ul::write_pdu(&mut out, pdu).map_err(|e| crate::error::chain(&e))?;
    Ok(out)
}

/// The A-ASSOCIATE-RQ nmap's scripts send: Verification, Implicit VR Little Endian.
pub fn verification_rq(calling: &str, called: &str) -> Pdu {
    Pdu::AssociationRQ(dicom_ul::pdu::AssociationRQ {
        protocol_version: 1,
        calling_ae_title: calling.to_string(),
        called_ae_title: called.to_string(),
        application_context_name: APPLICATION_CONTEXT.to_string(),
        presentation_contexts: vec![PresentationContextProposed {
            id: 1,
            abstract_syntax: uids::VERIFICATION.to_string(),
            transfer_syntaxes: vec![uids::IMPLICIT_VR_LITTLE_ENDIAN.to_string()],
        }],
        user_variables: vec![
            UserVariableItem::MaxLength(16384),
            UserVariableItem::ImplementationClassUID(dicom_ul::IMPLEMENTATION_CLASS_UID.into()),
            UserVariableItem::ImplementationVersionName(OUR_VERSION_NAME.into()),
        ],
    })
}

/// The implementation class UID and version name in a list of user variables.
pub fn implementation(vars: &[UserVariableItem]) -> (Option<String>, Option<String>) {
    let mut class = None;
    let mut version = None;
    for v in vars {
        match v {
            UserVariableItem::ImplementationClassUID(u) => {
                class = Some(u.trim_end_matches(['\0', ' ']).to_string())
            }
            UserVariableItem::ImplementationVersionName(n) => {
                version = Some(n.trim_end_matches(['\0', ' ']).to_string())
            }
            _ => {}
        }
    }
    (class, version)
}

/// The max PDU length in a list of user variables (0 = unlimited).
pub fn max_length(vars: &[UserVariableItem]) -> Option<u32> {
    vars.iter().find_map(|v| match v {
        UserVariableItem::MaxLength(n) => Some(*n),
        _ => None,
    })
}

/// What the peer answered to an A-ASSOCIATE-RQ.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A-ASSOCIATE-AC. `released`: the A-RELEASE-RP came back.
    Accepted { released: bool },
    /// A-ASSOCIATE-RJ.
    Rejected {
        /// `permanent` or `transient`.
        result: String,
        /// `service-user`, `service-provider (ACSE)`, `service-provider (presentation)`.
        source: String,
        /// In the standard's words, e.g. `called AE title not recognized`.
        reason: String,
    },
    /// A-ABORT, or the connection closed / a read failed before any answer.
    Failed(String),
}

/// The result of one association probe.
#[derive(Debug, Clone)]
pub struct Probe {
    pub called: String,
    pub outcome: Outcome,
    pub implementation_class_uid: Option<String>,
    pub implementation_version_name: Option<String>,
    /// The AC's max PDU length.
    pub max_pdu: Option<u32>,
    pub elapsed: Duration,
}

impl Probe {
    pub fn accepted(&self) -> bool {
        matches!(self.outcome, Outcome::Accepted { .. })
    }
}

/// Whether an A-ASSOCIATE-RJ reason is about AE titles (what an AET brute force draws).
pub fn is_aet_reason(reason: &str) -> bool {
    reason.contains("AE title not recognized")
}

pub fn describe_rj(rj: &dicom_ul::pdu::AssociationRJ) -> (String, String, String) {
    let result = match rj.result {
        AssociationRJResult::Permanent => "permanent",
        AssociationRJResult::Transient => "transient",
    };
    let source = match rj.source {
        AssociationRJSource::ServiceUser(_) => "service-user",
        AssociationRJSource::ServiceProviderASCE(_) => "service-provider (ACSE)",
        AssociationRJSource::ServiceProviderPresentation(_) => "service-provider (presentation)",
    };
    (result.into(), source.into(), rj.source.to_string())
}

/// Open one association for Verification with `calling` -> `called`, keep it `hold`, then
/// release it (A-RELEASE-RQ, wait for A-RELEASE-RP). `Err` only when the TCP connection
/// cannot be made (unreachable); anything the peer answers is an [`Outcome`].
pub fn probe(
    addrs: &[SocketAddr],
    calling: &str,
    called: &str,
    timeout: Duration,
    hold: Duration,
) -> Result<Probe, AgentError> {
    let start = Instant::now();
    let mut s = connect(addrs, timeout)?;
    let mut p = Probe {
        called: called.to_string(),
        outcome: Outcome::Failed(String::new()),
        implementation_class_uid: None,
        implementation_version_name: None,
        max_pdu: None,
        elapsed: Duration::ZERO,
    };
    p.outcome = match exchange(&mut s, calling, called, hold, &mut p) {
        Ok(o) => o,
        Err(e) => Outcome::Failed(e),
    };
    p.elapsed = start.elapsed();
    Ok(p)
}

fn exchange(
    s: &mut TcpStream,
    calling: &str,
    called: &str,
    hold: Duration,
    p: &mut Probe,
) -> Result<Outcome, String> {
    let rq = encode(&verification_rq(calling, called))?;
    s.write_all(&rq)
        .map_err(|e| format!("sending the A-ASSOCIATE-RQ failed: {e}"))?;
    let raw = read_raw_pdu(s, MAX_READ_PDU)
        .map_err(|e| format!("no A-ASSOCIATE answer: {e}"))?
        .ok_or_else(|| "the peer closed the connection without answering".to_string())?;
    match decode(&raw)? {
        Pdu::AssociationAC(ac) => {
            let (c, v) = implementation(&ac.user_variables);
            p.implementation_class_uid = c;
            p.implementation_version_name = v;
            p.max_pdu = max_length(&ac.user_variables);
            if !hold.is_zero() {
                std::thread::sleep(hold);
            }
            let released = release(s);
            Ok(Outcome::Accepted { released })
        }
        Pdu::AssociationRJ(rj) => {
            let (result, source, reason) = describe_rj(&rj);
            Ok(Outcome::Rejected {
                result,
                source,
                reason,
            })
        }
        Pdu::AbortRQ { source } => Ok(Outcome::Failed(format!(
            "the peer aborted the association (A-ABORT, {source:?})"
        ))),
        other => Ok(Outcome::Failed(format!(
            "unexpected answer {}",
            other.short_description()
        ))),
    }
}

/// A-RELEASE-RQ then wait (bounded by the socket timeout) for A-RELEASE-RP.
pub fn release(s: &mut TcpStream) -> bool {
    let Ok(rq) = encode(&Pdu::ReleaseRQ) else {
        return false;
    };
    if s.write_all(&rq).is_err() {
        return false;
    }
    // The peer may send nothing else; at most a few PDUs are skipped.
    for _ in 0..4 {
        match read_raw_pdu(s, MAX_READ_PDU) {
            Ok(Some(b)) if b.first() == Some(&0x06) => return true,
            Ok(Some(_)) => continue,
            _ => return false,
        }
    }
    false
}

/// A random AE title of 16 characters (A-Z, 0-9), as nmap's "any AET" test does.
pub fn random_aet() -> String {
    use std::hash::{BuildHasher, Hasher};
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let mut out = String::with_capacity(16);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    let mut x = h.finish();
    for i in 0..16 {
        if i == 8 {
            h.write_u64(x);
            x = h.finish();
        }
        out.push(ALPHABET[(x % ALPHABET.len() as u64) as usize] as char);
        x /= ALPHABET.len() as u64;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rq_round_trips() {
        let bytes = encode(&verification_rq("ECHOSCU", "ANY-SCP")).unwrap();
        match decode(&bytes).unwrap() {
            Pdu::AssociationRQ(rq) => {
                assert_eq!(rq.calling_ae_title.trim(), "ECHOSCU");
                assert_eq!(rq.called_ae_title.trim(), "ANY-SCP");
                let (c, v) = implementation(&rq.user_variables);
                assert_eq!(c.as_deref(), Some(dicom_ul::IMPLEMENTATION_CLASS_UID));
                assert_eq!(v.as_deref(), Some(OUR_VERSION_NAME));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn random_aets_are_valid_and_differ() {
        let a = random_aet();
        let b = random_aet();
        assert_eq!(a.len(), 16);
        assert!(
            a.bytes()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
        );
        assert_ne!(a, b);
    }

    #[test]
    fn raw_reader_bounds_size() {
        let mut big: &[u8] = &[0x04, 0, 0xff, 0xff, 0xff, 0xff];
        assert!(read_raw_pdu(&mut big, 1024).is_err());
        let mut empty: &[u8] = &[];
        assert!(read_raw_pdu(&mut empty, 1024).unwrap().is_none());
    }
}
