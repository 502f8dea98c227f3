use super::*;
use qudag_peer::{DEFAULT_BOOTSTRAP_NODES, DEFAULT_DNS_SEEDS, MAX_MAX_CONNECTIONS};
use std::time::Duration;

/// The file of spec section 8, verbatim.
const SPEC_EXAMPLE: &str = r#"[network.peers]
# Maximum number of peer connections
max_connections = 50

# Minimum number of peer connections to maintain
min_connections = 5

# Connection timeout in seconds
connection_timeout = 10

# Handshake timeout in seconds
handshake_timeout = 5

# Peer discovery interval in seconds
discovery_interval = 300

# Bootstrap nodes
bootstrap_nodes = [
"bootstrap1.qudag.network:8000",
"bootstrap2.qudag.network:8000",
"bootstrap3.qudag.network:8000"
]

# DNS seeds for peer discovery
dns_seeds = [
"seed.qudag.network",
"nodes.qudag.network"
]

[network.reputation]
# Minimum reputation for message relay
min_relay_reputation = 30

# Minimum reputation for consensus participation
min_consensus_reputation = 50

# Auto-disconnect threshold
auto_disconnect_threshold = 20

# Auto-ban threshold
auto_ban_threshold = 10

# Reputation decay rate (per day)
decay_rate = 0.1
"#;

fn err(text: &str) -> ConfigError {
    match from_toml_str(text) {
        Ok(c) => panic!("accepted {text:?}: {c:?}"),
        Err(e) => e,
    }
}

/// Asserts the error names `key` at `line` and its message contains `needle`.
fn assert_err(text: &str, key: &str, line: usize, needle: &str) -> ConfigError {
    let e = err(text);
    assert_eq!(e.key.as_deref(), Some(key), "{e}");
    assert_eq!(e.line, Some(line), "{e}");
    assert!(e.to_string().contains(needle), "{e:?} lacks {needle:?}");
    e
}

#[test]
fn spec_example_parses_to_spec_values() {
    let c = from_toml_str(SPEC_EXAMPLE).unwrap();
    let p = &c.node.network.peers;
    let r = &c.node.network.reputation;
    assert_eq!(p.max_connections, 50);
    assert_eq!(p.min_connections, 5);
    assert_eq!(p.connection_timeout, Duration::from_secs(10));
    assert_eq!(p.handshake_timeout, Duration::from_secs(5));
    assert_eq!(p.discovery_interval, Duration::from_secs(300));
    assert_eq!(p.bootstrap_nodes, DEFAULT_BOOTSTRAP_NODES);
    assert_eq!(p.dns_seeds, DEFAULT_DNS_SEEDS);
    assert_eq!(r.min_relay_reputation, 30);
    assert_eq!(r.min_consensus_reputation, 50);
    assert_eq!(r.auto_disconnect_threshold, 20);
    assert_eq!(r.auto_ban_threshold, 10);
    assert_eq!(r.decay_rate, 0.1);
    // The spec's values are the defaults.
    assert_eq!(c, ConfigFile::default());
}

#[test]
fn empty_file_and_default_toml_are_defaults() {
    assert_eq!(from_toml_str("").unwrap(), ConfigFile::default());
    assert_eq!(
        from_toml_str("# nothing\n\n").unwrap(),
        ConfigFile::default()
    );
    assert_eq!(from_toml_str("[network]\n").unwrap(), ConfigFile::default());
    let text = default_toml();
    assert_eq!(from_toml_str(&text).unwrap(), ConfigFile::default());
    // Every key is in the example, set or commented out.
    let mut keys = known_keys(&Config::default());
    keys.extend(known_keys(&CliSections::default()));
    assert!(keys.len() >= 32, "{keys:?}");
    for key in keys {
        let leaf = key.last().unwrap();
        assert!(text.contains(leaf.as_str()), "default_toml lacks {key:?}");
    }
    // The commented-out examples are valid too.
    let uncommented = text
        .replace("# dns_resolver", "dns_resolver")
        .replace("# quic_listen", "quic_listen")
        .replace("# proxy =", "proxy =");
    let c = from_toml_str(&uncommented).unwrap();
    assert_eq!(
        c.node.network.dns_resolver,
        Some("192.0.2.53:53".parse().unwrap())
    );
    assert_eq!(
        c.node.network.proxy,
        Some("127.0.0.1:9050".parse().unwrap())
    );
    assert_eq!(
        c.node.network.quic_listen,
        Some("0.0.0.0:8001".parse().unwrap())
    );
}

#[test]
fn every_key_is_read() {
    let text = r#"
[network]
listen = "[2001:db8::1]:9000"
quic_listen = "[2001:db8::1]:9001"
dns_resolver = "192.0.2.53"
proxy = "127.0.0.1:9050"
proxy_all = true
allow_private_addresses = true

[network.peers]
max_connections = 10000
min_connections = 0
connection_timeout = 1
handshake_timeout = 86400
discovery_interval = 60
bootstrap_nodes = []
use_default_bootstrap = false
dns_seeds = ["seed.example.org"]
ping_interval = 10
inactivity_timeout = 11
disconnect_timeout = 2
max_clock_skew = 0

[network.reputation]
min_relay_reputation = 100
min_consensus_reputation = 0
auto_disconnect_threshold = 40
auto_ban_threshold = 40
decay_rate = 1
ban_duration = 3600
"#;
    let c = from_toml_str(text).unwrap();
    let n = &c.node.network;
    assert_eq!(n.listen, "[2001:db8::1]:9000".parse().unwrap());
    assert_eq!(n.quic_listen, Some("[2001:db8::1]:9001".parse().unwrap()));
    assert_eq!(n.dns_resolver, Some("192.0.2.53:53".parse().unwrap()));
    assert_eq!(n.proxy, Some("127.0.0.1:9050".parse().unwrap()));
    assert!(n.proxy_all && n.allow_private_addresses);
    let p = &n.peers;
    assert_eq!(
        (p.max_connections, p.min_connections),
        (MAX_MAX_CONNECTIONS, 0)
    );
    assert_eq!(p.connection_timeout, Duration::from_secs(1));
    assert_eq!(p.handshake_timeout, Duration::from_secs(86_400));
    assert_eq!(p.discovery_interval, Duration::from_secs(60));
    assert!(p.bootstrap_nodes.is_empty() && !p.use_default_bootstrap);
    assert_eq!(p.dns_seeds, ["seed.example.org"]);
    assert_eq!(p.ping_interval, Duration::from_secs(10));
    assert_eq!(p.inactivity_timeout, Duration::from_secs(11));
    assert_eq!(p.disconnect_timeout, Duration::from_secs(2));
    assert_eq!(p.max_clock_skew, Duration::ZERO);
    let r = &n.reputation;
    assert_eq!(r.min_relay_reputation, 100);
    assert_eq!(r.min_consensus_reputation, 0);
    assert_eq!(
        (r.auto_disconnect_threshold, r.auto_ban_threshold),
        (40, 40)
    );
    assert_eq!(r.decay_rate, 1.0);
    assert_eq!(r.ban_duration, Duration::from_secs(3600));
    // Empty strings mean "none" for the optional addresses.
    let c = from_toml_str("[network]\ndns_resolver = \"\"\nproxy = \"\"\n").unwrap();
    assert_eq!(
        (c.node.network.dns_resolver, c.node.network.proxy),
        (None, None)
    );
    // Dotted keys and inline tables are the same keys.
    let c = from_toml_str("network.peers.max_connections = 7\n").unwrap();
    assert_eq!(c.node.network.peers.max_connections, 7);
    let c = from_toml_str("[network]\npeers = { min_connections = 2 }\n").unwrap();
    assert_eq!(c.node.network.peers.min_connections, 2);
}

#[test]
fn metrics_section() {
    let d = ConfigFile::default().metrics;
    assert!(d.enabled && !d.is_exposed());
    assert_eq!(d.listen, "127.0.0.1:9184".parse().unwrap());
    let c = from_toml_str("[metrics]\nenabled = false\nlisten = \"0.0.0.0:9100\"\n").unwrap();
    assert!(!c.metrics.enabled && c.metrics.is_exposed());
    assert_eq!(c.metrics.listen, "0.0.0.0:9100".parse().unwrap());
    let c = from_toml_str("metrics.listen = \"[::1]:0\"\n").unwrap();
    assert!(!c.metrics.is_exposed());
    assert_eq!(c.node.network, Config::default().network);
    assert_err(
        "[metrics]\nlisten = \"localhost:9184\"\n",
        "metrics.listen",
        2,
        "expected a socket address",
    );
    assert_err(
        "\n[metrics]\nenabled = \"yes\"\n",
        "metrics.enabled",
        3,
        "expected a boolean",
    );
    assert_err("metrics = 3\n", "metrics", 1, "expected a table");
    assert_err(
        "[metrics]\nlisten = 5\n",
        "metrics.listen",
        2,
        "metrics.listen = 5: expected a socket address like \"0.0.0.0:8000\" (ip:port, IPv6 in brackets), found an integer",
    );
}

#[test]
fn display_format() {
    let e = err("[network.peers]\n\n\nmax_connections = 0\n");
    assert_eq!(
        e.to_string(),
        "config.toml line 4, column 19: network.peers.max_connections = 0: must be between 1 and 10000"
    );
}

#[test]
fn unknown_keys_in_each_section() {
    assert_err("netwrk = 1\n", "netwrk", 1, "did you mean network?");
    assert_err(
        "[network]\nlisten = \"0.0.0.0:1\"\nlisen = 1\n",
        "network.lisen",
        3,
        "did you mean network.listen?",
    );
    assert_err(
        "[network.peers]\nmax_conections = 3\n",
        "network.peers.max_conections",
        2,
        "unknown key (did you mean network.peers.max_connections?)",
    );
    assert_err(
        "\n[network.reputation]\ndecay = 0.5\n",
        "network.reputation.decay",
        3,
        "unknown key",
    );
    // Right key, wrong table.
    assert_err(
        "[network.peers]\nban_duration = 5\n",
        "network.peers.ban_duration",
        2,
        "did you mean network.reputation.ban_duration?",
    );
    // Nothing close: no suggestion.
    let e = assert_err(
        "[network.peers]\nzzzzzzzz = 5\n",
        "network.peers.zzzzzzzz",
        2,
        "unknown key",
    );
    assert_eq!(e.message, "unknown key");
    // Unknown tables.
    assert_err(
        "[network.peer]\nmax_connections = 3\n",
        "network.peer",
        1,
        "did you mean network.peers?",
    );
    assert_err("[metric]\n", "metric", 1, "did you mean metrics?");
    assert_err(
        "[metrics]\nlistn = \"127.0.0.1:1\"\n",
        "metrics.listn",
        2,
        "did you mean metrics.listen?",
    );
    // A quoted key with a dot is not a path.
    assert_err(
        "[network]\n\"peers.max_connections\" = 3\n",
        "network.peers.max_connections",
        2,
        "unknown key",
    );
}

#[test]
fn wrong_types() {
    assert_err(
        "[network.peers]\nconnection_timeout = \"10\"\n",
        "network.peers.connection_timeout",
        2,
        "network.peers.connection_timeout = \"10\": expected an integer number of seconds, found a string",
    );
    assert_err(
        "[network.peers]\nhandshake_timeout = 2.5\n",
        "network.peers.handshake_timeout",
        2,
        "expected an integer number of seconds, found a float",
    );
    assert_err(
        "[network.peers]\nmax_connections = true\n",
        "network.peers.max_connections",
        2,
        "expected an integer, found a boolean",
    );
    assert_err(
        "[network]\nproxy_all = \"yes\"\n",
        "network.proxy_all",
        2,
        "expected a boolean (true or false), found a string",
    );
    assert_err(
        "[network.reputation]\ndecay_rate = \"0.1\"\n",
        "network.reputation.decay_rate",
        2,
        "expected a number, found a string",
    );
    assert_err(
        "[network.reputation]\nauto_ban_threshold = 1.5\n",
        "network.reputation.auto_ban_threshold",
        2,
        "expected an integer, found a float",
    );
    assert_err(
        "[network.peers]\ndns_seeds = \"seed.example.org\"\n",
        "network.peers.dns_seeds",
        2,
        "expected an array of strings, found a string",
    );
    // The line of the offending element.
    assert_err(
        "[network.peers]\nbootstrap_nodes = [\n  \"192.0.2.1:8000\",\n  8000,\n]\n",
        "network.peers.bootstrap_nodes",
        4,
        // The element's own position and value.
        "= 8000: expected a string, found an integer",
    );
    assert_err(
        "[network.peers]\ndns_seeds = [\"\"]\n",
        "network.peers.dns_seeds",
        2,
        "must not be empty",
    );
    assert_err(
        "network = 5\n",
        "network",
        1,
        "expected a table, found an integer",
    );
    assert_err(
        "[network]\npeers = 5\n",
        "network.peers",
        2,
        "expected a table, found an integer",
    );
    assert_err(
        "[network.peers]\nmax_clock_skew = 1979-05-27\n",
        "network.peers.max_clock_skew",
        2,
        "found a datetime",
    );
    assert_err(
        "[network]\nlisten = 8000\n",
        "network.listen",
        2,
        "expected a socket address",
    );
}

#[test]
fn bad_socket_addresses() {
    assert_err(
        "[network]\nlisten = \"0.0.0.0:1\"\n\nquic_listen = \"0.0.0.0\"\n",
        "network.quic_listen",
        4,
        "network.quic_listen = \"0.0.0.0\": expected a socket address",
    );
    assert_err(
        "[network]\nquic_listen = 8001\n",
        "network.quic_listen",
        2,
        "expected a socket address",
    );
    assert_err(
        "[network]\nlisten = \"localhost:8000\"\n",
        "network.listen",
        2,
        "network.listen = \"localhost:8000\": expected a socket address",
    );
    assert_err(
        "[network]\nlisten = \"0.0.0.0\"\n",
        "network.listen",
        2,
        "expected a socket address",
    );
    assert_err(
        "[network]\nlisten = \"0.0.0.0:70000\"\n",
        "network.listen",
        2,
        "expected a socket address",
    );
    assert_err(
        "[network]\nlisten = \"2001:db8::1:8000\"\n",
        "network.listen",
        2,
        "IPv6 in brackets",
    );
    assert_err(
        "[network]\nproxy = \"127.0.0.1\"\n",
        "network.proxy",
        2,
        "expected a socket address",
    );
    assert_err(
        "[network]\ndns_resolver = \"resolver\"\n",
        "network.dns_resolver",
        2,
        "port may be left out",
    );
}

#[test]
fn each_range_rule() {
    let peers = |kv: &str| format!("[network.peers]\n{kv}\n");
    let rep = |kv: &str| format!("[network.reputation]\n{kv}\n");
    assert_err(
        &peers("max_connections = 0"),
        "network.peers.max_connections",
        2,
        "must be between 1 and 10000",
    );
    assert_err(
        &peers("max_connections = 10001"),
        "network.peers.max_connections",
        2,
        "= 10001: must be between 1 and 10000",
    );
    assert_err(
        &peers("max_connections = -1"),
        "network.peers.max_connections",
        2,
        "= -1: must be between 1 and 10000",
    );
    assert!(from_toml_str(&peers("max_connections = 10000")).is_ok());
    assert!(from_toml_str(&peers("max_connections = 1\nmin_connections = 1")).is_ok());
    assert_err(
        &peers("max_connections = 10\nmin_connections = 11"),
        "network.peers.min_connections",
        3,
        "must be at most max_connections",
    );
    // min_connections left at its default (5): the error names max_connections.
    assert_err(
        &peers("max_connections = 4"),
        "network.peers.max_connections",
        2,
        "must be at least min_connections (5)",
    );
    assert_err(
        &peers("min_connections = -1"),
        "network.peers.min_connections",
        2,
        "= -1: must not be negative",
    );
    for key in [
        "connection_timeout",
        "handshake_timeout",
        "discovery_interval",
        "ping_interval",
        "disconnect_timeout",
    ] {
        let dotted = format!("network.peers.{key}");
        assert_err(
            &peers(&format!("{key} = 0")),
            &dotted,
            2,
            "must be between 1 and 86400 seconds",
        );
        assert_err(
            &peers(&format!("{key} = -3")),
            &dotted,
            2,
            "= -3: must be between 1 and 86400 seconds",
        );
        let over = format!("[network.peers]\ninactivity_timeout = 90000\n{key} = 86401\n");
        assert_err(
            &over,
            &dotted,
            3,
            "= 86401: must be between 1 and 86400 seconds",
        );
        let at = format!("[network.peers]\ninactivity_timeout = 90000\n{key} = 86400\n");
        assert!(from_toml_str(&at).is_ok(), "{key}");
    }
    assert_err(
        &peers("ping_interval = 30\ninactivity_timeout = 30"),
        "network.peers.inactivity_timeout",
        3,
        "must be greater than ping_interval",
    );
    // inactivity_timeout left at its default (90): the error names ping_interval.
    assert_err(
        &peers("ping_interval = 90"),
        "network.peers.ping_interval",
        2,
        "must be less than inactivity_timeout (90)",
    );
    assert_err(
        &peers("max_clock_skew = -1"),
        "network.peers.max_clock_skew",
        2,
        "must not be negative",
    );
    assert_err(
        &rep("ban_duration = -1"),
        "network.reputation.ban_duration",
        2,
        "must not be negative",
    );
    for key in [
        "min_relay_reputation",
        "min_consensus_reputation",
        "auto_disconnect_threshold",
        "auto_ban_threshold",
    ] {
        let dotted = format!("network.reputation.{key}");
        assert_err(
            &rep(&format!("{key} = 101")),
            &dotted,
            2,
            "= 101: must be between 0 and 100",
        );
        assert_err(
            &rep(&format!("{key} = -1")),
            &dotted,
            2,
            "= -1: must be between 0 and 100",
        );
        assert_err(
            &rep(&format!("{key} = 99999999999")),
            &dotted,
            2,
            "must be between 0 and 100",
        );
    }
    assert!(from_toml_str(&rep("min_relay_reputation = 100")).is_ok());
    assert_err(
        &rep("auto_disconnect_threshold = 30\nauto_ban_threshold = 31"),
        "network.reputation.auto_ban_threshold",
        3,
        "must be at most auto_disconnect_threshold",
    );
    assert_err(
        &rep("auto_disconnect_threshold = 5"),
        "network.reputation.auto_disconnect_threshold",
        2,
        "must be at least auto_ban_threshold (10)",
    );
    assert_err(
        &rep("decay_rate = 1.5"),
        "network.reputation.decay_rate",
        2,
        "= 1.5: must be between 0.0 and 1.0",
    );
    assert_err(
        &rep("decay_rate = -0.1"),
        "network.reputation.decay_rate",
        2,
        "must be between 0.0 and 1.0",
    );
    assert_err(
        &rep("decay_rate = nan"),
        "network.reputation.decay_rate",
        2,
        "must be between 0.0 and 1.0",
    );
    assert!(from_toml_str(&rep("decay_rate = 0")).is_ok());
}

#[test]
fn syntax_errors_have_lines() {
    for (text, line) in [
        ("[network.peers]\nmax_connections = \n", 2),
        ("[network.peers\n", 1),
        ("\n\n[network]\nlisten = \"0.0.0.0:8000\n", 4),
        ("[network]\nproxy_all = true\nproxy_all = false\n", 3),
    ] {
        let e = err(text);
        assert_eq!(e.key, None, "{e}");
        assert_eq!(e.line, Some(line), "{text:?}: {e}");
        assert!(
            e.to_string()
                .starts_with(&format!("config.toml line {line}, column ")),
            "{e}"
        );
        assert!(e.to_string().contains(": TOML syntax error: "), "{e}");
    }
}

#[test]
fn limits() {
    let list = |n: usize| {
        let items: Vec<String> = (0..n).map(|i| format!("\"s{i}.example\"")).collect();
        format!("[network.peers]\ndns_seeds = [{}]\n", items.join(","))
    };
    let c = from_toml_str(&list(MAX_CONFIG_LIST_LEN)).unwrap();
    assert_eq!(c.node.network.peers.dns_seeds.len(), MAX_CONFIG_LIST_LEN);
    assert_err(
        &list(MAX_CONFIG_LIST_LEN + 1),
        "network.peers.dns_seeds",
        2,
        "at most 1024 entries",
    );

    let mut text = String::from("# padding\n");
    text.push_str(&" ".repeat(MAX_CONFIG_TEXT_LEN - text.len()));
    assert_eq!(text.len(), MAX_CONFIG_TEXT_LEN);
    assert_eq!(from_toml_str(&text).unwrap(), ConfigFile::default());
    text.push(' ');
    let e = err(&text);
    assert_eq!((e.key, e.line), (None, None));
}

#[test]
fn proxy_credentials() {
    let c = from_toml_str(
        "[network]\nproxy = \"127.0.0.1:9050\"\nproxy_username = \"u\"\nproxy_password = \"p\"\n",
    )
    .unwrap();
    let creds = c.node.network.proxy_credentials().unwrap();
    assert_eq!((&*creds.username, &*creds.password), ("u", "p"));
    assert_eq!(Config::default().network.proxy_credentials(), None);
    // Empty strings mean none.
    let c = from_toml_str("[network]\nproxy_username = \"\"\nproxy_password = \"\"\n").unwrap();
    assert_eq!(c, ConfigFile::default());
    assert_err(
        "[network]\nproxy_username = \"u\"\n",
        "network.proxy_username",
        2,
        "network.proxy_username = \"u\": must be set together with proxy_password",
    );
    let e = assert_err(
        "[network]\n\nproxy_password = \"hunter2\"\n",
        "network.proxy_password",
        3,
        "network.proxy_password = <hidden>: must be set together with proxy_username",
    );
    assert!(!e.to_string().contains("hunter2"), "{e}");
    let long = "x".repeat(256);
    let e = assert_err(
        &format!("[network]\nproxy_username = \"u\"\nproxy_password = \"{long}\"\n"),
        "network.proxy_password",
        3,
        "must be 1 to 255 bytes",
    );
    assert!(!e.to_string().contains(&long), "{e}");
    assert_err(
        &format!("[network]\nproxy_username = \"{long}\"\nproxy_password = \"p\"\n"),
        "network.proxy_username",
        2,
        "must be 1 to 255 bytes",
    );
    assert_err(
        "[network]\nproxy_username = 5\n",
        "network.proxy_username",
        2,
        "expected a string, found an integer",
    );
    assert_err(
        "[network]\nproxy_usrname = \"u\"\n",
        "network.proxy_usrname",
        2,
        "did you mean network.proxy_username?",
    );
}

#[test]
fn unknown_implicit_table_has_a_line() {
    assert_err(
        "# x\n[netwrk.peers]\nmax_connections = 1\n",
        "netwrk",
        2,
        "did you mean network?",
    );
}

proptest::proptest! {
    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,200}") {
        let _ = from_toml_str(&text);
    }

    #[test]
    fn edited_default_never_panics(at in 0usize..4000, insert in "[ -~\n]{0,12}") {
        let mut text = default_toml();
        let at = at.min(text.len());
        if text.is_char_boundary(at) {
            text.insert_str(at, &insert);
        }
        if let Err(e) = from_toml_str(&text) {
            let _ = e.to_string();
        }
    }
}

#[test]
fn suggestions() {
    let path = |s: &str| s.split('.').map(String::from).collect::<Vec<_>>();
    assert_eq!(
        suggest(&path("network.peers.max_conection")).as_deref(),
        Some("network.peers.max_connections")
    );
    assert_eq!(suggest(&path("network.peers.xyz")), None);
}
