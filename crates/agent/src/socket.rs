//! Socket tuning shared by the client and `serve`: the TCP socket under a plain or TLS
//! stream, and `TCP_QUICKACK` re-armed before each read of a response.

use dicom_ul::association::client::AsyncTlsStream;

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
