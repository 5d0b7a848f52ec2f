//! How a failed association or exchange is told in words and an exit class: a rejection,
//! an abort, a timeout, a refused TLS handshake.

use super::*;

pub(super) fn describe_rejection(rj: &AssociationRJ) -> String {
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
pub(super) struct TlsCtx {
    pub(super) server_name: String,
    pub(super) asked: Arc<AtomicBool>,
    pub(super) have_cert: bool,
}

/// Turn a dicom-ul error into words and an exit class.
pub(super) fn classify(e: UlError, peer: &Peer, tls: Option<&TlsCtx>) -> AgentError {
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

pub(super) fn is_timeout_text(s: &str) -> bool {
    let s = s.to_ascii_lowercase();
    s.contains("timed out") || s.contains("timeout")
}

pub(super) fn timeout_error(peer: &Peer, what: &str) -> AgentError {
    AgentError::unreachable(format!(
        "no answer from {} while {what} (timeout, --timeout-secs {})",
        peer.addr(),
        peer.timeout.as_secs()
    ))
}

/// Either a dicom-ul error (classified later, needs the peer) or one already in words.
pub(super) enum UlErrOrAgent {
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
    pub(super) fn into_agent(self, peer: &Peer, tls: Option<&TlsCtx>) -> AgentError {
        match self {
            UlErrOrAgent::Ul(e) => classify(e, peer, tls),
            UlErrOrAgent::Agent(e) => e,
        }
    }
}
