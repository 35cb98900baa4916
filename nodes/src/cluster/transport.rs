//! Cluster connections over TLS, accepted and dialed by kukka and then
//! handed to ractor_cluster as external streams.
//!
//! ractor_cluster can do TLS itself, but its listener performs each
//! handshake inline: one peer that opens a TCP connection and says nothing
//! stops it from accepting anybody else. Here every handshake runs in its
//! own task with a deadline, at most [`MAX_HANDSHAKES`] at once, and the
//! peer's role is read from its certificate. What the peer sends then goes
//! through [`super::frames::forward`], which drops what that role may not
//! send, before ractor_cluster reads it.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use kukka_actors::runtime::{metrics, role::Role};
use ractor::ActorRef;
use ractor_cluster::{BoxRead, BoxWrite, ClusterBidiStream, NodeServerMessage};
use tokio::{
    io::{AsyncRead, AsyncWrite},
    net::{TcpListener, TcpStream},
    sync::Semaphore,
};

use super::tls::{role_of, ClusterTls};

/// Longest a TCP connect plus TLS handshake may take.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);
/// Handshakes in progress at once on a listener; more connections are
/// closed at once.
pub const MAX_HANDSHAKES: usize = 64;
/// Longest frame a peer may send (ractor_cluster's own limit is 16 MiB;
/// kukka's largest message, a page of 500 orders, is well under 2 MiB).
pub const MAX_FRAME: u64 = 4 * 1024 * 1024;
/// Buffer between the frame filter and ractor_cluster's session.
const PIPE_BYTES: usize = 256 * 1024;

/// An authenticated TLS connection to a peer of a known role.
struct Guarded<S> {
    stream: S,
    peer_addr: SocketAddr,
    local_addr: Option<SocketAddr>,
    peer_role: Role,
}

impl<S> ClusterBidiStream for Guarded<S>
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    fn split(self: Box<Self>) -> (BoxRead, BoxWrite) {
        let (read, write) = tokio::io::split(self.stream);
        let (ours, theirs) = tokio::io::duplex(PIPE_BYTES);
        tokio::spawn(super::frames::forward(
            read,
            ours,
            self.peer_role,
            self.peer_addr.to_string(),
            MAX_FRAME,
        ));
        (Box::new(theirs), Box::new(write))
    }

    fn peer_label(&self) -> Option<String> {
        Some(self.peer_addr.to_string())
    }

    fn local_label(&self) -> Option<String> {
        self.local_addr.map(|a| a.to_string())
    }
}

/// Why a connection was not handed over.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// TCP or TLS failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// It took longer than [`HANDSHAKE_TIMEOUT`].
    #[error("the handshake took longer than {HANDSHAKE_TIMEOUT:?}")]
    Timeout,
    /// The peer's certificate names no single role.
    #[error("{0}")]
    Role(#[from] super::tls::TlsError),
    /// The node server is gone.
    #[error("the node server is gone")]
    Gone,
}

impl ConnectError {
    /// Nobody answered (the peer is not up yet), as opposed to a peer that
    /// answered and failed the handshake.
    pub fn is_unreachable(&self) -> bool {
        matches!(self, Self::Io(e) if matches!(
            e.kind(),
            std::io::ErrorKind::ConnectionRefused
                | std::io::ErrorKind::ConnectionReset
                | std::io::ErrorKind::HostUnreachable
                | std::io::ErrorKind::NetworkUnreachable
        ))
    }
}

fn peer_role(
    certs: Option<&[rustls::pki_types::CertificateDer<'static>]>,
) -> Result<Role, ConnectError> {
    let first = certs
        .and_then(|c| c.first())
        .ok_or(super::tls::TlsError::Roles(0))?;
    Ok(role_of(first)?)
}

/// Opens a TLS connection to `addr` and hands it to `server`.
pub async fn dial(
    server: &ActorRef<NodeServerMessage>,
    tls: &ClusterTls,
    addr: SocketAddr,
) -> Result<Role, ConnectError> {
    let connect = async {
        let tcp = TcpStream::connect(addr).await?;
        tcp.set_nodelay(true)?;
        let local_addr = tcp.local_addr().ok();
        let stream = tls
            .connector()
            .connect(ClusterTls::server_name(), tcp)
            .await?;
        let role = peer_role(stream.get_ref().1.peer_certificates())?;
        Ok::<_, ConnectError>((stream, local_addr, role))
    };
    let (stream, local_addr, peer_role) = tokio::time::timeout(HANDSHAKE_TIMEOUT, connect)
        .await
        .map_err(|_| ConnectError::Timeout)??;
    let guarded = Guarded {
        stream,
        peer_addr: addr,
        local_addr,
        peer_role,
    };
    ractor_cluster::client_connect_external(server, Box::new(guarded))
        .await
        .map_err(|_| ConnectError::Gone)?;
    Ok(peer_role)
}

/// Accepts one connection's handshake and hands it to `server`.
async fn accept(
    server: ActorRef<NodeServerMessage>,
    tls: ClusterTls,
    tcp: TcpStream,
    peer_addr: SocketAddr,
) -> Result<Role, ConnectError> {
    tcp.set_nodelay(true)?;
    let local_addr = tcp.local_addr().ok();
    let stream = tokio::time::timeout(HANDSHAKE_TIMEOUT, tls.acceptor().accept(tcp))
        .await
        .map_err(|_| ConnectError::Timeout)??;
    let peer_role = peer_role(stream.get_ref().1.peer_certificates())?;
    server
        .cast(NodeServerMessage::ConnectionOpenedExternal {
            stream: Box::new(Guarded {
                stream,
                peer_addr,
                local_addr,
                peer_role,
            }),
            is_server: true,
        })
        .map_err(|_| ConnectError::Gone)?;
    Ok(peer_role)
}

/// Accepts cluster connections on `listener` for `server` until the server
/// stops.
pub async fn serve(listener: TcpListener, server: ActorRef<NodeServerMessage>, tls: ClusterTls) {
    let handshakes = Arc::new(Semaphore::new(MAX_HANDSHAKES));
    loop {
        if !matches!(
            server.get_status(),
            ractor::ActorStatus::Running | ractor::ActorStatus::Starting
        ) {
            return;
        }
        let accepted = match tokio::time::timeout(Duration::from_secs(1), listener.accept()).await {
            Err(_) => continue,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "cluster listener: accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
            Ok(Ok(a)) => a,
        };
        let (tcp, peer_addr) = accepted;
        let Ok(permit) = handshakes.clone().try_acquire_owned() else {
            tracing::warn!(peer = %peer_addr, "cluster listener: too many handshakes at once; closing");
            metrics::handshake_failed("busy");
            continue;
        };
        let (server, tls) = (server.clone(), tls.clone());
        tokio::spawn(async move {
            let _permit = permit;
            match accept(server, tls, tcp, peer_addr).await {
                Ok(role) => {
                    tracing::info!(peer = %peer_addr, peer_role = %role, "cluster peer connected")
                }
                Err(e) => {
                    tracing::warn!(peer = %peer_addr, error = %e, "cluster listener: refused a connection");
                    let reason = match e {
                        ConnectError::Timeout => "timeout",
                        ConnectError::Role(_) => "certificate",
                        _ => "tls",
                    };
                    metrics::handshake_failed(reason);
                }
            }
        });
    }
}
