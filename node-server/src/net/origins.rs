//! Which web pages may talk to a node.
//!
//! Any page a user visits can make the browser open `ws://127.0.0.1:5000/events` or send a
//! `text/plain` `POST /tx` (no preflight needed), writing permanent entries into the user's
//! ledger. Browsers say which page is asking in the `Origin` header; `nc`, `curl` and the CLI
//! send none. So a request with an `Origin` is served only when that origin is allowed:
//!
//! - the nodes' own origins: `http://ADDR:PORT` for each node of this process, and for a node
//!   bound to a loopback or unspecified address also `http://127.0.0.1:PORT`,
//!   `http://localhost:PORT` and `http://[::1]:PORT`, so a page served by any node talks to
//!   all of them;
//! - on a node bound to all addresses, a page from `http://IP:PORT` where IP is an IP literal
//!   and the very address the request was sent to (its `Host`), and PORT a node of this
//!   process: the dashboard opened by the machine's LAN address;
//! - origins the user allows with `--allow-origin URL`, and any added at run time
//!   ([`Origins::add`]).
//!
//! **DNS rebinding.** A hostile name can resolve to 127.0.0.1: the hostile page's origin and
//! its requests' `Host` then agree, and the browser sends no `Origin` at all on its
//! same-origin `GET`s. So the `Host` of a request (with an `Origin` or not) must be an IP
//! literal, `localhost`, or the host of an allowed origin; an origin equal to the `Host` is
//! accepted only under the IP-literal rule above, never for a name.

use std::collections::HashSet;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::str::FromStr;
use std::sync::RwLock;

use http::uri::Authority;

/// A web origin, `scheme://host[:port]`, normalised: lower case, the default port explicit,
/// an IPv6 host without brackets.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Origin {
    scheme: String,
    host: String,
    port: u16,
}

/// Why a string is not an origin.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "{text:?} is not a web origin (scheme://host[:port], such as http://127.0.0.1:8080): {why}"
)]
pub struct BadOrigin {
    text: String,
    why: &'static str,
}

impl Origin {
    /// The origin of `http://` + `addr`.
    pub fn http(ip: IpAddr, port: u16) -> Self {
        Self {
            scheme: "http".into(),
            host: ip.to_string(),
            port,
        }
    }

    fn named(host: &str, port: u16) -> Self {
        Self {
            scheme: "http".into(),
            host: host.into(),
            port,
        }
    }

    /// The host, lower case (an IPv6 address without brackets).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port (80 or 443 when the origin names none).
    pub fn port(&self) -> u16 {
        self.port
    }
}

/// Splits `host[:port]` (an IPv6 host in brackets) into a lower-case host and its port.
/// The URI grammar is `http`'s [`Authority`]; on top of it, an origin or a `Host` names no
/// user, an IPv6 host is an IPv6 address, and a host name is letters, digits, `.`, `-`, `_`.
fn split_authority(text: &str) -> Result<(String, Option<u16>), &'static str> {
    let authority: Authority = text.parse().map_err(|_| "not host[:port]")?;
    if authority.as_str().contains('@') {
        return Err("an origin has no user");
    }
    let bracketed = authority.host();
    let host = match bracketed.strip_prefix('[') {
        Some(rest) => {
            let v6 = rest
                .strip_suffix(']')
                .ok_or("an IPv6 address needs its ']'")?;
            v6.parse::<Ipv6Addr>()
                .map_err(|_| "not an IPv6 address in brackets")?;
            v6
        }
        None => bracketed,
    };
    if host.is_empty() {
        return Err("no host");
    }
    if !host
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b':'))
    {
        return Err("the host holds a character a host name cannot");
    }
    // What follows the host: nothing, or `:` and the port (`Authority::port` is `None` for
    // a port that does not parse, which must not pass for no port).
    let port = match &authority.as_str()[bracketed.len()..] {
        "" => None,
        after => {
            let digits = after
                .strip_prefix(':')
                .ok_or("junk after the IPv6 address")?;
            match authority.port_u16() {
                Some(p) => Some(p),
                None if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) => {
                    return Err("the port is above 65535")
                }
                None => return Err("the port is not a number"),
            }
        }
    };
    Ok((host.to_ascii_lowercase(), port))
}

impl FromStr for Origin {
    type Err = BadOrigin;

    /// Parses an origin as browsers send it (`http://127.0.0.1:5000`); one trailing `/` is
    /// accepted, so a URL copied from the address bar works on the command line.
    fn from_str(text: &str) -> Result<Self, BadOrigin> {
        let bad = |why| BadOrigin {
            text: text.to_owned(),
            why,
        };
        let (scheme, rest) = text.split_once("://").ok_or_else(|| bad("no scheme://"))?;
        let scheme = scheme.to_ascii_lowercase();
        if scheme.is_empty()
            || !scheme.starts_with(|c: char| c.is_ascii_alphabetic())
            || !scheme
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
        {
            return Err(bad("the scheme is not a URL scheme"));
        }
        let authority = rest.strip_suffix('/').unwrap_or(rest);
        if authority.contains(['/', '?', '#', '@']) {
            return Err(bad("an origin has no path, query, fragment or user"));
        }
        let (host, port) = split_authority(authority).map_err(bad)?;
        let port = match (port, scheme.as_str()) {
            (Some(p), _) => p,
            (None, "http" | "ws") => 80,
            (None, "https" | "wss") => 443,
            (None, _) => return Err(bad("no port, and no default port for this scheme")),
        };
        Ok(Self { scheme, host, port })
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "{}://[{}]:{}", self.scheme, self.host, self.port)
        } else {
            write!(f, "{}://{}:{}", self.scheme, self.host, self.port)
        }
    }
}

/// Why a request from a browser was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// Its `Origin` is not allowed.
    #[error(
        "requests from web pages at {0} are not allowed; start the node with \
         --allow-origin {0} to allow them"
    )]
    Origin(String),
    /// Its `Host` names the node by a host name that no allowed origin has.
    #[error(
        "this node is not served under the name {0:?} (a DNS name that may point anywhere); \
         use its IP address or localhost, or start it with --allow-origin http://{0}:PORT"
    )]
    Host(String),
}

/// The allowed origins of a process, shared by its nodes; more can be added while they run.
#[derive(Debug, Default)]
pub struct Origins {
    allowed: RwLock<HashSet<Origin>>,
    // Ports of this process's nodes bound to an unspecified address: for the IP-literal rule.
    open_ports: RwLock<HashSet<u16>>,
}

fn is_localhost(host: &str) -> bool {
    host == "localhost" || host.ends_with(".localhost")
}

fn is_ip_literal(host: &str) -> bool {
    host.parse::<IpAddr>().is_ok()
}

impl Origins {
    /// No origin allowed yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Allows `origin`.
    pub fn add(&self, origin: Origin) {
        self.allowed
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(origin);
    }

    /// Allows the origins of a node listening on `addr` (see the module's rules).
    pub fn add_node(&self, addr: SocketAddr) {
        let port = addr.port();
        let ip = addr.ip();
        if ip.is_loopback() || ip.is_unspecified() {
            self.add(Origin::http(IpAddr::V4(Ipv4Addr::LOCALHOST), port));
            self.add(Origin::http(IpAddr::V6(Ipv6Addr::LOCALHOST), port));
            self.add(Origin::named("localhost", port));
        }
        if ip.is_unspecified() {
            self.open_ports
                .write()
                .unwrap_or_else(|e| e.into_inner())
                .insert(port);
        } else {
            self.add(Origin::http(ip, port));
        }
    }

    /// Whether `origin` is allowed as such.
    pub fn contains(&self, origin: &Origin) -> bool {
        self.allowed
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .contains(origin)
    }

    /// Decides a request by its `Origin` header (`None`: not sent, as by `nc` or `curl`) and
    /// its target host (`host[:port]`, from the `Host` header or an absolute-form target).
    pub fn check(&self, origin: Option<&str>, host: Option<&str>) -> Result<(), Refused> {
        let host_name = match host.map(split_authority) {
            None => None,
            Some(Ok((name, _))) => Some(name),
            Some(Err(_)) => return Err(Refused::Host(host.unwrap_or_default().to_owned())),
        };
        if let Some(name) = &host_name {
            if !is_ip_literal(name) && !is_localhost(name) && !self.allows_host(name) {
                return Err(Refused::Host(name.clone()));
            }
        }
        let Some(origin) = origin else {
            return Ok(());
        };
        let refused = || Refused::Origin(origin.to_owned());
        // `null` (a sandboxed frame, a file:// page) and anything unparsable is refused.
        let parsed: Origin = origin.parse().map_err(|_| refused())?;
        if self.contains(&parsed) {
            return Ok(());
        }
        let same_ip_host = parsed.scheme == "http"
            && is_ip_literal(&parsed.host)
            && host_name.as_deref() == Some(parsed.host.as_str())
            && self
                .open_ports
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .contains(&parsed.port);
        if same_ip_host {
            Ok(())
        } else {
            Err(refused())
        }
    }

    fn allows_host(&self, name: &str) -> bool {
        self.allowed
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .any(|o| o.host == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origins() -> Origins {
        let o = Origins::new();
        for port in [5000, 5001, 5002] {
            o.add_node(SocketAddr::from(([127, 0, 0, 1], port)));
        }
        o
    }

    #[test]
    fn origins_parse_and_normalise() {
        let o: Origin = "HTTP://LocalHost:5000/".parse().unwrap();
        assert_eq!(o.to_string(), "http://localhost:5000");
        assert_eq!(
            "http://example.com".parse::<Origin>().unwrap().to_string(),
            "http://example.com:80"
        );
        assert_eq!("https://example.com".parse::<Origin>().unwrap().port(), 443);
        assert_eq!(
            "http://[::1]:5000".parse::<Origin>().unwrap().to_string(),
            "http://[::1]:5000"
        );
        for bad in [
            "null",
            "127.0.0.1:5000",
            "http://",
            "http://a/b",
            "http://a:x",
            "http://a:99999",
            "http://u@a",
            "http://[::1",
            "http://a b",
            "*",
        ] {
            assert!(bad.parse::<Origin>().is_err(), "{bad}");
        }
    }

    #[test]
    fn a_node_page_talks_to_every_node_and_no_other_page_does() {
        let o = origins();
        // The dashboard from any node to any node, by 127.0.0.1, localhost or [::1].
        for page in [
            "http://127.0.0.1:5000",
            "http://localhost:5001",
            "http://[::1]:5002",
        ] {
            for host in ["127.0.0.1:5001", "localhost:5000", "[::1]:5002"] {
                assert_eq!(o.check(Some(page), Some(host)), Ok(()), "{page} {host}");
            }
        }
        // No Origin: nc, curl and the CLI.
        assert_eq!(o.check(None, Some("127.0.0.1:5000")), Ok(()));
        assert_eq!(o.check(None, None), Ok(()));
        for page in [
            "http://evil.example",
            "http://127.0.0.1:8080",
            "https://127.0.0.1:5000",
            "null",
            "http://localhost:5003",
        ] {
            assert_eq!(
                o.check(Some(page), Some("127.0.0.1:5000")),
                Err(Refused::Origin(page.into()))
            );
        }
        o.add("http://127.0.0.1:8080".parse().unwrap());
        assert_eq!(
            o.check(Some("http://127.0.0.1:8080"), Some("127.0.0.1:5000")),
            Ok(())
        );
    }

    #[test]
    fn dns_rebinding_is_refused() {
        let o = origins();
        // evil.example resolves to 127.0.0.1: origin and Host agree, and a same-origin GET
        // carries no Origin at all.
        assert_eq!(
            o.check(Some("http://evil.example:5000"), Some("evil.example:5000")),
            Err(Refused::Host("evil.example".into()))
        );
        assert_eq!(
            o.check(None, Some("evil.example:5001")),
            Err(Refused::Host("evil.example".into()))
        );
        assert_eq!(
            o.check(None, Some("user@127.0.0.1:5001")),
            Err(Refused::Host("user@127.0.0.1:5001".into()))
        );
        // Named by the user, it is allowed.
        o.add("http://evil.example:5000".parse().unwrap());
        assert_eq!(o.check(None, Some("Evil.Example:5001")), Ok(()));
        assert_eq!(
            o.check(Some("http://evil.example:5000"), Some("evil.example:5001")),
            Ok(())
        );
    }

    #[test]
    fn on_all_addresses_a_page_from_the_address_it_was_sent_to_is_allowed() {
        let o = Origins::new();
        o.add_node(SocketAddr::from(([0, 0, 0, 0], 5000)));
        o.add_node(SocketAddr::from(([0, 0, 0, 0], 5001)));
        let lan = Some("http://192.168.1.5:5000");
        assert_eq!(o.check(lan, Some("192.168.1.5:5001")), Ok(()));
        // Another address, or a port that is not a node of this process, is refused.
        assert!(o.check(lan, Some("192.168.1.6:5001")).is_err());
        assert!(o
            .check(Some("http://192.168.1.5:8000"), Some("192.168.1.5:5001"))
            .is_err());
        assert_eq!(
            o.check(Some("http://localhost:5001"), Some("127.0.0.1:5000")),
            Ok(())
        );
        // A node bound to one loopback address does not open the rule for other IPs.
        let local = origins();
        assert!(local
            .check(Some("http://10.0.0.1:5000"), Some("10.0.0.1:5001"))
            .is_err());
    }
}
