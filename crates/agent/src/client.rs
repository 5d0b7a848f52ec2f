//! The DICOM client (SCU): C-ECHO and C-STORE over real associations, with dicom-ul.
//!
//! One call = one association: A-ASSOCIATE-RQ, the DIMSE exchange(s), A-RELEASE.
//! Command sets are encoded in Implicit VR Little Endian (as PS3.7 requires), data sets in
//! the transfer syntax the peer accepted. `TCP_NODELAY` is set once the association is up,
//! so that a command and its data set are not held back by Nagle's algorithm.
//!
//! Transport: only plain TCP today. TLS goes in [`Transport`] and [`connect`]: the DIMSE code
//! below is generic over the stream and does not change.

use crate::error::{AgentError, FailureKind, chain};
use crate::synth::Instance;
use dicom_core::{DataElement, PrimitiveValue, VR, dicom_value};
use dicom_dictionary_std::{tags, uids};
use dicom_encoding::TransferSyntaxIndex;
use dicom_object::InMemDicomObject;
use dicom_transfer_syntax_registry::TransferSyntaxRegistry;
use dicom_transfer_syntax_registry::entries::IMPLICIT_VR_LITTLE_ENDIAN;
use dicom_ul::association::Error as UlError;
use dicom_ul::association::client::AsyncClientAssociation;
use dicom_ul::pdu::{
    AssociationRJ, AssociationRJResult, AssociationRJSource, PDataValue, PDataValueType,
    PresentationContextResultReason,
};
use dicom_ul::{ClientAssociationOptions, Pdu};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

/// How to reach the peer.
#[derive(Debug, Clone, Default)]
pub enum Transport {
    /// Plain TCP: everything, PHI included, is readable on the wire.
    #[default]
    Plain,
    // Tls(TlsOptions) — DICOM TLS (PS3.15 Annex B) comes here: build a rustls ClientConfig,
    // call `establish_tls_async`, set TCP_NODELAY on `inner_stream().get_ref().0`.
}

/// The remote application entity and how to talk to it.
#[derive(Debug, Clone)]
pub struct Peer {
    pub host: String,
    pub port: u16,
    /// Our AE title (calling).
    pub calling: String,
    /// The peer's AE title (called).
    pub called: String,
    /// Applies to the TCP connection and to every read and write.
    pub timeout: Duration,
    pub transport: Transport,
}

impl Peer {
    fn addr(&self) -> String {
        if self.host.contains(':') && !self.host.starts_with('[') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// The result of [`echo`]: how many associations were tried, and the C-ECHO status or error.
#[derive(Debug)]
pub struct EchoReport {
    pub attempts: u32,
    pub result: Result<u16, AgentError>,
}

/// The outcome of one C-STORE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreResult {
    pub sop_instance_uid: String,
    pub sop_class_uid: String,
    pub status: u16,
    /// Size of the data set as sent (encoded in the negotiated transfer syntax).
    pub bytes: usize,
}

/// The result of [`store`]: what was stored before any error.
#[derive(Debug)]
pub struct StoreReport {
    pub results: Vec<StoreResult>,
    pub error: Option<AgentError>,
}

/// The name of a DIMSE status code (PS3.7 Annex C, and C-STORE's PS3.4 B.2.3).
pub fn status_name(status: u16) -> &'static str {
    match status {
        0x0000 => "Success",
        0xFF00 | 0xFF01 => "Pending",
        0xFE00 => "Cancel",
        0x0001 | 0x0107 | 0x0116 => "Warning",
        0xB000 => "Warning: coercion of data elements",
        0xB006 => "Warning: elements discarded",
        0xB007 => "Warning: data set does not match SOP class",
        0x0105 => "Failure: no such attribute",
        0x0106 => "Failure: invalid attribute value",
        0x0110 => "Failure: processing failure",
        0x0111 => "Failure: duplicate SOP instance",
        0x0112 => "Failure: no such SOP instance",
        0x0117 => "Failure: invalid object instance",
        0x0118 => "Failure: no such SOP class",
        0x0119 => "Failure: class-instance conflict",
        0x0122 => "Refused: SOP class not supported",
        0x0124 => "Refused: not authorized",
        0x0210 => "Failure: duplicate invocation",
        0x0211 => "Failure: unrecognized operation",
        0x0212 => "Failure: mistyped argument",
        0x0213 => "Failure: resource limitation",
        s if s & 0xFF00 == 0xA700 => "Refused: out of resources",
        s if s & 0xFF00 == 0xA900 => "Error: data set does not match SOP class",
        s if s & 0xF000 == 0xC000 => "Error: cannot understand",
        _ => "Failure: unknown status",
    }
}

/// Success and warnings mean the peer took the request; everything else is a failure.
pub fn status_is_ok(status: u16) -> bool {
    status == 0x0000 || status_name(status).starts_with("Warning")
}

fn describe_rejection(rj: &AssociationRJ) -> String {
    let result = match rj.result {
        AssociationRJResult::Permanent => "rejected-permanent",
        AssociationRJResult::Transient => "rejected-transient",
    };
    let source = match rj.source {
        AssociationRJSource::ServiceUser(_) => "service-user",
        AssociationRJSource::ServiceProviderASCE(_) => "service-provider (ACSE)",
        AssociationRJSource::ServiceProviderPresentation(_) => "service-provider (presentation)",
    };
    format!("{result} by {source}: {}", rj.source)
}

/// Turn a dicom-ul error into words and an exit class.
fn classify(e: UlError, peer: &Peer) -> AgentError {
    let at = peer.addr();
    match &e {
        UlError::Rejected { association_rj, .. } => AgentError::refused(format!(
            "association rejected by {at} (called AE '{}', calling AE '{}'): {}",
            peer.called,
            peer.calling,
            describe_rejection(association_rj)
        )),
        UlError::NoAcceptedPresentationContexts { .. } => AgentError::refused(format!(
            "{at} accepted the association but none of the proposed presentation contexts \
             (SOP class / transfer syntax pairs): the PACS does not take this kind of object \
             in this encoding"
        )),
        UlError::Aborted { .. } => {
            AgentError::refused(format!("{at} aborted the association (A-ABORT)"))
        }
        UlError::Connect { source, .. } | UlError::ToAddress { source, .. } => {
            use std::io::ErrorKind::*;
            let why = match source.kind() {
                ConnectionRefused => format!(
                    "connection refused by {at}: nothing listens on that port (is the PACS \
                     running, is the port right?)"
                ),
                TimedOut => format!("no answer from {at} (connection timed out)"),
                NetworkUnreachable | HostUnreachable => format!(
                    "{at} is unreachable ({source}): check that both containers share a network"
                ),
                _ if source.to_string().contains("lookup") => format!(
                    "cannot resolve host name '{}' ({source}): check the node name and that \
                     both containers share a network",
                    peer.host
                ),
                _ => format!("cannot connect to {at}: {source}"),
            };
            AgentError::unreachable(why)
        }
        UlError::Timeout { .. } => AgentError::unreachable(format!(
            "no answer from {at} within {} s (timeout)",
            peer.timeout.as_secs_f64()
        )),
        UlError::ConnectionClosed { .. } => AgentError::other(format!(
            "{at} closed the connection in the middle of the exchange (if the PACS expects \
             DICOM TLS on this port, a plain association is dropped like this)"
        )),
        UlError::TlsNotSupported => AgentError::other(format!(
            "{at} answered with TLS data: this port expects DICOM TLS"
        )),
        _ => {
            let msg = chain(&e);
            if is_timeout_text(&msg) {
                AgentError::unreachable(format!("no answer from {at}: {msg}"))
            } else {
                AgentError::other(format!("DICOM exchange with {at} failed: {msg}"))
            }
        }
    }
}

fn is_timeout_text(s: &str) -> bool {
    let s = s.to_ascii_lowercase();
    s.contains("timed out") || s.contains("timeout")
}

/// Access to the TCP socket under a transport stream, for socket options.
pub trait TcpSocket {
    fn tcp(&self) -> &tokio::net::TcpStream;
}

impl TcpSocket for tokio::net::TcpStream {
    fn tcp(&self) -> &tokio::net::TcpStream {
        self
    }
}
// For TLS: impl TcpSocket for AsyncTlsStream { self.get_ref().0 }

/// Ask Linux to acknowledge the next incoming segments at once instead of delaying the ACK.
///
/// A peer that writes a response in two small pieces without TCP_NODELAY (DCMTK, hence
/// stock Orthanc) holds back the second piece until our ACK of the first: with delayed ACKs
/// that costs about 40 ms per response. The kernel clears the flag by itself, so it is re-armed
/// before every read of a response.
fn quickack<S: TcpSocket>(s: &S) {
    #[cfg(target_os = "linux")]
    {
        let _ = socket2::SockRef::from(s.tcp()).set_tcp_quickack(true);
    }
    #[cfg(not(target_os = "linux"))]
    let _ = s;
}

/// An established association, whatever the transport.
enum Assoc {
    Plain(AsyncClientAssociation<tokio::net::TcpStream>),
}

/// Open an association proposing `contexts` (abstract syntax, transfer syntaxes).
async fn connect(peer: &Peer, contexts: &[(String, Vec<String>)]) -> Result<Assoc, AgentError> {
    let mut opts = ClientAssociationOptions::new()
        .calling_ae_title(peer.calling.clone())
        .called_ae_title(peer.called.clone())
        .connection_timeout(peer.timeout)
        .read_timeout(peer.timeout)
        .write_timeout(peer.timeout);
    for (abstract_syntax, ts) in contexts {
        opts = opts.with_presentation_context(abstract_syntax.clone(), ts.clone());
    }
    match &peer.transport {
        Transport::Plain => {
            let mut a = opts
                .establish_async(peer.addr())
                .await
                .map_err(|e| classify(e, peer))?;
            // Best effort: a failure here costs speed, not correctness.
            let _ = a.inner_stream().set_nodelay(true);
            Ok(Assoc::Plain(a))
        }
    }
}

/// Send a command set (Implicit VR LE) as one command PDV.
async fn send_command<S>(
    a: &mut AsyncClientAssociation<S>,
    pc_id: u8,
    cmd: &InMemDicomObject,
) -> Result<(), UlErrOrAgent>
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    let mut data = Vec::with_capacity(256);
    cmd.write_dataset_with_ts(&mut data, &IMPLICIT_VR_LITTLE_ENDIAN.erased())
        .map_err(|e| AgentError::other(format!("could not encode the command set: {e}")))?;
    a.send(&Pdu::PData {
        data: vec![PDataValue {
            presentation_context_id: pc_id,
            value_type: PDataValueType::Command,
            is_last: true,
            data,
        }],
    })
    .await?;
    Ok(())
}

/// Receive a full command set (possibly split over PDVs and PDUs) and return its status and
/// the message id it responds to.
async fn receive_response<S>(a: &mut AsyncClientAssociation<S>) -> Result<(u16, u16), UlErrOrAgent>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + TcpSocket,
{
    let mut buf = Vec::new();
    loop {
        quickack(a.inner_stream());
        match a.receive().await? {
            Pdu::PData { data } => {
                let mut done = false;
                for pdv in data {
                    if pdv.value_type == PDataValueType::Command {
                        buf.extend_from_slice(&pdv.data);
                        done |= pdv.is_last;
                    }
                }
                if done {
                    break;
                }
            }
            Pdu::AbortRQ { source } => {
                return Err(AgentError::refused(format!(
                    "the peer aborted the association (A-ABORT, source {source:?})"
                ))
                .into());
            }
            other => {
                return Err(AgentError::other(format!(
                    "unexpected {} from the peer while waiting for a response",
                    other.short_description()
                ))
                .into());
            }
        }
    }
    let rsp = InMemDicomObject::read_dataset_with_ts(&buf[..], &IMPLICIT_VR_LITTLE_ENDIAN.erased())
        .map_err(|e| AgentError::other(format!("the peer's response cannot be parsed: {e}")))?;
    let status = rsp
        .element(tags::STATUS)
        .ok()
        .and_then(|e| e.to_int::<u16>().ok())
        .ok_or_else(|| AgentError::other("the peer's response has no Status (0000,0900)"))?;
    let responding = rsp
        .element(tags::MESSAGE_ID_BEING_RESPONDED_TO)
        .ok()
        .and_then(|e| e.to_int::<u16>().ok())
        .unwrap_or(0);
    Ok((status, responding))
}

/// Either a dicom-ul error (classified later, needs the peer) or one already in words.
enum UlErrOrAgent {
    Ul(UlError),
    Agent(AgentError),
}
impl From<UlError> for UlErrOrAgent {
    fn from(e: UlError) -> Self {
        UlErrOrAgent::Ul(e)
    }
}
impl From<AgentError> for UlErrOrAgent {
    fn from(e: AgentError) -> Self {
        UlErrOrAgent::Agent(e)
    }
}
impl UlErrOrAgent {
    fn into_agent(self, peer: &Peer) -> AgentError {
        match self {
            UlErrOrAgent::Ul(e) => classify(e, peer),
            UlErrOrAgent::Agent(e) => e,
        }
    }
}

fn accepted_pc(
    pcs: &[dicom_ul::pdu::PresentationContextNegotiated],
    abstract_syntax: &str,
) -> Option<(u8, String)> {
    pcs.iter()
        .find(|pc| {
            pc.reason == PresentationContextResultReason::Acceptance
                && pc.abstract_syntax.trim_end_matches('\0') == abstract_syntax
        })
        .map(|pc| (pc.id, pc.transfer_syntax.trim_end_matches('\0').to_string()))
}

fn echo_command(message_id: u16) -> InMemDicomObject {
    InMemDicomObject::command_from_element_iter([
        DataElement::new(
            tags::AFFECTED_SOP_CLASS_UID,
            VR::UI,
            PrimitiveValue::from(uids::VERIFICATION),
        ),
        DataElement::new(tags::COMMAND_FIELD, VR::US, dicom_value!(U16, [0x0030])),
        DataElement::new(tags::MESSAGE_ID, VR::US, dicom_value!(U16, [message_id])),
        DataElement::new(
            tags::COMMAND_DATA_SET_TYPE,
            VR::US,
            dicom_value!(U16, [0x0101]),
        ),
    ])
}

fn store_command(message_id: u16, sop_class: &str, sop_instance: &str) -> InMemDicomObject {
    InMemDicomObject::command_from_element_iter([
        DataElement::new(
            tags::AFFECTED_SOP_CLASS_UID,
            VR::UI,
            PrimitiveValue::from(sop_class),
        ),
        DataElement::new(tags::COMMAND_FIELD, VR::US, dicom_value!(U16, [0x0001])),
        DataElement::new(tags::MESSAGE_ID, VR::US, dicom_value!(U16, [message_id])),
        DataElement::new(tags::PRIORITY, VR::US, dicom_value!(U16, [0x0000])),
        DataElement::new(
            tags::COMMAND_DATA_SET_TYPE,
            VR::US,
            dicom_value!(U16, [0x0000]),
        ),
        DataElement::new(
            tags::AFFECTED_SOP_INSTANCE_UID,
            VR::UI,
            PrimitiveValue::from(sop_instance),
        ),
    ])
}

async fn echo_on<S>(a: &mut AsyncClientAssociation<S>) -> Result<u16, UlErrOrAgent>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + TcpSocket,
{
    let (pc, _) = accepted_pc(a.presentation_contexts(), uids::VERIFICATION).ok_or_else(|| {
        AgentError::refused("the peer did not accept the Verification SOP class (C-ECHO)")
    })?;
    send_command(a, pc, &echo_command(1)).await?;
    let (status, _) = receive_response(a).await?;
    Ok(status)
}

async fn echo_once(peer: &Peer) -> Result<u16, AgentError> {
    let contexts = vec![(
        uids::VERIFICATION.to_string(),
        vec![
            uids::IMPLICIT_VR_LITTLE_ENDIAN.to_string(),
            uids::EXPLICIT_VR_LITTLE_ENDIAN.to_string(),
        ],
    )];
    match connect(peer, &contexts).await? {
        Assoc::Plain(mut a) => match echo_on(&mut a).await {
            Ok(status) => {
                a.release().await.map_err(|e| classify(e, peer))?;
                Ok(status)
            }
            Err(e) => {
                let _ = a.abort().await;
                Err(e.into_agent(peer))
            }
        },
    }
}

/// One C-ECHO on one association. With `wait` > 0, unreachable peers (refused, no route,
/// unknown name, timeout) are retried every 250 ms until `wait` has passed: a readiness probe.
/// The status is returned as is; the caller decides whether non-zero is a failure.
pub async fn echo(peer: &Peer, wait: Duration) -> EchoReport {
    let deadline = Instant::now() + wait;
    let mut attempts = 0;
    loop {
        attempts += 1;
        let r = echo_once(peer).await;
        match &r {
            Err(e)
                if e.kind == FailureKind::Unreachable
                    && Instant::now() + Duration::from_millis(250) < deadline =>
            {
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            _ => {
                return EchoReport {
                    attempts,
                    result: r,
                };
            }
        }
    }
}

/// The transfer syntaxes to propose for data sets generated in `ts`: the same one, and for
/// native encodings also Implicit VR LE (the one every SCP must accept).
fn proposed_syntaxes(ts: &str) -> Vec<String> {
    if ts == uids::EXPLICIT_VR_LITTLE_ENDIAN {
        vec![ts.to_string(), uids::IMPLICIT_VR_LITTLE_ENDIAN.to_string()]
    } else {
        vec![ts.to_string()]
    }
}

async fn store_on<S>(
    a: &mut AsyncClientAssociation<S>,
    instances: &[Instance],
    results: &mut Vec<StoreResult>,
) -> Result<(), UlErrOrAgent>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + TcpSocket,
{
    for (n, inst) in instances.iter().enumerate() {
        let message_id = (n % 0xFFFF) as u16 + 1;
        let pcs = a.presentation_contexts();
        let (pc, ts_uid) = pcs
            .iter()
            .find(|pc| {
                pc.reason == PresentationContextResultReason::Acceptance
                    && pc.abstract_syntax.trim_end_matches('\0') == inst.sop_class_uid
                    && proposed_syntaxes(inst.transfer_syntax_uid)
                        .iter()
                        .any(|t| t == pc.transfer_syntax.trim_end_matches('\0'))
            })
            .map(|pc| (pc.id, pc.transfer_syntax.trim_end_matches('\0').to_string()))
            .ok_or_else(|| {
                let why = pcs
                    .iter()
                    .find(|pc| pc.abstract_syntax.trim_end_matches('\0') == inst.sop_class_uid)
                    .map(|pc| format!("{:?}", pc.reason))
                    .unwrap_or_else(|| "not in the answer".into());
                AgentError::refused(format!(
                    "the peer did not accept SOP class {} in transfer syntax {} ({why})",
                    inst.sop_class_uid, inst.transfer_syntax_uid
                ))
            })?;
        let ts = TransferSyntaxRegistry.get(&ts_uid).ok_or_else(|| {
            AgentError::other(format!("negotiated transfer syntax {ts_uid} is unknown"))
        })?;
        let mut data = Vec::with_capacity(64 * 1024);
        inst.dataset
            .write_dataset_with_ts(&mut data, ts)
            .map_err(|e| {
                AgentError::other(format!(
                    "could not encode instance {} in {ts_uid}: {e}",
                    inst.sop_instance_uid
                ))
            })?;

        send_command(
            a,
            pc,
            &store_command(message_id, &inst.sop_class_uid, &inst.sop_instance_uid),
        )
        .await?;
        {
            let mut w = a.send_pdata(pc);
            let io = |e: std::io::Error| {
                AgentError::new(
                    if is_timeout_text(&e.to_string()) {
                        FailureKind::Unreachable
                    } else {
                        FailureKind::Other
                    },
                    format!(
                        "sending instance {} to the peer failed: {e}",
                        inst.sop_instance_uid
                    ),
                )
            };
            w.write_all(&data).await.map_err(io)?;
            // The writer buffers the last PDU: without finish() it is never sent.
            w.finish().await.map_err(io)?;
        }
        let (status, responding) = receive_response(a).await?;
        if responding != 0 && responding != message_id {
            return Err(AgentError::other(format!(
                "the peer answered message {responding} while message {message_id} was expected"
            ))
            .into());
        }
        results.push(StoreResult {
            sop_instance_uid: inst.sop_instance_uid.clone(),
            sop_class_uid: inst.sop_class_uid.clone(),
            status,
            bytes: data.len(),
        });
    }
    Ok(())
}

/// C-STORE every instance over one association (one presentation context per SOP class and
/// transfer syntax), then release. Stops at the first transport or association error; DIMSE
/// failure statuses are recorded and the remaining instances are still sent.
pub async fn store(peer: &Peer, instances: &[Instance]) -> StoreReport {
    let mut contexts: Vec<(String, Vec<String>)> = Vec::new();
    for i in instances {
        let pair = (
            i.sop_class_uid.clone(),
            proposed_syntaxes(i.transfer_syntax_uid),
        );
        if !contexts.contains(&pair) {
            contexts.push(pair);
        }
    }
    let mut results = Vec::with_capacity(instances.len());
    let error = match connect(peer, &contexts).await {
        Err(e) => Some(e),
        Ok(Assoc::Plain(mut a)) => match store_on(&mut a, instances, &mut results).await {
            Ok(()) => a.release().await.err().map(|e| classify(e, peer)),
            Err(e) => {
                let _ = a.abort().await;
                Some(e.into_agent(peer))
            }
        },
    };
    let error = error.or_else(|| {
        results.iter().find(|r| !status_is_ok(r.status)).map(|r| {
            AgentError::refused(format!(
                "the peer refused instance {}: status 0x{:04X} ({})",
                r.sop_instance_uid,
                r.status,
                status_name(r.status)
            ))
        })
    });
    StoreReport { results, error }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_names() {
        assert_eq!(status_name(0), "Success");
        assert!(status_is_ok(0xB000));
        assert!(!status_is_ok(0xA700));
        assert!(!status_is_ok(0x0122));
        assert!(status_name(0xC123).starts_with("Error"));
    }

    #[test]
    fn rejection_in_words() {
        use dicom_ul::pdu::AssociationRJServiceUserReason;
        let rj = AssociationRJ {
            result: AssociationRJResult::Permanent,
            source: AssociationRJSource::ServiceUser(
                AssociationRJServiceUserReason::CalledAETitleNotRecognized,
            ),
        };
        assert_eq!(
            describe_rejection(&rj),
            "rejected-permanent by service-user: called AE title not recognized"
        );
    }
}
