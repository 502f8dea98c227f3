//! Benchmarks for qudag-peer. Speed is measured here, never asserted in tests.
//!
//! - `cargo bench -p qudag-peer-benches --bench figures` prints every figure of
//!   `docs/BENCHMARKS.md` with the ratio to its floor, both measured in the same run;
//! - `cargo bench -p qudag-peer-benches --bench codec` is a criterion micro-benchmark per
//!   message type.
//!
//! - `cargo bench -p qudag-peer-benches --bench sockets` runs a node on real loopback sockets
//!   (Tokio and smol adapters) against a [`loader`] process.
//!
//! This library holds what the bench binaries share: timing helpers, an allocation-counting
//! allocator, the in-memory handshake pump, the process's memory and fd limit, and the loader.
#![warn(missing_docs)]

pub mod loader;

use qudag_peer::Priority;
use qudag_peer::{ConnId, Node};
use qudag_peer::{Event, Input, Output};
use std::alloc::{GlobalAlloc, Layout, System};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The system allocator, counting allocations and live bytes. A bench binary installs it with
/// `#[global_allocator] static A: Counting = Counting;` to report allocations per message and
/// heap bytes per peer.
pub struct Counting;

static ALLOCS: AtomicU64 = AtomicU64::new(0);
static ALLOCATED: AtomicU64 = AtomicU64::new(0);
static FREED: AtomicU64 = AtomicU64::new(0);

// SAFETY: every call is forwarded unchanged to `System`; only counters are added.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        ALLOCATED.fetch_add(l.size() as u64, Ordering::Relaxed);
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        FREED.fetch_add(l.size() as u64, Ordering::Relaxed);
        unsafe { System.dealloc(p, l) }
    }
}

/// Allocations so far (when [`Counting`] is the global allocator; 0 otherwise).
pub fn allocations() -> u64 {
    ALLOCS.load(Ordering::Relaxed)
}

/// Heap bytes currently allocated (when [`Counting`] is the global allocator; 0 otherwise).
pub fn live_heap_bytes() -> i64 {
    ALLOCATED.load(Ordering::Relaxed) as i64 - FREED.load(Ordering::Relaxed) as i64
}

/// This process's resident set size in bytes (`VmRSS` of `/proc/self/status`), if readable.
pub fn vm_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// CPU time (user + system) of process `pid` so far, from `/proc/PID/stat` (clock-tick
/// resolution, 10 ms here), if readable.
pub fn cpu_time(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces: fields are counted after its closing parenthesis.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let (utime, stime): (u64, u64) = (fields.get(11)?.parse().ok()?, fields.get(12)?.parse().ok()?);
    // SAFETY: sysconf reads a constant.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    (hz > 0).then(|| Duration::from_secs_f64((utime + stime) as f64 / hz as f64))
}

/// Raises the soft `RLIMIT_NOFILE` to the hard limit; returns the new soft limit.
pub fn raise_nofile_limit() -> std::io::Result<libc::rlim_t> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct passed by pointer.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        lim.rlim_cur = lim.rlim_max;
        if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(lim.rlim_cur)
}

/// Most rounds of the in-memory handshake pump (a handshake needs three).
pub const PUMP_ROUNDS: usize = 20;

/// Connects `client` to `server` in memory: `client` dials `server_addr`, `server` accepts it
/// as coming from `client_remote`, and their outputs are carried across until both report
/// `PeerConnected`. Returns the connection ids (client's, server's), or `None` if the
/// handshake did not complete within [`PUMP_ROUNDS`]. Other outputs are dropped.
pub fn connect_in_memory(
    client: &mut Node,
    server: &mut Node,
    server_addr: SocketAddr,
    client_remote: SocketAddr,
    now: Instant,
) -> Option<(ConnId, ConnId)> {
    client
        .add_peer(&server_addr.to_string(), Priority::Normal, now)
        .ok()?;
    let (mut cc, mut cs) = (None, None);
    let mut connected = 0;
    for _ in 0..PUMP_ROUNDS {
        let mut to_server = Vec::new();
        loop {
            match client.poll_output() {
                Output::Dial { conn, addr, .. } if addr == server_addr && cc.is_none() => {
                    cc = Some(conn);
                    cs = Some(server.accept(client_remote, now));
                    client.handle_input(Input::Connected { conn, now });
                }
                Output::Transmit { conn, bytes } if Some(conn) == cc => to_server.push(bytes),
                Output::Event(Event::PeerConnected { .. }) => connected += 1,
                Output::Timeout { .. } => break,
                _ => {}
            }
        }
        let (c_id, s_id) = (cc?, cs?);
        for bytes in to_server {
            let input = Input::Received {
                conn: s_id,
                data: &bytes,
                now,
            };
            server.handle_input(input);
        }
        let mut to_client = Vec::new();
        loop {
            match server.poll_output() {
                Output::Transmit { conn, bytes } if conn == s_id => to_client.push(bytes),
                Output::Event(Event::PeerConnected { .. }) => connected += 1,
                Output::Timeout { .. } => break,
                _ => {}
            }
        }
        for bytes in to_client {
            let input = Input::Received {
                conn: c_id,
                data: &bytes,
                now,
            };
            client.handle_input(input);
        }
        if connected == 2 {
            return Some((c_id, s_id));
        }
    }
    None
}

/// Runs `f` repeatedly for about `budget` (after a short warm-up) and returns the mean time per
/// call. `f` returns a value that is kept alive so the work is not optimised away.
pub fn time_per_call<T>(budget: Duration, mut f: impl FnMut() -> T) -> Duration {
    let warm = Instant::now();
    while warm.elapsed() < budget / 10 {
        std::hint::black_box(f());
    }
    let start = Instant::now();
    let mut n: u32 = 0;
    while start.elapsed() < budget || n < 3 {
        std::hint::black_box(f());
        n += 1;
    }
    start.elapsed() / n
}

/// Measures two workloads interleaved in rounds (so a noisy neighbour hits both alike) and
/// returns the median per-call times of each.
pub fn paired<A, B>(
    rounds: usize,
    budget: Duration,
    mut a: impl FnMut() -> A,
    mut b: impl FnMut() -> B,
) -> (Duration, Duration) {
    let mut ta = Vec::with_capacity(rounds);
    let mut tb = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        ta.push(time_per_call(budget, &mut a));
        tb.push(time_per_call(budget, &mut b));
    }
    ta.sort();
    tb.sort();
    (ta[rounds / 2], tb[rounds / 2])
}

/// Formats a duration in µs with two decimals.
pub fn us(d: Duration) -> String {
    format!("{:.2} µs", d.as_secs_f64() * 1e6)
}
