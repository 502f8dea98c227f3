//! The [`Runtime`] trait: what the driver needs from an async runtime, and nothing else.
//!
//! After quinn's `Runtime` (which this reuses for QUIC, timers and the clock-independent
//! parts): tasks, TCP, UDP and time. An adapter implements it on a unit struct; everything
//! that decides what to do with a socket is in [`crate::spawn`]'s driver.
//!
//! The sockets handed to [`Runtime::listener`] and [`Runtime::udp`] are bound by the driver
//! and already non-blocking; the adapter only registers them with its reactor.
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

/// An async runtime as the driver uses it. All methods must be called inside the runtime
/// (the adapter's `spawn` is, and so is every task the driver starts).
pub trait Runtime: Clone + Send + Sync + 'static {
    /// A spawned task; dropping it cancels the task.
    type Task: Send + 'static;
    /// A listening TCP socket.
    type Listener: Send + Sync + 'static;
    /// A connected TCP stream.
    type Tcp: Send + 'static;
    /// The reading half of a [`Runtime::Tcp`].
    type Reader: Send + 'static;
    /// The writing half of a [`Runtime::Tcp`].
    type Writer: Send + 'static;
    /// A UDP socket.
    type Udp: Send + Sync + 'static;

    /// This runtime as quinn knows it: QUIC endpoints, and the driver's timers.
    fn quinn(&self) -> Arc<dyn quinn::Runtime>;
    /// Runs `task` until it ends or the returned handle is dropped.
    fn spawn(&self, task: impl Future<Output = ()> + Send + 'static) -> Self::Task;
    /// Runs `task` to its end, with no handle.
    fn spawn_detached(&self, task: impl Future<Output = ()> + Send + 'static);
    /// The monotonic clock every input's `now` comes from.
    fn now(&self) -> Instant {
        Instant::now()
    }

    /// Registers a bound, non-blocking TCP listener.
    fn listener(&self, listener: std::net::TcpListener) -> io::Result<Self::Listener>;
    /// The next inbound connection and its remote address.
    fn accept(
        listener: &Self::Listener,
    ) -> impl Future<Output = io::Result<(Self::Tcp, SocketAddr)>> + Send;
    /// Connects to `addr`.
    fn connect(addr: SocketAddr) -> impl Future<Output = io::Result<Self::Tcp>> + Send;
    /// Sets `TCP_NODELAY` (best effort) and splits the stream into halves that can live in
    /// different tasks.
    fn split(tcp: Self::Tcp) -> (Self::Reader, Self::Writer);
    /// Reads into `buf` (`Ok(0)` at the end of the stream), or registers `cx` for readiness.
    /// The driver passes a buffer that lives only during this call.
    fn poll_read(
        reader: &mut Self::Reader,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>>;
    /// Writes all of `bytes`.
    fn write_all(
        writer: &mut Self::Writer,
        bytes: &[u8],
    ) -> impl Future<Output = io::Result<()>> + Send;
    /// Shuts down the writing direction (the peer reads the end of the stream).
    fn shutdown(writer: Self::Writer) -> impl Future<Output = ()> + Send;

    /// Registers a bound, non-blocking UDP socket.
    fn udp(&self, socket: std::net::UdpSocket) -> io::Result<Self::Udp>;
    /// Receives one datagram into `buf`.
    fn recv(udp: &Self::Udp, buf: &mut [u8]) -> impl Future<Output = io::Result<usize>> + Send;
    /// Sends one datagram to `to` now, or fails (`WouldBlock` included).
    fn try_send_to(udp: &Self::Udp, bytes: &[u8], to: SocketAddr) -> io::Result<usize>;
}
