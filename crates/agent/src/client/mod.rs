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

/// An established association, whatever the transport. (A few per process, moved once:
/// the size difference between the variants does not matter.)
#[allow(clippy::large_enum_variant)]
pub(super) enum Assoc {
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

mod conn;
mod echo;
mod errors;
mod find;
mod retrieve;
mod store;
#[cfg(test)]
mod tests;

pub use crate::socket::{TcpSocket, quickack};
use conn::*;
pub use echo::*;
use errors::*;
pub use find::*;
pub use retrieve::*;
pub use store::*;
