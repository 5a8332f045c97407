//! Outbound HTTP that reaches only the public internet. Executors run
//! inside a cluster network and API functions inside a VPC, so a URL a user
//! chose (an `http` node, a tool call, an MCP server) must not reach
//! loopback, link-local (the instance metadata service), private or other
//! non-public addresses, unless an allow-list names the host.
//!
//! The check happens where addresses are known: a DNS resolver that drops
//! non-public answers (so a name cannot be re-pointed at an internal address
//! between check and connect), literal-IP URLs checked before sending, and
//! every redirect target checked again.

use std::{
    net::{IpAddr, Ipv4Addr, SocketAddr},
    sync::Arc,
    time::Duration,
};

use reqwest::{
    dns::{Addrs, Name, Resolve, Resolving},
    redirect,
};

/// Hosts (`name` or `name:port`) the http node may reach even when they
/// resolve to non-public addresses.
#[derive(Debug, Clone, Default)]
pub struct AllowList {
    hosts: Vec<String>,
}

impl AllowList {
    /// From a comma-separated list, e.g. `EXECUTOR_HTTP_ALLOW=127.0.0.1,internal.svc`.
    pub fn parse(raw: &str) -> Self {
        Self {
            hosts: raw
                .split(',')
                .map(|h| h.trim().to_lowercase())
                .filter(|h| !h.is_empty())
                .collect(),
        }
    }

    /// Whether `host` (or `host:port`) is on the list.
    pub fn permits(&self, host: &str, port: Option<u16>) -> bool {
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_lowercase();
        self.hosts
            .iter()
            .any(|h| *h == host || port.is_some_and(|p| *h == format!("{host}:{p}")))
    }
}

/// Whether an address is on the public internet. An IPv6 address that
/// carries an IPv4 one (mapped, IPv4-compatible, NAT64, 6to4) is as public as
/// the address it carries; Teredo, whose carried address cannot be trusted, never is.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => {
            let seg = v6.segments();
            let o = v6.octets();
            let v4 = |at: usize| Ipv4Addr::new(o[at], o[at + 1], o[at + 2], o[at + 3]);
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public_v4(v4);
            }
            if v6.is_loopback() || v6.is_unspecified() {
                return false;
            }
            // IPv4-compatible ::a.b.c.d (deprecated, still routed by some stacks).
            if seg[..6].iter().all(|s| *s == 0) {
                return is_public_v4(v4(12));
            }
            // NAT64, the well-known prefix 64:ff9b::/96.
            if seg[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
                return is_public_v4(v4(12));
            }
            // 6to4 2002::/16: the IPv4 address follows the prefix.
            if seg[0] == 0x2002 {
                return is_public_v4(v4(2));
            }
            !(v6.is_multicast()
                || (seg[0] & 0xfe00) == 0xfc00 // unique local fc00::/7
                || (seg[0] & 0xffc0) == 0xfe80 // link local fe80::/10
                || (seg[0] & 0xffc0) == 0xfec0 // site local fec0::/10 (deprecated)
                || (seg[0] == 0x64 && seg[1] == 0xff9b) // NAT64 local use 64:ff9b:1::/48 and the rest
                || (seg[0] == 0x2001 && seg[1] == 0) // Teredo 2001::/32
                || (seg[0] == 0x2001 && seg[1] == 0x0db8) // documentation
                || seg[..4] == [0x100, 0, 0, 0]) // discard 100::/64
        }
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let o = ip.octets();
    !(ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_documentation()
        || ip.is_unspecified()
        || ip.is_multicast()
        || o[0] == 0
        || (o[0] == 100 && (o[1] & 0xc0) == 64) // shared address space 100.64/10
        || (o[0] == 192 && o[1] == 0 && o[2] == 0) // IETF protocol assignments
        || o[0] >= 240) // reserved
}

/// Resolves names and drops non-public answers for hosts not on the allow-list.
struct GuardedResolver {
    allow: Arc<AllowList>,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow = self.allow.clone();
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let permitted = allow.permits(&host, None);
            let kept: Vec<SocketAddr> = addrs
                .into_iter()
                .filter(|a| permitted || is_public(a.ip()))
                .collect();
            if kept.is_empty() {
                return Err(format!(
                    "blocked: {host} resolves only to private or loopback addresses"
                )
                .into());
            }
            Ok(Box::new(kept.into_iter()) as Addrs)
        })
    }
}

fn literal_ip(url: &reqwest::Url) -> Option<IpAddr> {
    match url.host()? {
        url::Host::Ipv4(v4) => Some(IpAddr::V4(v4)),
        url::Host::Ipv6(v6) => Some(IpAddr::V6(v6)),
        url::Host::Domain(_) => None,
    }
}

/// Whether a parsed URL names a non-public address outright (not on the allow-list).
pub fn blocked_literal(url: &reqwest::Url, allow: &AllowList) -> bool {
    literal_ip(url).is_some_and(|ip| {
        !is_public(ip)
            && !allow.permits(
                url.host_str().unwrap_or_default(),
                url.port_or_known_default(),
            )
    })
}

/// A client builder that reaches only public addresses (and the
/// allow-list's hosts), redirects included (at most five); callers add
/// their timeouts and user agent.
pub fn guarded_builder(allow: &AllowList) -> reqwest::ClientBuilder {
    let allow = Arc::new(allow.clone());
    let for_redirects = allow.clone();
    reqwest::Client::builder()
        .dns_resolver(Arc::new(GuardedResolver { allow }))
        .redirect(redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() >= 5 {
                attempt.error("too many redirects")
            } else if blocked_literal(attempt.url(), &for_redirects) {
                attempt.error("blocked: redirect to a private or loopback address")
            } else {
                attempt.follow()
            }
        }))
        .connect_timeout(Duration::from_secs(10))
}

/// A guarded client with an overall timeout: for URLs a workspace chose
/// (its OpenAI-compatible provider's base URL).
pub fn guarded_client(allow: &AllowList, timeout: Duration) -> reqwest::Client {
    guarded_builder(allow)
        .timeout(timeout)
        .build()
        .unwrap_or_default()
}

/// Whether a URL names a private or loopback address outright (not on the allow-list).
pub fn is_blocked_literal(url: &str, allow: &AllowList) -> bool {
    reqwest::Url::parse(url).map_or(true, |u| blocked_literal(&u, allow))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn address_classes() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            // NAT64 (well-known and local-use prefixes) of private IPv4 addresses.
            "64:ff9b::7f00:1",
            "64:ff9b::a9fe:a9fe",
            "64:ff9b::10.0.0.1",
            "64:ff9b:1::8.8.8.8",
            // 6to4 of private IPv4 addresses.
            "2002:7f00:1::",
            "2002:a9fe:a9fe::1",
            "2002:c0a8:101::",
            // IPv4-compatible (deprecated) forms.
            "::127.0.0.1",
            "::169.254.169.254",
            "::10.0.0.1",
            // Teredo, site-local and the discard prefix.
            "2001::1",
            "2001:0:4136:e378:8000:63bf:3fff:fdd2",
            "fec0::1",
            "100::1",
        ] {
            assert!(
                !is_public(private.parse().expect("ip")),
                "{private} counted as public"
            );
        }
        for public in [
            "1.1.1.1",
            "8.8.8.8",
            "2606:4700:4700::1111",
            // NAT64 and 6to4 of public IPv4 addresses reach the public internet.
            "64:ff9b::808:808",
            "2002:808:808::1",
        ] {
            assert!(
                is_public(public.parse().expect("ip")),
                "{public} counted as private"
            );
        }
    }

    #[test]
    fn allow_list_matches_host_or_host_and_port() {
        let a = AllowList::parse("127.0.0.1, Internal.svc:8080");
        assert!(a.permits("127.0.0.1", Some(80)));
        assert!(a.permits("internal.svc", Some(8080)));
        assert!(!a.permits("internal.svc", Some(9090)));
        assert!(!a.permits("10.0.0.1", None));
    }
}
