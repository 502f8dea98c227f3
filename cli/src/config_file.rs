//! The configuration file (`config.toml`): the core's [`Config`] plus the CLI's own `[metrics]`
//! section, read with `toml` + `serde` and turned into one-line errors that name the line and
//! column, the dotted key, the value as written and what is allowed.
//!
//! Nothing here knows the keys: every section of [`Config`] and [`MetricsConfig`] is loaded by
//! its serde derive, unknown keys are found by `serde_ignored` (and by `deny_unknown_fields`
//! in the core's sections), suggestions come from the serde field names of the default
//! configuration (serialized), and range rules are [`Config::validate`]'s. A section added to
//! `Config` is read, checked and suggested with no change here.

use qudag_peer::Config;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::SocketAddr;
use std::ops::Range;
use std::path::Path;

/// The longest configuration text [`from_toml_str`] accepts, in bytes (1 MiB).
pub const MAX_CONFIG_TEXT_LEN: usize = 1 << 20;

pub use qudag_peer::MAX_CONFIG_LIST_LEN;

/// The default address of the metrics endpoint and dashboard, `127.0.0.1:9184` (loopback:
/// peer data stays on the machine unless the operator configures another address).
pub const DEFAULT_METRICS_LISTEN: &str = "127.0.0.1:9184";

/// The file name used in error messages.
const FILE_NAME: &str = "config.toml";

/// The whole file: the node's configuration and the CLI's own sections.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ConfigFile {
    /// Everything the core reads (`[network]`, ...).
    pub node: Config,
    /// `[metrics]`.
    pub metrics: MetricsConfig,
}

/// The sections the CLI reads itself (next to the core's, in the same file).
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default)]
struct CliSections {
    metrics: MetricsConfig,
}

/// `[metrics]`: the node's Prometheus endpoint and live dashboard.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct MetricsConfig {
    /// `enabled`: serve `/metrics` and the dashboard. Default true.
    pub enabled: bool,
    /// `listen`: the address to serve them on. Default `127.0.0.1:9184`; port 0 lets the OS
    /// pick one. Another interface than loopback is used only when configured here.
    #[serde(deserialize_with = "socket", serialize_with = "display")]
    pub listen: SocketAddr,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig {
            enabled: true,
            listen: DEFAULT_METRICS_LISTEN
                .parse()
                .expect("constant address parses"),
        }
    }
}

impl MetricsConfig {
    /// Whether `listen` is reachable from other machines (not a loopback address).
    pub fn is_exposed(&self) -> bool {
        !self.listen.ip().is_loopback()
    }
}

fn socket<'de, D: serde::Deserializer<'de>>(d: D) -> Result<SocketAddr, D::Error> {
    const EXPECTED: &str = "a socket address like \"0.0.0.0:8000\" (ip:port, IPv6 in brackets)";
    struct Socket;
    impl serde::de::Visitor<'_> for Socket {
        type Value = SocketAddr;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(EXPECTED)
        }
        fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<SocketAddr, E> {
            s.parse()
                .map_err(|_| E::custom(format_args!("expected {EXPECTED}")))
        }
    }
    d.deserialize_str(Socket)
}

fn display<S: serde::Serializer>(a: &SocketAddr, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(a)
}

/// Why a configuration file was rejected.
///
/// Displays as `config.toml line 4, column 19: network.peers.max_connections = 0: must be
/// between 1 and 10000`; the position and key parts are left out when unknown.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConfigError {
    /// The dotted key at fault, e.g. `network.peers.max_connections`; `None` for syntax errors.
    pub key: Option<String>,
    /// The 1-based line of the offending key or value, when known.
    pub line: Option<usize>,
    /// The 1-based column (in characters) of the offending key or value, when known.
    pub column: Option<usize>,
    /// The offending value as written in the file (for type and range errors).
    pub value: Option<String>,
    /// What is wrong, e.g. `must be between 1 and 10000` or `unknown key (did you mean ...?)`.
    pub message: String,
}

impl std::error::Error for ConfigError {}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(FILE_NAME)?;
        self.fmt_rest(f)
    }
}

impl ConfigError {
    /// Everything after the file name: ` line L, column C: key = value: message`.
    fn fmt_rest(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(line) = self.line {
            write!(f, " line {line}")?;
            if let Some(column) = self.column {
                write!(f, ", column {column}")?;
            }
        }
        f.write_str(": ")?;
        if let Some(key) = &self.key {
            f.write_str(key)?;
            if let Some(value) = &self.value {
                write!(f, " = {value}")?;
            }
            f.write_str(": ")?;
        }
        f.write_str(&self.message)
    }

    /// The error as the operator sees it for the file at `path` whose text is `text`: one
    /// line, `config file PATH line L, column C: ...`; an unknown key on a `[header]` line is
    /// called a section.
    pub fn in_file(&self, path: &Path, text: &str) -> String {
        struct Rest<'a>(&'a ConfigError);
        impl fmt::Display for Rest<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt_rest(f)
            }
        }
        let mut e = self.clone();
        let header = e
            .line
            .and_then(|l| text.lines().nth(l.saturating_sub(1)))
            .is_some_and(|l| l.trim_start().starts_with('['));
        if header {
            if let Some(rest) = e.message.strip_prefix("unknown key") {
                e.message = format!("unknown section{rest}");
            }
        }
        format!("config file {}{}", path.display(), Rest(&e))
    }
}

/// Parses a configuration file's text (the format of spec section 8, documented key by key in
/// `docs/CONFIG.md`). Missing keys take their defaults; empty text is the default
/// configuration. The result has passed [`Config::validate`].
///
/// Errors name the dotted key, the line and column and, for range errors, what is allowed:
/// TOML syntax errors, unknown keys (with a suggestion when one is close), values of the wrong
/// type, unparsable socket addresses, and out-of-range values.
pub fn from_toml_str(text: &str) -> Result<ConfigFile, ConfigError> {
    if text.len() > MAX_CONFIG_TEXT_LEN {
        return Err(ConfigError {
            key: None,
            line: None,
            column: None,
            value: None,
            message: format!(
                "the file is {} bytes; at most {MAX_CONFIG_TEXT_LEN} are read",
                text.len()
            ),
        });
    }
    // 1. Syntax, and where each key is.
    let keys = match toml::from_str::<Keys>(text) {
        Ok(k) => k,
        Err(e) => {
            let (line, column) = position(text, e.span());
            return Err(ConfigError {
                key: None,
                line,
                column,
                value: None,
                message: format!("TOML syntax error: {}", one_line(e.message())),
            });
        }
    };
    let loader = Loader { text, keys };
    // 2. The typed sections; unknown keys first (a typo explains the rest).
    let mut ignored = Vec::new();
    let node = serde_ignored::deserialize(toml::Deserializer::new(text), |p| {
        ignored.push(segments(&p))
    });
    let cli = CliSections::deserialize(toml::Deserializer::new(text));
    let cli_sections = known_keys(&CliSections::default());
    if let Some(key) = ignored
        .into_iter()
        .find(|k| k.len() != 1 || !cli_sections.iter().any(|s| s.len() == 1 && s[0] == k[0]))
    {
        return Err(loader.unknown(key));
    }
    let node: Config = node.map_err(|e| loader.serde_error(&e))?;
    let metrics = cli.map_err(|e| loader.serde_error(&e))?.metrics;
    // 3. The range rules.
    if let Err(e) = node.validate() {
        return Err(loader.range_error(&node, e));
    }
    Ok(ConfigFile { node, metrics })
}

/// The 1-based line and column of `span`'s start.
fn position(text: &str, span: Option<Range<usize>>) -> (Option<usize>, Option<usize>) {
    let Some(span) = span else {
        return (None, None);
    };
    let mut at = span.start.min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    let before = &text[..at];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
    (Some(line), Some(column))
}

/// A multi-line message from `toml` on one line.
fn one_line(message: &str) -> String {
    let lines: Vec<&str> = message
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    lines.join("; ")
}

/// A `serde_ignored` path as its segments.
fn segments(p: &serde_ignored::Path<'_>) -> Vec<String> {
    use serde_ignored::Path as P;
    match p {
        P::Root => Vec::new(),
        P::Seq { parent, index } => {
            let mut v = segments(parent);
            v.push(index.to_string());
            v
        }
        P::Map { parent, key } => {
            let mut v = segments(parent);
            v.push(key.clone());
            v
        }
        P::Some { parent } | P::NewtypeStruct { parent } | P::NewtypeVariant { parent } => {
            segments(parent)
        }
    }
}

/// Every dotted key (tables included) of `value` serialized, in field order: the serde field
/// names, where suggestions come from.
fn known_keys(value: &impl Serialize) -> Vec<Vec<String>> {
    fn walk(prefix: &[String], table: &toml::Table, out: &mut Vec<Vec<String>>) {
        for (k, v) in table {
            let mut key = prefix.to_vec();
            key.push(k.clone());
            out.push(key.clone());
            if let toml::Value::Table(t) = v {
                walk(&key, t, out);
            }
        }
    }
    let mut out = Vec::new();
    if let Ok(toml::Value::Table(t)) = toml::Value::try_from(value) {
        walk(&[], &t, &mut out);
    }
    out
}

/// Every key of the file, dotted path and where it starts, with its value for messages.
#[derive(Debug, Default)]
struct Keys(Vec<KeyAt>);

#[derive(Debug)]
struct KeyAt {
    path: Vec<String>,
    /// Where the key starts and ends.
    start: usize,
    end: usize,
    /// What kind of value it has (`a string`, `a table`...).
    kind: &'static str,
    /// The value as it would be written (short form).
    shown: String,
}

impl<'de> Deserialize<'de> for Keys {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Keys, D::Error> {
        let mut keys = Keys::default();
        serde::de::DeserializeSeed::deserialize(
            Walk {
                path: Vec::new(),
                span: 0..0,
                out: &mut keys.0,
            },
            d,
        )?;
        Ok(keys)
    }
}

/// Records the value at `path` (whose key is at `span`) and everything under it.
struct Walk<'a> {
    path: Vec<String>,
    span: Range<usize>,
    out: &'a mut Vec<KeyAt>,
}

impl Walk<'_> {
    fn leaf<E>(self, kind: &'static str, shown: String) -> Result<(), E> {
        if !self.path.is_empty() {
            self.out.push(KeyAt {
                path: self.path,
                start: self.span.start,
                end: self.span.end,
                kind,
                shown,
            });
        }
        Ok(())
    }
}

impl<'de> serde::de::DeserializeSeed<'de> for Walk<'_> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for Walk<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a TOML value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<(), E> {
        self.leaf("a boolean", v.to_string())
    }
    fn visit_i64<E>(self, v: i64) -> Result<(), E> {
        self.leaf("an integer", v.to_string())
    }
    fn visit_u64<E>(self, v: u64) -> Result<(), E> {
        self.leaf("an integer", v.to_string())
    }
    fn visit_f64<E>(self, v: f64) -> Result<(), E> {
        self.leaf("a float", v.to_string())
    }
    fn visit_str<E>(self, v: &str) -> Result<(), E> {
        self.leaf("a string", format!("{v:?}"))
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
        self.leaf("an array", "[...]".to_string())
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let Walk { path, span, out } = self;
        let mut table = true;
        while let Some(key) = map.next_key_seed(SpannedKey)? {
            let Some(key) = key else {
                // A key without a position: how `toml` hands over a datetime.
                map.next_value::<serde::de::IgnoredAny>()?;
                table = false;
                continue;
            };
            let mut sub = path.clone();
            sub.push(key.get_ref().clone());
            let at = out.len();
            map.next_value_seed(Walk {
                path: sub,
                span: key.span(),
                out: &mut *out,
            })?;
            debug_assert!(out.len() > at, "every key is recorded");
        }
        let (kind, shown) = if table {
            ("a table", "{...}")
        } else {
            ("a datetime", "<datetime>")
        };
        Walk { path, span, out }.leaf(kind, shown.to_string())
    }
}

/// A key with its position, or `None` for a key `toml` gives none (a datetime's inner field).
struct SpannedKey;

impl<'de> serde::de::DeserializeSeed<'de> for SpannedKey {
    type Value = Option<toml::Spanned<String>>;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        Ok(toml::Spanned::<String>::deserialize(d).ok())
    }
}

/// Turns `toml`/`serde`/`validate()` errors into [`ConfigError`]s with keys and positions.
struct Loader<'a> {
    text: &'a str,
    keys: Keys,
}

impl Loader<'_> {
    fn find(&self, path: &[String]) -> Option<&KeyAt> {
        self.keys.0.iter().find(|k| k.path == path)
    }

    /// The key a value error at `offset` belongs to: the last key starting at or before it.
    fn key_at(&self, offset: usize) -> Option<&KeyAt> {
        self.keys
            .0
            .iter()
            .filter(|k| k.start <= offset)
            .max_by_key(|k| (k.start, k.path.len()))
    }

    /// An error about `key`'s value, at the value (`key = value`) or else at the key.
    fn error(&self, key: &KeyAt, value: Option<String>, message: String) -> ConfigError {
        let after = self.text.get(key.end..).unwrap_or("");
        let rest = after.trim_start_matches([' ', '\t']);
        let at = match rest.strip_prefix('=') {
            Some(v) => self.text.len() - v.trim_start_matches([' ', '\t']).len(),
            None => key.start,
        };
        let (line, column) = position(self.text, Some(at..at));
        ConfigError {
            key: Some(key.path.join(".")),
            line,
            column,
            value,
            message,
        }
    }

    fn unknown(&self, path: Vec<String>) -> ConfigError {
        let message = match suggest(&path) {
            Some(s) => format!("unknown key (did you mean {s}?)"),
            None => "unknown key".to_string(),
        };
        match self.find(&path) {
            Some(k) => {
                let (line, column) = position(self.text, Some(k.start..k.end));
                ConfigError {
                    key: Some(path.join(".")),
                    line,
                    column,
                    value: None,
                    message,
                }
            }
            None => ConfigError {
                key: Some(path.join(".")),
                line: None,
                column: None,
                value: None,
                message,
            },
        }
    }

    /// A `toml`/`serde` error while reading the typed sections.
    fn serde_error(&self, e: &toml::de::Error) -> ConfigError {
        let message = one_line(e.message());
        let span = e.span();
        let key = span.as_ref().and_then(|s| self.key_at(s.start));
        let Some(key) = key else {
            let (line, column) = position(self.text, span);
            return ConfigError {
                key: None,
                line,
                column,
                value: None,
                message,
            };
        };
        let (line, column) = position(self.text, span);
        let with_pos = |mut e: ConfigError| {
            e.line = line;
            e.column = column;
            e
        };
        // `deny_unknown_fields`: "unknown field `x`, expected one of ...".
        if message.starts_with("unknown field `") {
            return with_pos(self.unknown(key.path.clone()));
        }
        // "invalid type: integer `5`, expected a string"
        if let Some(rest) = message.strip_prefix("invalid type: ") {
            if let Some((found, expected)) = rest.rsplit_once(", expected ") {
                let (kind, shown) = unexpected(found, key);
                return with_pos(self.error(
                    key,
                    Some(shown),
                    format!("expected {}, found {kind}", expected_text(expected)),
                ));
            }
        }
        // "invalid value: integer `-1`, expected usize": a number the field's type cannot hold.
        if let Some(rest) = message.strip_prefix("invalid value: integer `") {
            if let Some((n, _)) = rest.split_once('`') {
                return with_pos(self.out_of_type(key, n));
            }
        }
        with_pos(self.error(key, Some(key.shown.clone()), message))
    }

    /// An integer outside its field's type (negative, or too large): `validate()`'s rule for
    /// that key when there is one (checked with 0 or `u32::MAX` in its place), else "must not
    /// be negative" / "is too large".
    fn out_of_type(&self, key: &KeyAt, n: &str) -> ConfigError {
        let negative = n.starts_with('-');
        let rule = |replaced: i64| {
            let mut t = toml::from_str::<toml::Table>(self.text).ok()?;
            let (last, tables) = key.path.split_last()?;
            let mut at = &mut t;
            for k in tables {
                at = at.get_mut(k)?.as_table_mut()?;
            }
            at.insert(last.clone(), toml::Value::Integer(replaced));
            let c: Config = toml::Value::Table(t).try_into().ok()?;
            c.validate().err().filter(|e| e.key == key.path.join("."))
        };
        let big = i64::from(u32::MAX);
        let message = if negative {
            // A rule broken by 0 (`1 to 10000`), or a range starting at 0 (`0 to 100`).
            rule(0)
                .or_else(|| rule(big).filter(|e| e.allowed.starts_with("must be between 0 ")))
                .map_or_else(|| "must not be negative".to_string(), |e| e.allowed)
        } else {
            rule(big).map_or_else(|| "is too large".to_string(), |e| e.allowed)
        };
        self.error(key, Some(n.to_string()), message)
    }

    /// `validate()`'s error with the position and value as written. For a rule relating two
    /// keys, when the key named is not in the file (it has its default), the error names the
    /// other key, which is.
    fn range_error(&self, c: &Config, e: qudag_peer::RangeError) -> ConfigError {
        let path = |k: &str| k.split('.').map(String::from).collect::<Vec<_>>();
        let p = &c.network.peers;
        let r = &c.network.reputation;
        if self.find(&path(e.key)).is_none() {
            let swapped = match e.key {
                "network.peers.min_connections" => Some((
                    "network.peers.max_connections",
                    format!("must be at least min_connections ({})", p.min_connections),
                )),
                "network.peers.inactivity_timeout" => Some((
                    "network.peers.ping_interval",
                    format!(
                        "must be less than inactivity_timeout ({})",
                        p.inactivity_timeout.as_secs()
                    ),
                )),
                "network.reputation.auto_ban_threshold" => Some((
                    "network.reputation.auto_disconnect_threshold",
                    format!(
                        "must be at least auto_ban_threshold ({})",
                        r.auto_ban_threshold
                    ),
                )),
                _ => None,
            };
            if let Some((other, message)) = swapped {
                if let Some(k) = self.find(&path(other)) {
                    return self.error(k, Some(k.shown.clone()), message);
                }
            }
        }
        match self.find(&path(e.key)) {
            // validate() hides secrets ("<hidden>"): so do we.
            Some(k) if e.value != "<hidden>" => self.error(k, Some(k.shown.clone()), e.allowed),
            Some(k) => self.error(k, Some(e.value), e.allowed),
            None => ConfigError {
                key: Some(e.key.to_string()),
                line: None,
                column: None,
                value: Some(e.value),
                message: e.allowed,
            },
        }
    }
}

/// serde's "unexpected" part (`integer `5``, `string "x"`, `map`...) as a kind and the value
/// as written; `key` supplies what serde does not say (a datetime, a table's `{...}`).
fn unexpected(found: &str, key: &KeyAt) -> (&'static str, String) {
    let tick = |s: &str| {
        s.split_once('`')
            .and_then(|(_, r)| r.rsplit_once('`'))
            .map(|(v, _)| v.to_string())
    };
    if let Some(s) = found.strip_prefix("string ") {
        return ("a string", s.to_string());
    }
    for (prefix, kind) in [
        ("integer", "an integer"),
        ("floating point", "a float"),
        ("boolean", "a boolean"),
    ] {
        if found.starts_with(prefix) {
            return (kind, tick(found).unwrap_or_else(|| key.shown.clone()));
        }
    }
    let kind = match found {
        "sequence" => "an array",
        "map" if key.kind == "a datetime" => "a datetime",
        "map" => "a table",
        _ => key.kind,
    };
    (kind, key.shown.clone())
}

/// serde's "expected" part in the file's words (`usize` is "an integer").
fn expected_text(expected: &str) -> String {
    match expected {
        "usize" | "u8" | "u16" | "u32" | "u64" | "i64" | "i32" => "an integer".to_string(),
        "f64" | "f32" => "a number".to_string(),
        "a boolean" => "a boolean (true or false)".to_string(),
        e if e.starts_with("struct ") => "a table".to_string(),
        e => e.to_string(),
    }
}

/// The known key closest to an unknown one: the same last part in another table, else a key
/// of the same table within a small edit distance.
fn suggest(path: &[String]) -> Option<String> {
    let (leaf, table) = path.split_last()?;
    let mut known = known_keys(&Config::default());
    known.extend(known_keys(&CliSections::default()));
    if let Some(k) = known
        .iter()
        .find(|k| k.last() == Some(leaf) && k[..] != *path)
    {
        return Some(k.join("."));
    }
    known
        .iter()
        .filter(|k| k.len() == path.len() && k[..k.len() - 1] == *table)
        .map(|k| (strsim::levenshtein(leaf, &k[k.len() - 1]), k))
        .filter(|(d, _)| *d <= 3 && *d * 3 <= leaf.len())
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k.join("."))
}

/// A commented example file with every key at its default; it parses back to
/// [`ConfigFile::default`]. Sections of [`Config`] the commented template does not cover yet
/// are appended as serialized, so every key is always listed.
pub fn default_toml() -> String {
    let mut text = template();
    if let Ok(toml::Value::Table(sections)) = toml::Value::try_from(Config::default()) {
        for (name, section) in sections {
            if name != "network" {
                text.push('\n');
                if name == "limits" {
                    text.push_str(
                        "# Protocol tunables, each with its unit and bounds in docs/CONFIG.md. The defaults are\n\
                         # what the protocol was tuned with; rekey_after_* must match on both ends.\n",
                    );
                }
                let one = toml::Table::from_iter([(name, section)]);
                text.push_str(&toml::to_string(&one).unwrap_or_default());
            }
        }
    }
    text
}

/// The commented part of [`default_toml`].
fn template() -> String {
    let d = ConfigFile::default();
    let n = &d.node.network;
    let p = &n.peers;
    let r = &n.reputation;
    let list = |items: &[String]| {
        let mut s = String::from("[\n");
        for i in items {
            s.push_str(&format!("    {i:?},\n"));
        }
        s.push(']');
        s
    };
    format!(
        r#"# QuDAG node configuration (~/.qudag/config.toml). Every key is optional: a missing
# key takes the default shown here. Durations are whole seconds. See docs/CONFIG.md.

[network]
# Address to accept connections on and to advertise.
listen = "{listen}"

# UDP address ("ip:port") to accept QUIC connections on as well. Left out: no QUIC
# listener (quic:// addresses can still be dialed).
# quic_listen = "0.0.0.0:8001"

# DNS server for seeds and host names ("ip" or "ip:port", port 53 by default).
# Left out: the system resolver.
# dns_resolver = "192.0.2.53:53"

# SOCKS5 proxy ("ip:port") for .onion addresses. Left out: none.
# proxy = "127.0.0.1:9050"

# Send every outbound connection through `proxy`.
proxy_all = {proxy_all}

# Username/password authentication to the proxy (RFC 1929), each 1 to 255 bytes,
# both or neither. Left out: the proxy is offered "no authentication" only.
# proxy_username = "qudag"
# proxy_password = "secret"

# Accept private and loopback addresses from peer exchange and DNS.
allow_private_addresses = {allow_private}

[network.peers]
# Maximum number of peer connections (1..=10000)
max_connections = {max_connections}

# Minimum number of peer connections to maintain (at most max_connections)
min_connections = {min_connections}

# Connection timeout in seconds (1..=86400)
connection_timeout = {connection_timeout}

# Handshake timeout in seconds (1..=86400)
handshake_timeout = {handshake_timeout}

# Peer discovery interval in seconds (1..=86400)
discovery_interval = {discovery_interval}

# Bootstrap nodes
bootstrap_nodes = {bootstrap_nodes}

# Fall back to the built-in bootstrap nodes when bootstrap_nodes is empty
use_default_bootstrap = {use_default_bootstrap}

# DNS seeds for peer discovery (names whose TXT records list peer addresses)
dns_seeds = {dns_seeds}

# Seconds between keep-alive pings on a quiet connection (1..=86400)
ping_interval = {ping_interval}

# Seconds without any frame before disconnecting (greater than ping_interval)
inactivity_timeout = {inactivity_timeout}

# Seconds to wait for a disconnect acknowledgement (1..=86400)
disconnect_timeout = {disconnect_timeout}

# Seconds a handshake timestamp may differ from our clock
max_clock_skew = {max_clock_skew}

[network.reputation]
# Minimum reputation for message relay (0..=100)
min_relay_reputation = {min_relay}

# Minimum reputation for consensus participation (0..=100)
min_consensus_reputation = {min_consensus}

# Auto-disconnect threshold (0..=100)
auto_disconnect_threshold = {auto_disconnect}

# Auto-ban threshold (0..=100, at most auto_disconnect_threshold)
auto_ban_threshold = {auto_ban}

# Reputation decay rate (per day, 0.0..=1.0)
decay_rate = {decay_rate:?}

# Seconds an automatic ban lasts
ban_duration = {ban_duration}

[metrics]
# Serve the Prometheus endpoint (/metrics) and the live dashboard (/).
enabled = {metrics_enabled}

# Address to serve them on ("ip:port"; port 0 lets the OS pick). Loopback by default: the
# pages show peer addresses. Use another interface only behind a firewall or a proxy.
listen = "{metrics_listen}"
"#,
        listen = n.listen,
        proxy_all = n.proxy_all,
        allow_private = n.allow_private_addresses,
        max_connections = p.max_connections,
        min_connections = p.min_connections,
        connection_timeout = p.connection_timeout.as_secs(),
        handshake_timeout = p.handshake_timeout.as_secs(),
        discovery_interval = p.discovery_interval.as_secs(),
        bootstrap_nodes = list(&p.bootstrap_nodes),
        use_default_bootstrap = p.use_default_bootstrap,
        dns_seeds = list(&p.dns_seeds),
        ping_interval = p.ping_interval.as_secs(),
        inactivity_timeout = p.inactivity_timeout.as_secs(),
        disconnect_timeout = p.disconnect_timeout.as_secs(),
        max_clock_skew = p.max_clock_skew.as_secs(),
        min_relay = r.min_relay_reputation,
        min_consensus = r.min_consensus_reputation,
        auto_disconnect = r.auto_disconnect_threshold,
        auto_ban = r.auto_ban_threshold,
        decay_rate = r.decay_rate,
        ban_duration = r.ban_duration.as_secs(),
        metrics_enabled = d.metrics.enabled,
        metrics_listen = d.metrics.listen,
    )
}

#[cfg(test)]
mod tests;
