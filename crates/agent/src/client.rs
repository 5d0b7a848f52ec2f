//! The DICOM client (SCU): C-ECHO, C-STORE and C-FIND over real associations, with dicom-ul,
//! in plain TCP or DICOM TLS (PS3.15 Annex B, rustls).
//!
//! One association: A-ASSOCIATE-RQ, the DIMSE exchange(s), A-RELEASE. Command sets are encoded
//! in Implicit VR Little Endian (as PS3.7 requires), data sets in the transfer syntax the peer
//! accepted. `TCP_NODELAY` is set once the association is up (so a command and its data set
//! are not held back by Nagle's algorithm) and `TCP_QUICKACK` is re-armed before each read.
//!
//! C-STORE streams: instances come one at a time through a bounded channel (generated or read
//! from disk by a producer), each data set is written into the P-DATA writer, and up to N
//! associations pull from the same channel in parallel. Memory stays at a few instances
//! whatever the size of the study.

use crate::dimse::{self, Message, MessageAssembler, command};
pub use crate::dimse::{status_is_ok, status_name};
use crate::error::{AgentError, FailureKind, chain};
use crate::synth::Instance;
use crate::tls::{self, TlsClient, TlsInfo};
use dicom_core::Tag;
use dicom_dictionary_std::{tags, uids};
use dicom_object::InMemDicomObject;
use dicom_ul::association::Error as UlError;
use dicom_ul::association::client::{AsyncClientAssociation, AsyncTlsStream};
use dicom_ul::pdu::{
    AssociationRJ, AssociationRJResult, AssociationRJSource, PresentationContextResultReason,
};
use dicom_ul::{ClientAssociationOptions, Pdu};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncSeekExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{Mutex, mpsc};

/// How to reach the peer.
#[derive(Debug, Clone, Default)]
pub enum Transport {
    /// Plain TCP: everything, PHI included, is readable on the wire.
    #[default]
    Plain,
    /// DICOM TLS: only TLS records on the wire.
    Tls(Arc<TlsClient>),
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
    /// Applies to the TCP connection, to every read and write, and to each instance sent.
    pub timeout: Duration,
    pub transport: Transport,
    /// User identity negotiation (PS3.7 D.3.3.7): sent in the A-ASSOCIATE-RQ when set.
    pub user: Option<UserId>,
}

/// A user identity for the association request: a username alone, or username and password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserId {
    pub username: String,
    pub password: Option<String>,
}

impl Peer {
    /// A plain-TCP peer with the lab's default AE titles and a 10 s timeout.
    pub fn new(host: impl Into<String>, port: u16) -> Peer {
        Peer {
            host: host.into(),
            port,
            calling: "MODALITY".into(),
            called: "ORTHANC".into(),
            timeout: Duration::from_secs(10),
            transport: Transport::Plain,
            user: None,
        }
    }

    pub fn addr(&self) -> String {
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
    pub tls: Option<TlsInfo>,
}

/// The outcome of one C-STORE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreResult {
    /// Position of the instance in the study or file list (0-based).
    pub index: usize,
    pub sop_instance_uid: String,
    pub sop_class_uid: String,
    pub status: u16,
    /// Size of the data set as sent (encoded in the negotiated transfer syntax).
    pub bytes: usize,
    /// Which association carried it (0-based).
    pub association: usize,
    /// The first frame's fingerprint as sent, when known ([`Outgoing::pixel_sha256`]).
    pub pixel_sha256: Option<String>,
}

/// The result of [`store`] and [`store_stream`]: what was stored before any error.
#[derive(Debug, Default)]
pub struct StoreReport {
    /// In instance order.
    pub results: Vec<StoreResult>,
    pub error: Option<AgentError>,
    pub tls: Option<TlsInfo>,
    /// Associations that were established.
    pub associations: usize,
    /// Extra associations that did not come up while others did the work (a PACS that
    /// serves one association at a time, or caps them): said, not fatal.
    pub warnings: Vec<String>,
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

/// What the TLS layer knew when an error happened.
#[derive(Debug, Clone)]
struct TlsCtx {
    server_name: String,
    asked: Arc<AtomicBool>,
    have_cert: bool,
}

/// Turn a dicom-ul error into words and an exit class.
fn classify(e: UlError, peer: &Peer, tls: Option<&TlsCtx>) -> AgentError {
    let at = peer.addr();
    if let Some(t) = tls {
        let asked = t.asked.load(Ordering::SeqCst);
        match &e {
            // dicom-ul's async path reports any failure to read the A-ASSOCIATE answer after
            // a completed handshake as "TLS not enabled": in fact the server closed the TLS
            // connection (TLS 1.3 servers check the client certificate after the handshake).
            UlError::TlsNotSupported => {
                return AgentError::refused(tls::describe_post_handshake_close(
                    &at,
                    asked,
                    t.have_cert,
                ));
            }
            UlError::TlsConfigMissing { .. } => {
                return AgentError::other(
                    "TLS configuration is incomplete (a CA and a server name are required)",
                );
            }
            UlError::InvalidServerName { .. } => {
                return AgentError::other(format!(
                    "'{}' cannot be used as a TLS server name: give --server-name",
                    t.server_name
                ));
            }
            _ => {}
        }
        if let Some(r) = tls::find_rustls_error(&e) {
            let msg = tls::describe_handshake_error(r, &at, &t.server_name, asked, t.have_cert);
            let kind = if msg.starts_with("we refused") {
                FailureKind::Other
            } else {
                FailureKind::Refused
            };
            return AgentError::new(kind, msg);
        }
        if let UlError::TlsHandshake { source, .. } = &e {
            return AgentError::refused(format!(
                "{at} closed the connection during the TLS handshake ({source}): it does not \
                 speak TLS on this port, or it refused us"
            ));
        }
        if let UlError::Connect { source, .. } = &e
            && matches!(
                source.kind(),
                std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::UnexpectedEof
            )
        {
            return AgentError::refused(format!(
                "{at} dropped the connection during the TLS handshake ({source}): it probably \
                 speaks plain DICOM on this port (drop --tls), or it refused us"
            ));
        }
    }
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
             DICOM TLS on this port, a plain association is dropped like this: try --tls)"
        )),
        // dicom-ul's async client reports any failed read of the association answer this
        // way, a reset or an early close as well as TLS bytes, so both are named.
        UlError::TlsNotSupported => AgentError::other(format!(
            "{at} did not answer the association request in plain DICOM: either this port \
             expects DICOM TLS (use --tls with --ca), or the peer reset the connection (a \
             PACS that serves one association at a time does this to the ones waiting)"
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

impl TcpSocket for AsyncTlsStream {
    fn tcp(&self) -> &tokio::net::TcpStream {
        self.get_ref().0
    }
}

/// Ask Linux to acknowledge the next incoming segments at once instead of delaying the ACK.
///
/// A peer that writes a response in two small pieces without TCP_NODELAY (DCMTK, hence
/// stock Orthanc) holds back the second piece until our ACK of the first: with delayed ACKs
/// that costs about 40 ms per response. The kernel clears the flag by itself, so it is re-armed
/// before every read of a response.
pub fn quickack<S: TcpSocket>(s: &S) {
    #[cfg(target_os = "linux")]
    {
        let _ = socket2::SockRef::from(s.tcp()).set_tcp_quickack(true);
    }
    #[cfg(not(target_os = "linux"))]
    let _ = s;
}

/// An established association, whatever the transport. (A few per process, moved once:
/// the size difference between the variants does not matter.)
#[allow(clippy::large_enum_variant)]
enum Assoc {
    Plain(AsyncClientAssociation<tokio::net::TcpStream>),
    Tls(AsyncClientAssociation<AsyncTlsStream>),
}

/// Run the same generic code on either kind of association.
macro_rules! on_assoc {
    ($assoc:expr, $a:ident => $body:expr) => {
        match $assoc {
            Assoc::Plain(mut $a) => $body,
            Assoc::Tls(mut $a) => $body,
        }
    };
}

struct Conn {
    assoc: Assoc,
    tls: Option<TlsInfo>,
    tls_ctx: Option<TlsCtx>,
}

/// Open an association proposing `contexts` (abstract syntax, transfer syntaxes).
async fn connect(peer: &Peer, contexts: &[(String, Vec<String>)]) -> Result<Conn, AgentError> {
    connect_with_roles(peer, contexts, &[]).await
}

/// Open an association; for each SOP class in `scp_roles` we also propose the SCP role
/// (SCP/SCU role selection, PS3.7 D.3.3.4), which C-GET needs to receive its C-STOREs.
async fn connect_with_roles(
    peer: &Peer,
    contexts: &[(String, Vec<String>)],
    scp_roles: &[String],
) -> Result<Conn, AgentError> {
    let mut opts = ClientAssociationOptions::new()
        .calling_ae_title(peer.calling.clone())
        .called_ae_title(peer.called.clone())
        .connection_timeout(peer.timeout)
        .read_timeout(peer.timeout)
        .write_timeout(peer.timeout);
    for (abstract_syntax, ts) in contexts {
        opts = opts.with_presentation_context(abstract_syntax.clone(), ts.clone());
    }
    for class in scp_roles {
        opts = opts.with_role_selection(class.clone(), false, true);
    }
    if let Some(u) = &peer.user {
        opts = match &u.password {
            Some(p) => opts.username_password(u.username.clone(), p.clone()),
            None => opts.username(u.username.clone()),
        };
    }
    // The whole establishment (TCP, TLS handshake, A-ASSOCIATE) is bounded too.
    let bound = peer.timeout * 2 + Duration::from_secs(1);
    match &peer.transport {
        Transport::Plain => {
            let mut a = tokio::time::timeout(bound, opts.establish_async(peer.addr()))
                .await
                .map_err(|_| timeout_error(peer, "establishing the association"))?
                .map_err(|e| classify(e, peer, None))?;
            // Best effort: a failure here costs speed, not correctness.
            let _ = a.inner_stream().set_nodelay(true);
            Ok(Conn {
                assoc: Assoc::Plain(a),
                tls: None,
                tls_ctx: None,
            })
        }
        Transport::Tls(t) => {
            let server_name = t.name_for(&peer.host);
            TlsClient::check_name(&server_name)?;
            let (cfg, asked) = t.config()?;
            let ctx = TlsCtx {
                server_name: server_name.clone(),
                asked,
                have_cert: t.has_client_cert(),
            };
            let fut = opts
                .tls_config(cfg)
                .server_name(&server_name)
                .establish_tls_async(peer.addr());
            let mut a = tokio::time::timeout(bound, fut)
                .await
                .map_err(|_| timeout_error(peer, "establishing the TLS association"))?
                .map_err(|e| classify(e, peer, Some(&ctx)))?;
            let _ = a.inner_stream().get_ref().0.set_nodelay(true);
            let info = TlsInfo::of(a.inner_stream().get_ref().1, t.has_client_cert());
            Ok(Conn {
                assoc: Assoc::Tls(a),
                tls: Some(info),
                tls_ctx: Some(ctx),
            })
        }
    }
}

fn timeout_error(peer: &Peer, what: &str) -> AgentError {
    AgentError::unreachable(format!(
        "no answer from {} while {what} (timeout, --timeout-secs {})",
        peer.addr(),
        peer.timeout.as_secs()
    ))
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
    fn into_agent(self, peer: &Peer, tls: Option<&TlsCtx>) -> AgentError {
        match self {
            UlErrOrAgent::Ul(e) => classify(e, peer, tls),
            UlErrOrAgent::Agent(e) => e,
        }
    }
}

async fn send_command<S>(
    a: &mut AsyncClientAssociation<S>,
    pc_id: u8,
    cmd: &InMemDicomObject,
) -> Result<(), UlErrOrAgent>
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    a.send(&dimse::command_pdu(pc_id, cmd)?).await?;
    Ok(())
}

/// Read one PDU straight from the association's stream, re-arming `TCP_QUICKACK` after every
/// read.
///
/// Why not `receive()`: a peer without `TCP_NODELAY` (DCMTK, so stock Orthanc) writes a
/// response as a 12-byte P-DATA/PDV header and then the 138-byte command set; Nagle holds the
/// second write until the first is acknowledged. Linux delays that ACK by up to 40 ms whenever
/// the connection looks interactive ("pingpong" mode), which it re-enters while our last data
/// segments are still leaving the send queue, so arming the flag before the wait is not
/// enough (measured: 1 response in 4 stalled 43 ms). Setting it right after a read that
/// consumed the header sends the pending ACK at once. dicom-ul's own `receive()` reads inside
/// the crate, where no option can be set between two reads.
///
/// `rb` is this association's receive buffer: bytes past the PDU stay there for the
/// next call. The crate's internal buffer is empty whenever this is used (the peer sends
/// nothing between our requests), and `release()` later reads through the crate again.
///
/// Strict: a PDU announcing more than the maximum length we proposed is refused from its
/// header, so the buffer never holds more than one PDU of that length (plus one read).
async fn read_pdu_quickack<S>(
    a: &mut AsyncClientAssociation<S>,
    rb: &mut Vec<u8>,
) -> Result<Pdu, UlErrOrAgent>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + TcpSocket,
{
    use tokio::io::AsyncReadExt;
    let max_pdu = a.requestor_max_pdu_length();
    let wait = a.read_timeout().unwrap_or(Duration::from_secs(30));
    loop {
        let mut cur = std::io::Cursor::new(&rb[..]);
        match dicom_ul::pdu::read_pdu(&mut cur, max_pdu, true) {
            Ok(Some(pdu)) => {
                let used = cur.position() as usize;
                rb.drain(..used);
                return Ok(pdu);
            }
            Ok(None) => {}
            Err(e) => {
                let why = match rb.get(2..6) {
                    Some(l) if u32::from_be_bytes([l[0], l[1], l[2], l[3]]) > max_pdu => format!(
                        "the peer sent a PDU of {} bytes, over the maximum length of {max_pdu} \
                         we proposed: refused",
                        u32::from_be_bytes([l[0], l[1], l[2], l[3]])
                    ),
                    _ => format!("the peer sent a PDU that cannot be decoded: {}", chain(&e)),
                };
                return Err(AgentError::other(why).into());
            }
        }
        let s = a.inner_stream();
        let mut chunk = [0u8; 64 * 1024];
        let n = match tokio::time::timeout(wait, s.read(&mut chunk)).await {
            Err(_) => {
                return Err(AgentError::unreachable(format!(
                    "no answer from the peer within {} s (timeout)",
                    wait.as_secs_f64()
                ))
                .into());
            }
            Ok(Err(e)) => {
                return Err(AgentError::other(format!("reading from the peer failed: {e}")).into());
            }
            Ok(Ok(n)) => n,
        };
        quickack(s);
        if n == 0 {
            return Err(AgentError::other(
                "the peer closed the connection while we waited for a response",
            )
            .into());
        }
        rb.extend_from_slice(&chunk[..n]);
    }
}

/// What one association has received and not yet handed over: bytes past the last PDU,
/// the message being assembled, and whole messages a PDU completed after the one returned.
struct Inbox {
    rb: Vec<u8>,
    asm: MessageAssembler,
    ready: std::collections::VecDeque<Message>,
}

impl Inbox {
    fn new() -> Inbox {
        Inbox {
            rb: Vec::with_capacity(64 * 1024),
            asm: MessageAssembler::default(),
            ready: Default::default(),
        }
    }
}

/// Receive one whole DIMSE message (command set and any data set).
async fn receive_message<S>(
    a: &mut AsyncClientAssociation<S>,
    inbox: &mut Inbox,
) -> Result<Message, UlErrOrAgent>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + TcpSocket,
{
    loop {
        if let Some(m) = inbox.ready.pop_front() {
            return Ok(m);
        }
        quickack(a.inner_stream());
        match read_pdu_quickack(a, &mut inbox.rb).await? {
            Pdu::PData { data } => {
                let done = inbox.asm.feed(data)?;
                inbox.ready.extend(done);
            }
            Pdu::AbortRQ { source } => {
                return Err(AgentError::refused(format!(
                    "the peer aborted the association (A-ABORT, source {source:?})"
                ))
                .into());
            }
            Pdu::ReleaseRQ => {
                return Err(AgentError::other(
                    "the peer asked to release the association while we waited for a response",
                )
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
}

/// Receive a response and return its status and the message id it responds to.
async fn receive_response<S>(
    a: &mut AsyncClientAssociation<S>,
    inbox: &mut Inbox,
) -> Result<(u16, u16), UlErrOrAgent>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + TcpSocket,
{
    let m = receive_message(a, inbox).await?;
    let status = dimse::get_u16(&m.command, tags::STATUS)
        .ok_or_else(|| AgentError::other("the peer's response has no Status (0000,0900)"))?;
    let responding = dimse::get_u16(&m.command, tags::MESSAGE_ID_BEING_RESPONDED_TO).unwrap_or(0);
    Ok((status, responding))
}

async fn echo_on<S>(a: &mut AsyncClientAssociation<S>) -> Result<u16, UlErrOrAgent>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + TcpSocket,
{
    let (pc, _) =
        dimse::accepted_pc(a.presentation_contexts(), uids::VERIFICATION).ok_or_else(|| {
            AgentError::refused("the peer did not accept the Verification SOP class (C-ECHO)")
        })?;
    send_command(a, pc, &dimse::echo_rq(1)).await?;
    let (status, _) = receive_response(a, &mut Inbox::new()).await?;
    Ok(status)
}

/// Run `body` on the association, then release it (or abort it on error), all bounded.
macro_rules! run_then_release {
    ($conn:expr, $peer:expr, $a:ident => $body:expr) => {{
        let Conn {
            assoc,
            tls: _,
            tls_ctx,
        } = $conn;
        let peer: &Peer = $peer;
        on_assoc!(assoc, $a => {
            match $body {
                Ok(v) => match tokio::time::timeout(peer.timeout, $a.release()).await {
                    Ok(Ok(())) => Ok(v),
                    Ok(Err(e)) => Err(classify(e, peer, tls_ctx.as_ref())),
                    Err(_) => Err(timeout_error(peer, "releasing the association")),
                },
                Err(e) => {
                    let _ = tokio::time::timeout(Duration::from_secs(1), $a.abort()).await;
                    Err(e.into_agent(peer, tls_ctx.as_ref()))
                }
            }
        })
    }};
}

async fn echo_once(peer: &Peer) -> (Result<u16, AgentError>, Option<TlsInfo>) {
    let contexts = vec![(
        uids::VERIFICATION.to_string(),
        vec![
            uids::IMPLICIT_VR_LITTLE_ENDIAN.to_string(),
            uids::EXPLICIT_VR_LITTLE_ENDIAN.to_string(),
        ],
    )];
    let conn = match connect(peer, &contexts).await {
        Ok(c) => c,
        Err(e) => return (Err(e), None),
    };
    let info = conn.tls.clone();
    let r = run_then_release!(conn, peer, a => echo_on(&mut a).await);
    (r, info)
}

/// One C-ECHO on one association. With `wait` > 0, unreachable peers (refused, no route,
/// unknown name, timeout) are retried every 250 ms until `wait` has passed: a readiness probe.
/// The status is returned as is; the caller decides whether non-zero is a failure.
pub async fn echo(peer: &Peer, wait: Duration) -> EchoReport {
    let deadline = Instant::now() + wait;
    let mut attempts = 0;
    loop {
        attempts += 1;
        let (r, tls) = echo_once(peer).await;
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
                    tls,
                };
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// C-STORE, streamed

/// The data set of one instance to send.
#[derive(Debug)]
pub enum Body {
    /// Already encoded in the item's transfer syntax.
    Bytes(Vec<u8>),
    /// A DICOM Part 10 file whose data set starts at `offset` (after the file meta group):
    /// copied from disk into the P-DATA writer in chunks.
    File { path: PathBuf, offset: u64 },
}

/// One instance to send, produced lazily.
#[derive(Debug)]
pub struct Outgoing {
    pub index: usize,
    pub sop_class_uid: String,
    pub sop_instance_uid: String,
    pub transfer_syntax_uid: String,
    pub body: Body,
    /// The first frame's fingerprint ([`crate::pixels::first_frame_sha256`]), known for
    /// generated instances: what the PACS's copy is compared with.
    pub pixel_sha256: Option<String>,
}

impl Outgoing {
    /// Encode a generated instance in its own transfer syntax.
    pub fn from_instance(index: usize, inst: &Instance) -> Result<Outgoing, AgentError> {
        Ok(Outgoing {
            index,
            sop_class_uid: inst.sop_class_uid.clone(),
            sop_instance_uid: inst.sop_instance_uid.clone(),
            transfer_syntax_uid: inst.transfer_syntax_uid.to_string(),
            body: Body::Bytes(inst.encode_dataset()?),
            pixel_sha256: crate::pixels::first_frame_sha256(&inst.dataset),
        })
    }
}

/// The transfer syntaxes to propose for data sets encoded in `ts`: the same one, and for
/// native encodings also Implicit VR LE (the one every SCP must accept; we then re-encode).
pub fn proposed_syntaxes(ts: &str) -> Vec<String> {
    if ts == uids::EXPLICIT_VR_LITTLE_ENDIAN {
        vec![ts.to_string(), uids::IMPLICIT_VR_LITTLE_ENDIAN.to_string()]
    } else {
        vec![ts.to_string()]
    }
}

/// The presentation contexts for a set of (SOP class, transfer syntax) pairs.
pub fn store_contexts<'a>(
    pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Vec<(String, Vec<String>)> {
    let mut contexts: Vec<(String, Vec<String>)> = Vec::new();
    for (class, ts) in pairs {
        let pair = (class.to_string(), proposed_syntaxes(ts));
        if !contexts.contains(&pair) {
            contexts.push(pair);
        }
    }
    contexts
}

/// Where instances come from: a bounded channel filled by a producer.
pub type Source = mpsc::Receiver<Result<Outgoing, AgentError>>;

async fn send_body<S>(
    a: &mut AsyncClientAssociation<S>,
    pc: u8,
    item: &Outgoing,
    negotiated_ts: &str,
) -> Result<usize, AgentError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    let io = |e: std::io::Error| {
        AgentError::new(
            if is_timeout_text(&e.to_string()) {
                FailureKind::Unreachable
            } else {
                FailureKind::Other
            },
            format!(
                "sending instance {} to the peer failed: {e}",
                item.sop_instance_uid
            ),
        )
    };
    let same_ts = negotiated_ts == item.transfer_syntax_uid;
    match (&item.body, same_ts) {
        (Body::Bytes(bytes), true) => {
            let mut w = a.send_pdata(pc);
            w.write_all(bytes).await.map_err(io)?;
            // The writer buffers the last PDU: without finish() it is never sent.
            w.finish().await.map_err(io)?;
            Ok(bytes.len())
        }
        (Body::File { path, offset }, true) => {
            let mut f = tokio::fs::File::open(path)
                .await
                .map_err(|e| AgentError::other(format!("cannot open {}: {e}", path.display())))?;
            f.seek(std::io::SeekFrom::Start(*offset))
                .await
                .map_err(|e| AgentError::other(format!("cannot read {}: {e}", path.display())))?;
            let mut w = a.send_pdata(pc);
            let n = tokio::io::copy(
                &mut tokio::io::BufReader::with_capacity(256 * 1024, f),
                &mut w,
            )
            .await
            .map_err(io)?;
            w.finish().await.map_err(io)?;
            Ok(n as usize)
        }
        (body, false) => {
            // The peer took another (native) transfer syntax: decode and re-encode.
            let obj = match body {
                Body::Bytes(b) => dimse::parse_dataset(b, &item.transfer_syntax_uid)?,
                Body::File { path, .. } => dicom_object::open_file(path)
                    .map_err(|e| AgentError::other(format!("cannot read {}: {e}", path.display())))?
                    .into_inner(),
            };
            let bytes = dimse::encode_dataset(&obj, negotiated_ts)?;
            let mut w = a.send_pdata(pc);
            w.write_all(&bytes).await.map_err(io)?;
            w.finish().await.map_err(io)?;
            Ok(bytes.len())
        }
    }
}

async fn store_worker<S>(
    a: &mut AsyncClientAssociation<S>,
    peer: &Peer,
    association: usize,
    source: &Mutex<Source>,
    results: &std::sync::Mutex<Vec<StoreResult>>,
) -> Result<(), UlErrOrAgent>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + TcpSocket,
{
    let mut message_id: u16 = 0;
    let mut inbox = Inbox::new();
    loop {
        let next = { source.lock().await.recv().await };
        let item = match next {
            None => return Ok(()),
            Some(Err(e)) => return Err(e.into()),
            Some(Ok(i)) => i,
        };
        message_id = message_id.wrapping_add(1).max(1);
        let pcs = a.presentation_contexts();
        let (pc, ts_uid) = pcs
            .iter()
            .find(|pc| {
                pc.reason == PresentationContextResultReason::Acceptance
                    && pc.abstract_syntax.trim_end_matches('\0') == item.sop_class_uid
                    && proposed_syntaxes(&item.transfer_syntax_uid)
                        .iter()
                        .any(|t| t == pc.transfer_syntax.trim_end_matches('\0'))
            })
            .map(|pc| (pc.id, pc.transfer_syntax.trim_end_matches('\0').to_string()))
            .ok_or_else(|| {
                let why = pcs
                    .iter()
                    .find(|pc| pc.abstract_syntax.trim_end_matches('\0') == item.sop_class_uid)
                    .map(|pc| format!("{:?}", pc.reason))
                    .unwrap_or_else(|| "not in the answer".into());
                AgentError::refused(format!(
                    "the peer did not accept SOP class {} in transfer syntax {} ({why})",
                    item.sop_class_uid, item.transfer_syntax_uid
                ))
            })?;
        send_command(
            a,
            pc,
            &dimse::store_rq(message_id, &item.sop_class_uid, &item.sop_instance_uid),
        )
        .await?;
        let bytes = tokio::time::timeout(peer.timeout, send_body(a, pc, &item, &ts_uid))
            .await
            .map_err(|_| {
                timeout_error(peer, &format!("sending instance {}", item.sop_instance_uid))
            })??;
        let (status, responding) = receive_response(a, &mut inbox).await?;
        if responding != 0 && responding != message_id {
            return Err(AgentError::other(format!(
                "the peer answered message {responding} while message {message_id} was expected"
            ))
            .into());
        }
        results.lock().unwrap().push(StoreResult {
            index: item.index,
            sop_instance_uid: item.sop_instance_uid,
            sop_class_uid: item.sop_class_uid,
            status,
            bytes,
            association,
            pixel_sha256: item.pixel_sha256,
        });
    }
}

/// C-STORE everything `source` yields over `associations` parallel associations (at least
/// one), each proposing `contexts`. An association stops at its first transport or
/// association error (the others go on); DIMSE failure statuses are recorded and sending
/// goes on. The first error is reported.
pub async fn store_stream(
    peer: &Peer,
    contexts: &[(String, Vec<String>)],
    source: Source,
    associations: usize,
) -> StoreReport {
    let source = Arc::new(Mutex::new(source));
    let results = Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..associations.max(1) {
        let (peer, contexts, source, results) = (
            peer.clone(),
            contexts.to_vec(),
            source.clone(),
            results.clone(),
        );
        tasks.spawn(async move {
            let conn = match connect(&peer, &contexts).await {
                Ok(c) => c,
                // If no association comes up, the source is dropped on return and the
                // producer stops.
                Err(e) => return (n, Err(e), None, false),
            };
            let info = conn.tls.clone();
            let r = run_then_release!(conn, &peer, a =>
                store_worker(&mut a, &peer, n, &source, &results).await);
            (n, r, info, true)
        });
    }
    let mut report = StoreReport::default();
    let mut errors: Vec<(usize, AgentError)> = Vec::new();
    let mut not_established: Vec<(usize, AgentError)> = Vec::new();
    while let Some(j) = tasks.join_next().await {
        match j {
            Ok((n, r, info, established)) => {
                if established {
                    report.associations += 1;
                }
                if report.tls.is_none() {
                    report.tls = info;
                }
                match r {
                    Err(e) if established => errors.push((n, e)),
                    Err(e) => not_established.push((n, e)),
                    Ok(()) => {}
                }
            }
            Err(e) => errors.push((usize::MAX, AgentError::other(format!("a task failed: {e}")))),
        }
    }
    // An association that never came up is the whole story only when none did; otherwise
    // the others carried its share, and whether every instance went is checked by count.
    not_established.sort_by_key(|(n, _)| *n);
    if report.associations == 0 {
        errors.extend(not_established);
    } else {
        report.warnings = not_established
            .into_iter()
            .map(|(n, e)| {
                format!(
                    "association {} of {associations} did not come up: {e}",
                    n + 1
                )
            })
            .collect();
    }
    errors.sort_by_key(|(n, _)| *n);
    let mut results = std::mem::take(&mut *results.lock().unwrap());
    results.sort_by_key(|r| r.index);
    report.error = errors.into_iter().next().map(|(_, e)| e).or_else(|| {
        results.iter().find(|r| !status_is_ok(r.status)).map(|r| {
            AgentError::refused(format!(
                "the peer refused instance {}: status 0x{:04X} ({})",
                r.sop_instance_uid,
                r.status,
                status_name(r.status)
            ))
        })
    });
    report.results = results;
    report
}

/// C-STORE every instance over one association (one presentation context per SOP class and
/// transfer syntax), then release.
pub async fn store(peer: &Peer, instances: &[Instance]) -> StoreReport {
    let contexts = store_contexts(
        instances
            .iter()
            .map(|i| (i.sop_class_uid.as_str(), i.transfer_syntax_uid)),
    );
    let (tx, rx) = mpsc::channel(instances.len().max(1));
    for (n, i) in instances.iter().enumerate() {
        let _ = tx.send(Outgoing::from_instance(n, i)).await;
    }
    drop(tx);
    store_stream(peer, &contexts, rx, 1).await
}

// ---------------------------------------------------------------------------------------
// C-FIND

/// The query/retrieve level of a C-FIND.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FindLevel {
    Patient,
    Study,
    Series,
}

impl FindLevel {
    pub fn code(self) -> &'static str {
        match self {
            FindLevel::Patient => "PATIENT",
            FindLevel::Study => "STUDY",
            FindLevel::Series => "SERIES",
        }
    }

    /// Patient Root for the patient level, Study Root otherwise.
    pub fn sop_class(self) -> &'static str {
        match self {
            FindLevel::Patient => uids::PATIENT_ROOT_QUERY_RETRIEVE_INFORMATION_MODEL_FIND,
            _ => uids::STUDY_ROOT_QUERY_RETRIEVE_INFORMATION_MODEL_FIND,
        }
    }

    /// The return keys asked for by default at this level (universal matching).
    pub fn default_keys(self) -> &'static [Tag] {
        match self {
            FindLevel::Patient => &[
                tags::PATIENT_NAME,
                tags::PATIENT_ID,
                tags::PATIENT_BIRTH_DATE,
                tags::PATIENT_SEX,
            ],
            FindLevel::Study => &[
                tags::PATIENT_NAME,
                tags::PATIENT_ID,
                tags::STUDY_INSTANCE_UID,
                tags::STUDY_DATE,
                tags::STUDY_TIME,
                tags::ACCESSION_NUMBER,
                tags::STUDY_ID,
                tags::STUDY_DESCRIPTION,
            ],
            FindLevel::Series => &[
                tags::STUDY_INSTANCE_UID,
                tags::SERIES_INSTANCE_UID,
                tags::MODALITY,
                tags::SERIES_NUMBER,
                tags::SERIES_DESCRIPTION,
            ],
        }
    }
}

/// A C-FIND request: level, matching keys (keyword = value, DICOM wildcards allowed) and a
/// bound on the number of matches read (then C-CANCEL).
#[derive(Debug, Clone)]
pub struct FindQuery {
    pub level: FindLevel,
    pub keys: Vec<(Tag, String)>,
    pub limit: usize,
}

/// The result of [`find`].
#[derive(Debug, Default)]
pub struct FindReport {
    /// Each match as { keyword: value }.
    pub matches: Vec<serde_json::Map<String, serde_json::Value>>,
    /// The final status (0 success, 0xFE00 cancelled after `limit`).
    pub status: Option<u16>,
    pub cancelled: bool,
    pub error: Option<AgentError>,
    pub tls: Option<TlsInfo>,
}

/// Build the identifier of a query.
pub fn find_identifier(q: &FindQuery) -> InMemDicomObject {
    use dicom_core::dictionary::{DataDictionary, DataDictionaryEntry};
    use dicom_core::{DataElement, PrimitiveValue, VR};
    use dicom_dictionary_std::StandardDataDictionary;
    let mut obj = InMemDicomObject::new_empty();
    obj.put(DataElement::new(
        tags::QUERY_RETRIEVE_LEVEL,
        VR::CS,
        PrimitiveValue::from(q.level.code()),
    ));
    let vr_of = |t: Tag| {
        StandardDataDictionary
            .by_tag(t)
            .map(|e| e.vr().relaxed())
            .unwrap_or(VR::LO)
    };
    for t in q.level.default_keys() {
        obj.put(DataElement::new(*t, vr_of(*t), PrimitiveValue::Empty));
    }
    for (t, v) in &q.keys {
        let value = if v.is_empty() {
            PrimitiveValue::Empty
        } else {
            PrimitiveValue::from(v.as_str())
        };
        obj.put(DataElement::new(*t, vr_of(*t), value));
    }
    obj
}

/// A data set as { keyword: value } (strings; multi-values joined with `\`).
pub fn to_json_map(obj: &InMemDicomObject) -> serde_json::Map<String, serde_json::Value> {
    use dicom_core::dictionary::{DataDictionary, DataDictionaryEntry};
    use dicom_dictionary_std::StandardDataDictionary;
    let mut m = serde_json::Map::new();
    for e in obj.iter() {
        let tag = e.header().tag;
        if tag == tags::SPECIFIC_CHARACTER_SET {
            continue;
        }
        let name = StandardDataDictionary
            .by_tag(tag)
            .map(|d| d.alias().to_string())
            .unwrap_or_else(|| format!("{:04X}{:04X}", tag.group(), tag.element()));
        let v = e
            .to_str()
            .map(|s| s.trim_end_matches(['\0', ' ']).to_string())
            .unwrap_or_default();
        m.insert(name, serde_json::Value::String(v));
    }
    m
}

async fn find_on<S>(
    a: &mut AsyncClientAssociation<S>,
    q: &FindQuery,
    report: &mut FindReport,
) -> Result<(), UlErrOrAgent>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + TcpSocket,
{
    let class = q.level.sop_class();
    let (pc, ts) = dimse::accepted_pc(a.presentation_contexts(), class).ok_or_else(|| {
        AgentError::refused(format!(
            "the peer did not accept the C-FIND information model {class} (query/retrieve \
             is off, or this AE may not query)"
        ))
    })?;
    send_command(a, pc, &dimse::find_rq(1, class)).await?;
    let ident = dimse::encode_dataset(&find_identifier(q), &ts)?;
    {
        let mut w = a.send_pdata(pc);
        let io = |e: std::io::Error| AgentError::other(format!("sending the query failed: {e}"));
        w.write_all(&ident).await.map_err(io)?;
        w.finish().await.map_err(io)?;
    }
    // Bounded: at most `limit` matches are read, then C-CANCEL, then at most a few more.
    let mut extra = 0usize;
    let mut inbox = Inbox::new();
    loop {
        let m = receive_message(a, &mut inbox).await?;
        let field = dimse::get_u16(&m.command, tags::COMMAND_FIELD).unwrap_or(0);
        if field != command::C_FIND_RSP {
            return Err(AgentError::other(format!(
                "the peer answered C-FIND with command 0x{field:04X}"
            ))
            .into());
        }
        let status = dimse::get_u16(&m.command, tags::STATUS)
            .ok_or_else(|| AgentError::other("a C-FIND response has no Status"))?;
        if status == 0xFF00 || status == 0xFF01 {
            if let Some(data) = &m.data {
                if report.matches.len() < q.limit {
                    report
                        .matches
                        .push(to_json_map(&dimse::parse_dataset(data, &ts)?));
                } else {
                    extra += 1;
                }
            }
            if report.matches.len() >= q.limit && !report.cancelled {
                report.cancelled = true;
                let cancel = InMemDicomObject::command_from_element_iter([
                    dicom_core::DataElement::new(
                        tags::COMMAND_FIELD,
                        dicom_core::VR::US,
                        dicom_core::dicom_value!(U16, [command::C_CANCEL_RQ]),
                    ),
                    dicom_core::DataElement::new(
                        tags::MESSAGE_ID_BEING_RESPONDED_TO,
                        dicom_core::VR::US,
                        dicom_core::dicom_value!(U16, [1]),
                    ),
                    dicom_core::DataElement::new(
                        tags::COMMAND_DATA_SET_TYPE,
                        dicom_core::VR::US,
                        dicom_core::dicom_value!(U16, [dimse::NO_DATA_SET]),
                    ),
                ]);
                send_command(a, pc, &cancel).await?;
            }
            if extra > 10_000 {
                return Err(
                    AgentError::other("the peer kept sending matches after C-CANCEL").into(),
                );
            }
            continue;
        }
        report.status = Some(status);
        return Ok(());
    }
}

/// One C-FIND on one association.
pub async fn find(peer: &Peer, q: &FindQuery) -> FindReport {
    let contexts = vec![(
        q.level.sop_class().to_string(),
        vec![
            uids::EXPLICIT_VR_LITTLE_ENDIAN.to_string(),
            uids::IMPLICIT_VR_LITTLE_ENDIAN.to_string(),
        ],
    )];
    let mut report = FindReport::default();
    let conn = match connect(peer, &contexts).await {
        Ok(c) => c,
        Err(e) => {
            report.error = Some(e);
            return report;
        }
    };
    report.tls = conn.tls.clone();
    let r = run_then_release!(conn, peer, a => find_on(&mut a, q, &mut report).await);
    report.error = match r {
        Err(e) => Some(e),
        Ok(()) => match report.status {
            Some(s) if status_is_ok(s) || s == 0xFE00 => None,
            Some(s) => Some(AgentError::refused(format!(
                "the peer refused the C-FIND: status 0x{s:04X} ({})",
                status_name(s)
            ))),
            None => None,
        },
    };
    report
}

// ---------------------------------------------------------------------------------------
// C-MOVE and C-GET

/// How the matches of a retrieve come back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RetrieveMode {
    /// C-MOVE: the peer opens its own association to this AE title (which it must know,
    /// e.g. in Orthanc's `DicomModalities`) and C-STOREs the matches there.
    Move { destination: String },
    /// C-GET: the peer C-STOREs the matches back on our association; we write them into
    /// this folder as `<SOPInstanceUID>.dcm`.
    Get { out: PathBuf },
}

/// A C-MOVE or C-GET request: level and keys (unique keys such as StudyInstanceUID).
#[derive(Debug, Clone)]
pub struct RetrieveQuery {
    pub level: FindLevel,
    pub keys: Vec<(Tag, String)>,
    pub mode: RetrieveMode,
}

/// Sub-operation counts of a retrieve, as the peer last reported them.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SubOps {
    pub remaining: u16,
    pub completed: u16,
    pub failed: u16,
    pub warning: u16,
}

/// The result of [`retrieve`].
#[derive(Debug, Default)]
pub struct RetrieveReport {
    /// The final status (0 success; 0xB000 some sub-operations failed).
    pub status: Option<u16>,
    pub subops: SubOps,
    /// Pending responses read before the final one.
    pub pending: u32,
    /// C-GET: each instance received (UIDs, transfer syntax, bytes, file).
    pub received: Vec<protocol::result::ReceivedInstance>,
    pub error: Option<AgentError>,
    pub tls: Option<TlsInfo>,
}

impl FindLevel {
    /// The C-MOVE information model for this level (Patient Root for patient, else Study Root).
    pub fn move_class(self) -> &'static str {
        match self {
            FindLevel::Patient => uids::PATIENT_ROOT_QUERY_RETRIEVE_INFORMATION_MODEL_MOVE,
            _ => uids::STUDY_ROOT_QUERY_RETRIEVE_INFORMATION_MODEL_MOVE,
        }
    }

    /// The C-GET information model for this level.
    pub fn get_class(self) -> &'static str {
        match self {
            FindLevel::Patient => uids::PATIENT_ROOT_QUERY_RETRIEVE_INFORMATION_MODEL_GET,
            _ => uids::STUDY_ROOT_QUERY_RETRIEVE_INFORMATION_MODEL_GET,
        }
    }
}

/// The identifier of a retrieve: the level and the keys given, nothing else.
pub fn retrieve_identifier(level: FindLevel, keys: &[(Tag, String)]) -> InMemDicomObject {
    let mut obj = find_identifier(&FindQuery {
        level,
        keys: keys.to_vec(),
        limit: 1,
    });
    // Return keys make no sense in a retrieve: keep the level and the keys given.
    let given: Vec<Tag> = keys.iter().map(|(t, _)| *t).collect();
    let drop: Vec<Tag> = obj
        .iter()
        .map(|e| e.header().tag)
        .filter(|t| *t != tags::QUERY_RETRIEVE_LEVEL && !given.contains(t))
        .collect();
    for t in drop {
        obj.remove_element(t);
    }
    obj
}

/// The transfer syntaxes proposed in each native storage context of a C-GET.
const GET_SYNTAXES: &[&str] = &[
    uids::EXPLICIT_VR_LITTLE_ENDIAN,
    uids::IMPLICIT_VR_LITTLE_ENDIAN,
];

fn subops_of(cmd: &InMemDicomObject, prev: SubOps) -> SubOps {
    let g = |t| dimse::get_u16(cmd, t);
    SubOps {
        remaining: g(tags::NUMBER_OF_REMAINING_SUBOPERATIONS).unwrap_or(0),
        completed: g(tags::NUMBER_OF_COMPLETED_SUBOPERATIONS).unwrap_or(prev.completed),
        failed: g(tags::NUMBER_OF_FAILED_SUBOPERATIONS).unwrap_or(prev.failed),
        warning: g(tags::NUMBER_OF_WARNING_SUBOPERATIONS).unwrap_or(prev.warning),
    }
}

/// Answer one C-STORE sub-operation of a C-GET: write the instance, reply with a status.
async fn store_subop<S>(
    a: &mut AsyncClientAssociation<S>,
    m: &Message,
    out: &std::path::Path,
    report: &mut RetrieveReport,
) -> Result<(), UlErrOrAgent>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + TcpSocket,
{
    let msg_id = dimse::get_u16(&m.command, tags::MESSAGE_ID).unwrap_or(0);
    let class = dimse::get_str(&m.command, tags::AFFECTED_SOP_CLASS_UID).unwrap_or_default();
    let instance = dimse::get_str(&m.command, tags::AFFECTED_SOP_INSTANCE_UID).unwrap_or_default();
    let ts = a
        .presentation_contexts()
        .iter()
        .find(|pc| pc.id == m.pc_id)
        .map(|pc| pc.transfer_syntax.trim_end_matches('\0').to_string())
        .unwrap_or_default();
    let bytes = m.data.as_ref().map(|d| d.len()).unwrap_or(0);
    let (status, file, error) = if !crate::serve::safe_uid(&instance) {
        (
            0xC000,
            None,
            Some(format!(
                "'{instance}' is not a valid SOP Instance UID: not written"
            )),
        )
    } else if let Some(data) = &m.data {
        // Walked first, as `serve` does: a file written here must be safe to parse later.
        match crate::bounds::check_dataset(data, &ts) {
            Err(why) => (0xC000, None, Some(format!("refused, not written: {why}"))),
            Ok(()) => match crate::serve::write_part10(out, &class, &instance, &ts, data) {
                Ok(p) => (0x0000, Some(p.display().to_string()), None),
                Err(e) => (0xA700, None, Some(e)),
            },
        }
    } else {
        (0xC000, None, Some("C-STORE-RQ without a data set".into()))
    };
    report.received.push(protocol::result::ReceivedInstance {
        bytes: bytes as u64,
        error,
        file,
        sop_class_uid: class.clone(),
        sop_instance_uid: instance.clone(),
        status,
        transfer_syntax_uid: ts.clone(),
    });
    let rsp = dimse::response(
        command::C_STORE_RSP,
        msg_id,
        &class,
        Some(&instance),
        status,
    );
    send_command(a, m.pc_id, &rsp).await
}

async fn retrieve_on<S>(
    a: &mut AsyncClientAssociation<S>,
    q: &RetrieveQuery,
    report: &mut RetrieveReport,
) -> Result<(), UlErrOrAgent>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + TcpSocket,
{
    let (class, rsp_field, what) = match &q.mode {
        RetrieveMode::Move { .. } => (q.level.move_class(), command::C_MOVE_RSP, "C-MOVE"),
        RetrieveMode::Get { .. } => (q.level.get_class(), command::C_GET_RSP, "C-GET"),
    };
    let (pc, ts) = dimse::accepted_pc(a.presentation_contexts(), class).ok_or_else(|| {
        AgentError::refused(format!(
            "the peer did not accept the {what} information model {class} (retrieve is off, \
             or this AE may not retrieve)"
        ))
    })?;
    let cmd = match &q.mode {
        RetrieveMode::Move { destination } => dimse::move_rq(1, class, destination),
        RetrieveMode::Get { .. } => dimse::get_rq(1, class),
    };
    send_command(a, pc, &cmd).await?;
    let ident = dimse::encode_dataset(&retrieve_identifier(q.level, &q.keys), &ts)?;
    {
        let mut w = a.send_pdata(pc);
        let io = |e: std::io::Error| AgentError::other(format!("sending the request failed: {e}"));
        w.write_all(&ident).await.map_err(io)?;
        w.finish().await.map_err(io)?;
    }
    let mut inbox = Inbox::new();
    // Bounded: every read is under the timeout, and a peer cannot send more responses than
    // this without the loop giving up.
    for _ in 0..1_000_000u32 {
        let m = receive_message(a, &mut inbox).await?;
        let field = dimse::get_u16(&m.command, tags::COMMAND_FIELD).unwrap_or(0);
        if field == command::C_STORE_RQ {
            let RetrieveMode::Get { out } = &q.mode else {
                return Err(AgentError::other(
                    "the peer sent a C-STORE on a C-MOVE association (it should open its own)",
                )
                .into());
            };
            store_subop(a, &m, out, report).await?;
            continue;
        }
        if field != rsp_field {
            return Err(AgentError::other(format!(
                "the peer answered {what} with command 0x{field:04X}"
            ))
            .into());
        }
        let status = dimse::get_u16(&m.command, tags::STATUS)
            .ok_or_else(|| AgentError::other(format!("a {what} response has no Status")))?;
        report.subops = subops_of(&m.command, report.subops);
        if status == 0xFF00 || status == 0xFF01 {
            report.pending += 1;
            continue;
        }
        report.status = Some(status);
        return Ok(());
    }
    Err(AgentError::other(format!("the peer never ended the {what}")).into())
}

/// One C-MOVE or C-GET on one association. For C-GET, every storage SOP class `serve`
/// knows is proposed with the SCP role, so the peer can C-STORE back on this association.
pub async fn retrieve(peer: &Peer, q: &RetrieveQuery) -> RetrieveReport {
    let class = match &q.mode {
        RetrieveMode::Move { .. } => q.level.move_class(),
        RetrieveMode::Get { .. } => q.level.get_class(),
    };
    let mut contexts = vec![(
        class.to_string(),
        vec![
            uids::EXPLICIT_VR_LITTLE_ENDIAN.to_string(),
            uids::IMPLICIT_VR_LITTLE_ENDIAN.to_string(),
        ],
    )];
    let mut roles = Vec::new();
    let mut report = RetrieveReport::default();
    if let RetrieveMode::Get { out } = &q.mode {
        if let Err(e) = std::fs::create_dir_all(out) {
            report.error = Some(AgentError::other(format!(
                "cannot create {}: {e}",
                out.display()
            )));
            return report;
        }
        for c in crate::serve::STORAGE_CLASSES {
            contexts.push((
                c.to_string(),
                GET_SYNTAXES.iter().map(|t| t.to_string()).collect(),
            ));
            // JPEG Baseline in its own context, so an instance stored that way can come back
            // unchanged when the peer prefers not to transcode.
            contexts.push((c.to_string(), vec![uids::JPEG_BASELINE8_BIT.to_string()]));
            roles.push(c.to_string());
        }
    }
    let conn = match connect_with_roles(peer, &contexts, &roles).await {
        Ok(c) => c,
        Err(e) => {
            report.error = Some(e);
            return report;
        }
    };
    report.tls = conn.tls.clone();
    let r = run_then_release!(conn, peer, a => retrieve_on(&mut a, q, &mut report).await);
    let what = match q.mode {
        RetrieveMode::Move { .. } => "C-MOVE",
        RetrieveMode::Get { .. } => "C-GET",
    };
    report.error = match r {
        Err(e) => Some(e),
        Ok(()) => match report.status {
            Some(0) => None,
            Some(s) => Some(AgentError::refused(format!(
                "the peer ended the {what} with status 0x{s:04X} ({}): {} completed, {} \
                 failed, {} warning{}",
                retrieve_status_name(s),
                report.subops.completed,
                report.subops.failed,
                report.subops.warning,
                match (&q.mode, s) {
                    (RetrieveMode::Move { .. }, 0xA801 | 0xC000) => {
                        "; is the destination AE title in the PACS's list of modalities \
                         (Orthanc: DicomModalities, with the host and port it listens on)?"
                    }
                    _ => "",
                }
            ))),
            None => None,
        },
    };
    report
}

/// Status names specific to C-MOVE and C-GET (PS3.4 C.4.2.1.5, C.4.3.1.4).
pub fn retrieve_status_name(status: u16) -> &'static str {
    match status {
        0xA701 | 0xA702 => "Refused: out of resources (sub-operations)",
        0xA801 => "Refused: move destination unknown",
        0xB000 => "Warning: sub-operations complete, one or more failures",
        s => status_name(s),
    }
}

impl From<protocol::FindLevel> for FindLevel {
    fn from(l: protocol::FindLevel) -> Self {
        match l {
            protocol::FindLevel::Patient => FindLevel::Patient,
            protocol::FindLevel::Study => FindLevel::Study,
            protocol::FindLevel::Series => FindLevel::Series,
        }
    }
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

    #[test]
    fn find_identifier_has_level_and_keys() {
        let q = FindQuery {
            level: FindLevel::Study,
            keys: vec![(tags::PATIENT_NAME, "DOE*".into())],
            limit: 10,
        };
        let m = to_json_map(&find_identifier(&q));
        assert_eq!(m["QueryRetrieveLevel"], "STUDY");
        assert_eq!(m["PatientName"], "DOE*");
        assert_eq!(m["StudyInstanceUID"], "");
    }
}
