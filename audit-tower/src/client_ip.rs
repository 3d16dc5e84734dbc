//! The client IP address, behind trusted proxies.

use std::net::{IpAddr, SocketAddr};

use http::HeaderMap;
use ipnet::IpNet;

/// A header that trusted proxies use to pass the client address on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ForwardedHeader {
    /// `Forwarded` (RFC 7239): its `for=` parameters.
    Forwarded,
    /// `X-Forwarded-For`: a comma-separated list of addresses.
    XForwardedFor,
    /// `X-Real-IP`: one address.
    XRealIp,
}

impl ForwardedHeader {
    /// The default order: `Forwarded`, `X-Forwarded-For`, `X-Real-IP`.
    pub const DEFAULT: [ForwardedHeader; 3] =
        [ForwardedHeader::Forwarded, ForwardedHeader::XForwardedFor, ForwardedHeader::XRealIp];

    fn name(self) -> &'static str {
        match self {
            Self::Forwarded => "forwarded",
            Self::XForwardedFor => "x-forwarded-for",
            Self::XRealIp => "x-real-ip",
        }
    }
}

/// Resolves the client IP from the socket peer and the forwarding headers.
///
/// The client is the socket peer, unless the peer is a trusted proxy: then the
/// forwarding headers it added are read **right to left**, skipping every hop
/// that is itself a trusted proxy; the first untrusted address is the client.
/// Everything to the left of it was written by the client and is never
/// believed. With no trusted proxies (the default) the headers are ignored, so
/// a spoofed `X-Forwarded-For` never becomes the client IP.
///
/// Only one header is read: the first of the configured [`ForwardedHeader`]s
/// (default: `Forwarded`, then `X-Forwarded-For`, then `X-Real-IP`) that the
/// request carries. Configure only the header your proxy sets
/// ([`AuditLayer::forwarded_headers`](crate::AuditLayer::forwarded_headers)):
/// a proxy that appends to `X-Forwarded-For` but passes a client's own
/// `Forwarded` header through would otherwise let the client choose its IP.
///
/// An entry that is not an address (`unknown`, an obfuscated identifier such
/// as `_hidden`, garbage) stops the walk: the client is then the last address
/// known for sure, the nearest trusted hop (the peer itself when the first
/// entry is unreadable).
///
/// ```
/// use audit_tower::{ForwardedHeader, resolve_client_ip};
/// use http::HeaderMap;
///
/// let mut headers = HeaderMap::new();
/// headers.insert("x-forwarded-for", "203.0.113.7, 198.51.100.1, 10.0.0.2".parse().unwrap());
/// let peer = Some("10.0.0.1".parse().unwrap());
///
/// // No trusted proxies: the header is ignored.
/// assert_eq!(resolve_client_ip(peer, &headers, &[], &ForwardedHeader::DEFAULT), peer);
/// // Trusting 10.0.0.0/8: 10.0.0.2 is skipped, 198.51.100.1 is the client.
/// let trusted = ["10.0.0.0/8".parse().unwrap()];
/// assert_eq!(
///     resolve_client_ip(peer, &headers, &trusted, &ForwardedHeader::DEFAULT),
///     Some("198.51.100.1".parse().unwrap()),
/// );
/// ```
pub fn resolve_client_ip(
    peer: Option<IpAddr>,
    headers: &HeaderMap,
    trusted: &[IpNet],
    order: &[ForwardedHeader],
) -> Option<IpAddr> {
    let peer = peer?.to_canonical();
    if !is_trusted(trusted, peer) {
        return Some(peer);
    }
    let Some(header) = order.iter().copied().find(|h| headers.contains_key(h.name())) else {
        return Some(peer);
    };
    let hops = match header {
        ForwardedHeader::Forwarded => forwarded_for(headers),
        ForwardedHeader::XForwardedFor => headers
            .get_all(header.name())
            .iter()
            .flat_map(|v| split_list(v.as_bytes()))
            .map(|s| parse_node(s.trim_ascii()))
            .collect(),
        ForwardedHeader::XRealIp => headers
            .get_all(header.name())
            .iter()
            .map(|v| parse_node(v.as_bytes().trim_ascii()))
            .collect(),
    };
    let mut client = peer;
    for hop in hops.into_iter().rev() {
        match hop {
            Some(ip) if is_trusted(trusted, ip) => client = ip,
            Some(ip) => return Some(ip),
            None => return Some(client),
        }
    }
    Some(client)
}

fn is_trusted(trusted: &[IpNet], ip: IpAddr) -> bool {
    trusted.iter().any(|net| net.contains(&ip))
}

/// The `for=` values of every `Forwarded` header, in order; `None` for one
/// that is not an address (`unknown`, `_obfuscated`, garbage, or an element
/// without `for=`).
fn forwarded_for(headers: &HeaderMap) -> Vec<Option<IpAddr>> {
    let mut out = Vec::new();
    for value in headers.get_all("forwarded") {
        for element in split_list(value.as_bytes()) {
            let mut node = None;
            for pair in split_quoted(element, b';') {
                let pair = pair.trim_ascii();
                let Some(eq) = pair.iter().position(|&b| b == b'=') else { continue };
                let (name, value) = (&pair[..eq], &pair[eq + 1..]);
                if name.trim_ascii().eq_ignore_ascii_case(b"for") {
                    node = parse_node(unquote(value.trim_ascii()));
                }
            }
            out.push(node);
        }
    }
    out
}

fn split_list(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    split_quoted(value, b',').into_iter().filter(|s| !s.trim_ascii().is_empty())
}

/// Splits on `sep` outside double quotes.
fn split_quoted(value: &[u8], sep: u8) -> Vec<&[u8]> {
    let mut parts = Vec::new();
    let (mut start, mut quoted, mut escaped) = (0, false, false);
    for (i, &b) in value.iter().enumerate() {
        if escaped {
            escaped = false;
        } else if quoted && b == b'\\' {
            escaped = true;
        } else if b == b'"' {
            quoted = !quoted;
        } else if b == sep && !quoted {
            parts.push(&value[start..i]);
            start = i + 1;
        }
    }
    parts.push(&value[start..]);
    parts
}

fn unquote(value: &[u8]) -> &[u8] {
    match value {
        [b'"', inner @ .., b'"'] => inner,
        other => other,
    }
}

/// An address as proxies write it: `1.2.3.4`, `1.2.3.4:80`, `2001:db8::1`,
/// `[2001:db8::1]`, `[2001:db8::1]:4711`.
fn parse_node(raw: &[u8]) -> Option<IpAddr> {
    let s = std::str::from_utf8(raw).ok()?.trim();
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Some(ip.to_canonical());
    }
    if let Ok(sock) = s.parse::<SocketAddr>() {
        return Some(sock.ip().to_canonical());
    }
    let inner = s.strip_prefix('[')?.strip_suffix(']')?;
    inner.parse::<std::net::Ipv6Addr>().ok().map(|ip| IpAddr::V6(ip).to_canonical())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(http::HeaderName::from_bytes(k.as_bytes()).unwrap(), v.parse().unwrap());
        }
        h
    }

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|s| s.parse().unwrap()).collect()
    }

    fn resolve(peer: &str, h: &[(&str, &str)], trusted: &[&str]) -> IpAddr {
        resolve_client_ip(Some(ip(peer)), &headers(h), &nets(trusted), &ForwardedHeader::DEFAULT)
            .unwrap()
    }

    #[test]
    fn untrusted_peer_ignores_headers() {
        let h = [
            ("x-forwarded-for", "1.1.1.1"),
            ("forwarded", "for=2.2.2.2"),
            ("x-real-ip", "3.3.3.3"),
        ];
        assert_eq!(resolve("9.9.9.9", &h, &[]), ip("9.9.9.9"));
        assert_eq!(resolve("9.9.9.9", &h, &["10.0.0.0/8"]), ip("9.9.9.9"));
    }

    #[test]
    fn no_peer_no_ip() {
        let h = headers(&[("x-forwarded-for", "1.1.1.1")]);
        assert_eq!(
            resolve_client_ip(None, &h, &nets(&["0.0.0.0/0"]), &ForwardedHeader::DEFAULT),
            None
        );
    }

    #[test]
    fn x_forwarded_for_right_to_left() {
        let trusted = ["10.0.0.0/8", "192.168.0.0/16"];
        let h = [("x-forwarded-for", "6.6.6.6, 7.7.7.7, 192.168.1.1, 10.1.1.1")];
        assert_eq!(resolve("10.0.0.1", &h, &trusted), ip("7.7.7.7"));
        // multiple headers are one list
        let h = [("x-forwarded-for", "6.6.6.6"), ("x-forwarded-for", "7.7.7.7, 10.1.1.1")];
        assert_eq!(resolve("10.0.0.1", &h, &trusted), ip("7.7.7.7"));
        // every hop trusted: the leftmost
        let h = [("x-forwarded-for", "10.9.9.9, 10.1.1.1")];
        assert_eq!(resolve("10.0.0.1", &h, &trusted), ip("10.9.9.9"));
        // ports and brackets
        let h = [("x-forwarded-for", "[2001:db8::7]:443, 5.5.5.5:80")];
        assert_eq!(resolve("10.0.0.1", &h, &trusted), ip("5.5.5.5"));
        let h = [("x-forwarded-for", "[2001:db8::7]:443, 10.2.2.2")];
        assert_eq!(resolve("10.0.0.1", &h, &trusted), ip("2001:db8::7"));
    }

    #[test]
    fn garbage_stops_at_the_last_known_hop() {
        let trusted = ["10.0.0.0/8"];
        assert_eq!(
            resolve("10.0.0.1", &[("x-forwarded-for", "not an ip")], &trusted),
            ip("10.0.0.1")
        );
        assert_eq!(
            resolve("10.0.0.1", &[("x-forwarded-for", "1.1.1.1, junk, 10.0.0.7")], &trusted),
            ip("10.0.0.7")
        );
        assert_eq!(resolve("10.0.0.1", &[("x-forwarded-for", "")], &trusted), ip("10.0.0.1"));
        assert_eq!(
            resolve("10.0.0.1", &[("x-forwarded-for", "999.1.1.1")], &trusted),
            ip("10.0.0.1")
        );
    }

    #[test]
    fn forwarded_rfc7239() {
        let trusted = ["10.0.0.0/8"];
        let h = [("forwarded", r#"for=192.0.2.60;proto=http;by=203.0.113.43"#)];
        assert_eq!(resolve("10.0.0.1", &h, &trusted), ip("192.0.2.60"));
        let h = [("forwarded", r#"for="[2001:db8:cafe::17]:4711""#)];
        assert_eq!(resolve("10.0.0.1", &h, &trusted), ip("2001:db8:cafe::17"));
        let h = [("forwarded", r#"For="[2001:db8::1]""#)];
        assert_eq!(resolve("10.0.0.1", &h, &trusted), ip("2001:db8::1"));
        let h = [("forwarded", r#"for=198.51.100.17, for=10.0.0.5;proto=https"#)];
        assert_eq!(resolve("10.0.0.1", &h, &trusted), ip("198.51.100.17"));
        // several headers, in order
        let h = [("forwarded", "for=198.51.100.17"), ("forwarded", "for=10.0.0.5")];
        assert_eq!(resolve("10.0.0.1", &h, &trusted), ip("198.51.100.17"));
        // quoted commas and semicolons do not split
        let h = [("forwarded", r#"for=198.51.100.9;ext="a,b;c", for=10.0.0.5"#)];
        assert_eq!(resolve("10.0.0.1", &h, &trusted), ip("198.51.100.9"));
        // IPv4 with a port, quoted
        let h = [("forwarded", r#"for="192.0.2.43:47011""#)];
        assert_eq!(resolve("10.0.0.1", &h, &trusted), ip("192.0.2.43"));
    }

    #[test]
    fn forwarded_obfuscated_and_unknown() {
        let trusted = ["10.0.0.0/8"];
        let h = [("forwarded", "for=_hidden, for=10.0.0.5")];
        assert_eq!(resolve("10.0.0.1", &h, &trusted), ip("10.0.0.5"));
        let h = [("forwarded", "for=unknown")];
        assert_eq!(resolve("10.0.0.1", &h, &trusted), ip("10.0.0.1"));
        let h = [("forwarded", "proto=https;by=10.0.0.5")];
        assert_eq!(resolve("10.0.0.1", &h, &trusted), ip("10.0.0.1"));
        let h = [("forwarded", ";;;===,,\"")];
        assert_eq!(resolve("10.0.0.1", &h, &trusted), ip("10.0.0.1"));
        // an attacker's address left of an obfuscated trusted hop is never used
        let h = [("forwarded", "for=6.6.6.6, for=_proxy")];
        assert_eq!(resolve("10.0.0.1", &h, &trusted), ip("10.0.0.1"));
    }

    #[test]
    fn header_precedence_and_selection() {
        let trusted = nets(&["10.0.0.0/8"]);
        let h = headers(&[
            ("x-forwarded-for", "1.1.1.1"),
            ("forwarded", "for=2.2.2.2"),
            ("x-real-ip", "3.3.3.3"),
        ]);
        let peer = Some(ip("10.0.0.1"));
        assert_eq!(
            resolve_client_ip(peer, &h, &trusted, &ForwardedHeader::DEFAULT),
            Some(ip("2.2.2.2"))
        );
        assert_eq!(
            resolve_client_ip(peer, &h, &trusted, &[ForwardedHeader::XForwardedFor]),
            Some(ip("1.1.1.1"))
        );
        assert_eq!(
            resolve_client_ip(peer, &h, &trusted, &[ForwardedHeader::XRealIp]),
            Some(ip("3.3.3.3"))
        );
        assert_eq!(resolve_client_ip(peer, &h, &trusted, &[]), peer);
        let h = headers(&[("x-real-ip", " 4.4.4.4 ")]);
        assert_eq!(
            resolve_client_ip(peer, &h, &trusted, &ForwardedHeader::DEFAULT),
            Some(ip("4.4.4.4"))
        );
    }

    #[test]
    fn ipv4_mapped_peers_are_canonical() {
        let trusted = ["10.0.0.0/8"];
        assert_eq!(
            resolve("::ffff:10.0.0.1", &[("x-forwarded-for", "8.8.8.8")], &trusted),
            ip("8.8.8.8")
        );
        assert_eq!(resolve("::ffff:9.9.9.9", &[], &trusted), ip("9.9.9.9"));
    }
}
