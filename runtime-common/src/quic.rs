//! QUIC as a second transport, shared by the adapters.
//!
//! A QUIC connection carries exactly **one** bidirectional stream, opened by the dialer, and
//! that stream carries the same frames as a TCP connection: the core does not know which
//! transport carried them. The adapters only differ in the `quinn::Runtime` they hand to
//! [`QuicEndpoints::new`] (through [`crate::Runtime::quinn`]); the driver runs [`dial`],
//! [`accept`], `read_loop` and `write_loop` in its tasks.
//!
//! # TLS
//!
//! QUIC needs TLS 1.3. Here TLS protects the transport only: each node makes a fresh
//! self-signed certificate at start ([`QuicEndpoints::new`], with `rcgen`; OS randomness, so
//! never in the core) and the dialer accepts any certificate ([`AnyServerCert`]), while still
//! checking the TLS 1.3 handshake signature made with it. Who the peer is and the
//! post-quantum protection come from the node's own signed handshake and channel, which run
//! inside the stream exactly as over TCP. docs/SECURITY.md ("QUIC and TLS") gives the
//! reasoning.
//!
//! # Bounds
//!
//! - [`MAX_STREAMS_PER_CONNECTION`] bidirectional streams and no unidirectional ones: a peer
//!   that opens more breaks the QUIC stream limit and quinn closes its connection.
//! - [`STREAM_RECEIVE_WINDOW`] bytes in flight per connection (the reader tasks hand every
//!   byte to the core at once, whose frame decoder bounds what it buffers).
//! - An idle timeout of the core's `inactivity_timeout` plus `disconnect_timeout` plus
//!   [`IDLE_SLACK`] ([`idle_timeout`]): the core's own pings keep a live connection busy, and
//!   its own inactivity handling (with a proper `Disconnect`) fires first.
//! - Inbound: at most [`MAX_PENDING_ACCEPTS`] connections between the QUIC handshake and
//!   the peer's stream ([`Pending`]); more are refused. Each waits at most the core's
//!   `handshake_timeout` for its stream.
use crate::driver::Io;
use qudag_peer::{Config, ConnId, IoFailure, MAX_FRAME_LEN};
use quinn::crypto::rustls::{QuicClientConfig, QuicServerConfig};
use quinn::{ConnectionError, Endpoint, EndpointConfig, Runtime, TransportConfig, VarInt};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use std::future::Future;
use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// The ALPN protocol name both sides require.
pub const ALPN: &[u8] = b"qudag/1";

/// The TLS server name the dialer sends (the certificate is not checked against it).
pub const SERVER_NAME: &str = "qudag";

/// Bidirectional streams a peer may open on one connection: the one carrying the frames.
pub const MAX_STREAMS_PER_CONNECTION: u32 = 1;

/// Bytes a peer may send ahead of what the reader task took: two maximal frames (the
/// connection window is the same, as there is one stream).
pub const STREAM_RECEIVE_WINDOW: u32 = 2 * MAX_FRAME_LEN as u32;

/// Added to the core's `inactivity_timeout` + `disconnect_timeout` to make the QUIC idle
/// timeout, so that the core's own inactivity handling always fires first.
pub const IDLE_SLACK: Duration = Duration::from_secs(5);

/// Inbound QUIC connections that may wait for their stream at once; more are refused.
pub const MAX_PENDING_ACCEPTS: usize = 64;

/// The application error code of a connection closed after its stream ended normally.
pub const CLOSE_OK: u32 = 0;

/// Bytes read from a stream at a time.
pub const READ_CHUNK: usize = crate::READ_CHUNK;

/// The QUIC idle timeout for `config`: `inactivity_timeout + disconnect_timeout +`
/// [`IDLE_SLACK`].
pub fn idle_timeout(config: &Config) -> Duration {
    let p = &config.network.peers;
    p.inactivity_timeout + p.disconnect_timeout + IDLE_SLACK
}

/// The transport parameters both directions use (see the module's bounds).
pub fn transport_config(config: &Config) -> io::Result<TransportConfig> {
    let mut t = TransportConfig::default();
    let idle = quinn::IdleTimeout::try_from(idle_timeout(config)).map_err(io::Error::other)?;
    t.max_concurrent_bidi_streams(VarInt::from_u32(MAX_STREAMS_PER_CONNECTION))
        .max_concurrent_uni_streams(VarInt::from_u32(0))
        .stream_receive_window(VarInt::from_u32(STREAM_RECEIVE_WINDOW))
        .receive_window(VarInt::from_u32(STREAM_RECEIVE_WINDOW))
        .send_window(u64::from(STREAM_RECEIVE_WINDOW))
        .max_idle_timeout(Some(idle))
        .keep_alive_interval(None)
        .datagram_receive_buffer_size(None);
    Ok(t)
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A fresh self-signed certificate and its key (uses OS randomness).
pub fn self_signed() -> io::Result<(CertificateDer<'static>, PrivateKeyDer<'static>)> {
    let ck = rcgen::generate_simple_self_signed(vec![SERVER_NAME.to_string()])
        .map_err(io::Error::other)?;
    let key = PrivatePkcs8KeyDer::from(ck.key_pair.serialize_der());
    Ok((ck.cert.der().clone(), key.into()))
}

/// The server and client configurations of a node: TLS 1.3 only, [`ALPN`], a fresh
/// self-signed certificate, [`AnyServerCert`] on the dialing side, and
/// [`transport_config`] both ways.
pub fn configs(config: &Config) -> io::Result<(quinn::ServerConfig, quinn::ClientConfig)> {
    let transport = Arc::new(transport_config(config)?);
    let (cert, key) = self_signed()?;
    let mut tls = rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(io::Error::other)?
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)
        .map_err(io::Error::other)?;
    tls.alpn_protocols = vec![ALPN.to_vec()];
    let tls = QuicServerConfig::try_from(tls).map_err(io::Error::other)?;
    let mut server = quinn::ServerConfig::with_crypto(Arc::new(tls));
    server.transport_config(transport.clone());
    // Connection migration lets a peer move its address; the core keys nothing on it, but
    // the remote address it was given at accept would go stale. Keep it fixed.
    server.migration(false);

    let mut tls = rustls::ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(io::Error::other)?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyServerCert(provider())))
        .with_no_client_auth();
    tls.alpn_protocols = vec![ALPN.to_vec()];
    let tls = QuicClientConfig::try_from(tls).map_err(io::Error::other)?;
    let mut client = quinn::ClientConfig::new(Arc::new(tls));
    client.transport_config(transport);
    Ok((server, client))
}

/// Accepts any server certificate, checking only that the TLS 1.3 handshake was signed with
/// its key: identity is proven by the node's own signed handshake inside the stream.
#[derive(Debug)]
pub struct AnyServerCert(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyServerCert {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        // The configuration allows TLS 1.3 only.
        Err(rustls::Error::PeerIncompatible(
            rustls::PeerIncompatible::Tls12NotOffered,
        ))
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// A node's QUIC endpoints: the listening one (`network.quic_listen`, which also dials
/// addresses of its family) and, made on first use, client-only ones for the other family or
/// when nothing listens.
pub struct QuicEndpoints {
    server: Option<Endpoint>,
    clients: [Option<Endpoint>; 2],
    client: quinn::ClientConfig,
    runtime: Arc<dyn Runtime>,
}

impl QuicEndpoints {
    /// Makes the configurations and binds `config.network.quic_listen` if set. Call inside
    /// the runtime that `runtime` stands for.
    pub fn new(config: &Config, runtime: Arc<dyn Runtime>) -> io::Result<QuicEndpoints> {
        let (server_config, client) = configs(config)?;
        let server = match config.network.quic_listen {
            Some(bind) => {
                let socket = UdpSocket::bind(bind)?;
                let mut e = Endpoint::new(
                    EndpointConfig::default(),
                    Some(server_config),
                    socket,
                    runtime.clone(),
                )?;
                e.set_default_client_config(client.clone());
                Some(e)
            }
            None => None,
        };
        Ok(QuicEndpoints {
            server,
            clients: [None, None],
            client,
            runtime,
        })
    }

    /// The listening endpoint's address (port 0 resolved), if there is one.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.server.as_ref().and_then(|e| e.local_addr().ok())
    }

    /// The listening endpoint, if any.
    pub fn server(&self) -> Option<&Endpoint> {
        self.server.as_ref()
    }

    /// The endpoint to dial `addr` from: the listening one if it can reach `addr` (same
    /// family; bound to the unspecified address, or loopback to loopback, or non-loopback to
    /// non-loopback), else a client-only one bound to the unspecified address of `addr`'s
    /// family (made once).
    pub fn for_dial(&mut self, addr: SocketAddr) -> io::Result<Endpoint> {
        if let Some(e) = &self.server {
            let local = e.local_addr()?;
            let reach =
                local.ip().is_unspecified() || local.ip().is_loopback() == addr.ip().is_loopback();
            if local.is_ipv4() == addr.is_ipv4() && reach {
                return Ok(e.clone());
            }
        }
        let slot = &mut self.clients[usize::from(addr.is_ipv6())];
        if let Some(e) = slot {
            return Ok(e.clone());
        }
        let bind: SocketAddr = if addr.is_ipv4() {
            (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
        } else {
            (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
        };
        let mut e = Endpoint::new(
            EndpointConfig::default(),
            None,
            UdpSocket::bind(bind)?,
            self.runtime.clone(),
        )?;
        e.set_default_client_config(self.client.clone());
        *slot = Some(e.clone());
        Ok(e)
    }

    /// Stops accepting; live connections end as their tasks close them.
    pub fn close(&self) {
        if let Some(e) = &self.server {
            e.set_server_config(None);
        }
    }
}

/// One QUIC connection and its single stream.
pub struct QuicStream {
    /// The connection (kept to close it once the stream is done).
    pub conn: quinn::Connection,
    /// Our sending half of the stream.
    pub send: quinn::SendStream,
    /// Our receiving half of the stream.
    pub recv: quinn::RecvStream,
}

/// The [`IoFailure`] a QUIC connection error stands for. A peer that closed the connection
/// with [`CLOSE_OK`] after its stream ended did so normally: [`IoFailure::Eof`].
pub fn failure(e: &ConnectionError) -> IoFailure {
    match e {
        ConnectionError::TimedOut => IoFailure::TimedOut,
        ConnectionError::Reset => IoFailure::Reset,
        ConnectionError::ApplicationClosed(c) if c.error_code == VarInt::from_u32(CLOSE_OK) => {
            IoFailure::Eof
        }
        ConnectionError::ApplicationClosed(_) | ConnectionError::ConnectionClosed(_) => {
            IoFailure::Reset
        }
        other => IoFailure::Other(other.to_string()),
    }
}

fn read_failure(e: &quinn::ReadError) -> IoFailure {
    match e {
        quinn::ReadError::ConnectionLost(c) => failure(c),
        quinn::ReadError::Reset(_) => IoFailure::Reset,
        other => IoFailure::Other(other.to_string()),
    }
}

fn write_failure(e: &quinn::WriteError) -> IoFailure {
    match e {
        quinn::WriteError::ConnectionLost(c) => failure(c),
        quinn::WriteError::Stopped(_) => IoFailure::Reset,
        other => IoFailure::Other(other.to_string()),
    }
}

/// Dials `addr` from `endpoint` and opens the connection's stream.
pub async fn dial(endpoint: Endpoint, addr: SocketAddr) -> Result<QuicStream, IoFailure> {
    let connecting = endpoint
        .connect(addr, SERVER_NAME)
        .map_err(|e| IoFailure::Other(e.to_string()))?;
    let conn = connecting.await.map_err(|e| failure(&e))?;
    let (send, recv) = conn.open_bi().await.map_err(|e| failure(&e))?;
    Ok(QuicStream { conn, send, recv })
}

/// Counts inbound QUIC connections waiting for their stream, up to [`MAX_PENDING_ACCEPTS`].
#[derive(Clone, Debug, Default)]
pub struct Pending(Arc<AtomicUsize>);

/// One counted [`Pending`] slot, freed when dropped.
#[derive(Debug)]
pub struct PendingSlot(Arc<AtomicUsize>);

impl Pending {
    /// A slot, or `None` if [`MAX_PENDING_ACCEPTS`] are taken.
    pub fn try_take(&self) -> Option<PendingSlot> {
        self.0
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < MAX_PENDING_ACCEPTS).then_some(n + 1)
            })
            .ok()
            .map(|_| PendingSlot(self.0.clone()))
    }

    /// Slots taken now.
    pub fn len(&self) -> usize {
        self.0.load(Ordering::Acquire)
    }

    /// Whether no slot is taken.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Drop for PendingSlot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// What the driver does with a new `quinn::Incoming`: refuses it when [`Pending`] is full,
/// else returns the slot to hand to [`accept`].
pub fn admit(
    incoming: quinn::Incoming,
    pending: &Pending,
) -> Option<(quinn::Incoming, PendingSlot)> {
    match pending.try_take() {
        Some(slot) => Some((incoming, slot)),
        None => {
            incoming.refuse();
            None
        }
    }
}

/// Completes an inbound connection and waits for the peer's stream, giving up when
/// `deadline` (the runtime's timer for the core's `handshake_timeout`) fires first. `None`
/// if the connection failed or timed out (it is then closed); the slot is freed either way.
pub async fn accept(
    incoming: quinn::Incoming,
    slot: PendingSlot,
    deadline: impl Future<Output = ()>,
) -> Option<(SocketAddr, QuicStream)> {
    let remote = incoming.remote_address();
    let accept = async {
        let conn = incoming.await.ok()?;
        let (send, recv) = conn.accept_bi().await.ok()?;
        Some((remote, QuicStream { conn, send, recv }))
    };
    let timeout = async {
        deadline.await;
        None
    };
    let r = futures_lite::future::or(accept, timeout).await;
    drop(slot);
    r
}

/// Reads the stream and reports each chunk, then how it ended, with `report` (which says
/// whether the driver still listens). The driver runs it in the connection's reader task.
pub(crate) async fn read_loop<S>(
    mut recv: quinn::RecvStream,
    conn: ConnId,
    mut report: impl FnMut(Io<S>) -> bool,
) {
    let mut buf = vec![0u8; READ_CHUNK];
    loop {
        let (msg, last) = match recv.read(&mut buf).await {
            Ok(None) => (Io::Closed(conn, IoFailure::Eof), true),
            Ok(Some(n)) => (Io::Data(conn, buf[..n].to_vec()), false),
            Err(e) => (Io::Closed(conn, read_failure(&e)), true),
        };
        if !report(msg) || last {
            return;
        }
    }
}

/// Writes what the driver queues on `rx` until the driver drops its sender (the node closed
/// the connection); then finishes the stream, waits until the peer has it all (bounded by
/// the idle timeout) and closes the connection with [`CLOSE_OK`]. A failed write is
/// reported with `report`. The driver runs it in the connection's writer task.
pub(crate) async fn write_loop<S>(
    stream: (quinn::Connection, quinn::SendStream),
    rx: async_channel::Receiver<Vec<u8>>,
    conn: ConnId,
    report: impl FnOnce(Io<S>) -> bool,
) {
    let (quic, mut send) = stream;
    while let Ok(bytes) = rx.recv().await {
        if let Err(e) = send.write_all(&bytes).await {
            report(Io::Closed(conn, write_failure(&e)));
            quic.close(VarInt::from_u32(CLOSE_OK), b"");
            return;
        }
    }
    let _ = send.finish();
    let _ = send.stopped().await;
    quic.close(VarInt::from_u32(CLOSE_OK), b"");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pending_is_bounded_at_the_limit() {
        let p = Pending::default();
        let slots: Vec<_> = (0..MAX_PENDING_ACCEPTS)
            .map(|_| p.try_take().expect("below the limit"))
            .collect();
        assert_eq!(p.len(), MAX_PENDING_ACCEPTS);
        assert!(p.try_take().is_none(), "one past the limit is refused");
        drop(slots);
        assert!(p.is_empty());
        assert!(p.try_take().is_some());
    }

    #[test]
    fn idle_timeout_outlasts_the_core_inactivity_handling() {
        let c = Config::default();
        let p = &c.network.peers;
        assert_eq!(
            idle_timeout(&c),
            p.inactivity_timeout + p.disconnect_timeout + IDLE_SLACK
        );
        assert!(idle_timeout(&c) > p.inactivity_timeout + p.disconnect_timeout);
        transport_config(&c).expect("valid transport parameters");
    }

    #[test]
    fn configs_are_tls13_with_a_fresh_certificate() {
        let (a, _) = self_signed().expect("certificate");
        let (b, _) = self_signed().expect("certificate");
        assert_ne!(a, b, "each node makes its own certificate");
        configs(&Config::default()).expect("configs");
    }

    #[test]
    fn clean_close_is_eof_and_others_are_not() {
        let ok = ConnectionError::ApplicationClosed(quinn::ApplicationClose {
            error_code: VarInt::from_u32(CLOSE_OK),
            reason: Default::default(),
        });
        assert_eq!(failure(&ok), IoFailure::Eof);
        let other = ConnectionError::ApplicationClosed(quinn::ApplicationClose {
            error_code: VarInt::from_u32(7),
            reason: Default::default(),
        });
        assert_eq!(failure(&other), IoFailure::Reset);
        assert_eq!(failure(&ConnectionError::TimedOut), IoFailure::TimedOut);
    }
}
