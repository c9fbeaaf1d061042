//! Host name resolution for the HTTP clients, in front of ureq's default resolver.
//!
//! ureq resolves the URL's host on every request, before it looks in its connection pool,
//! and its default resolver does so on a new thread whenever the request has a timeout
//! (ureq 3 `unversioned/resolver.rs`, `resolve_async`), which every request of ours has: one
//! thread spawned, and one DNS lookup, per export. This resolver
//! - reads an IP address in the URL as it is: no lookup, no thread;
//! - keeps a host name's addresses for [`TTL`], as long as ureq keeps an idle pooled
//!   connection (`max_idle_age`, 15 s), which goes on using the address it was opened to
//!   anyway; a failed lookup is not kept, so the next request tries again.
//!
//! A lookup still goes through ureq's resolver, within the request's timeout.

use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use ureq::config::Config;
use ureq::http::Uri;
use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::NextTimeout;

/// How long a host name's addresses are used before they are looked up again: ureq's
/// default `max_idle_age` of a pooled connection.
pub(crate) const TTL: Duration = Duration::from_secs(15);

/// What a lookup is delegated to: ureq's resolver, or a test's stand-in.
type Lookup = dyn Fn(&Uri, &Config, NextTimeout) -> Result<ResolvedSocketAddrs, ureq::Error> + Send + Sync;

/// ureq's resolver with IP addresses read directly and host names kept for [`TTL`].
pub(crate) struct CachingResolver {
    lookup: Box<Lookup>,
    last: Mutex<Option<Cached>>,
}

struct Cached {
    /// `host:port` as the URL has it.
    authority: String,
    at: Instant,
    addrs: ResolvedSocketAddrs,
}

impl std::fmt::Debug for CachingResolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CachingResolver").finish_non_exhaustive()
    }
}

impl Default for CachingResolver {
    fn default() -> Self {
        let default = DefaultResolver::default();
        CachingResolver::with_lookup(Box::new(move |uri, config, timeout| {
            default.resolve(uri, config, timeout)
        }))
    }
}

impl CachingResolver {
    fn with_lookup(lookup: Box<Lookup>) -> Self {
        CachingResolver { lookup, last: Mutex::new(None) }
    }

    /// The address of a URL whose host is an IP address (`http://127.0.0.1:4318`,
    /// `http://[::1]:4318`), with the scheme's default port when it has none.
    fn literal(&self, uri: &Uri) -> Option<ResolvedSocketAddrs> {
        let authority = uri.authority()?;
        let host = authority.host();
        let host = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
        let ip: IpAddr = host.parse().ok()?;
        let port = authority.port_u16().or(match uri.scheme_str() {
            Some("http") => Some(80),
            Some("https") => Some(443),
            _ => None,
        })?;
        let mut addrs = self.empty();
        addrs.push(SocketAddr::new(ip, port));
        Some(addrs)
    }
}

impl Resolver for CachingResolver {
    fn resolve(
        &self,
        uri: &Uri,
        config: &Config,
        timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        if let Some(addrs) = self.literal(uri) {
            return Ok(addrs);
        }
        let authority = uri.authority().map_or("", |a| a.as_str());
        let now = Instant::now();
        // A poisoned lock only means a lookup panicked; the cache is then just empty.
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = last.as_ref().filter(|c| c.authority == authority && now.duration_since(c.at) < TTL)
        {
            return Ok(c.addrs.clone());
        }
        *last = None;
        drop(last);
        let addrs = (self.lookup)(uri, config, timeout)?;
        *self.last.lock().unwrap_or_else(|p| p.into_inner()) =
            Some(Cached { authority: authority.to_owned(), at: now, addrs: addrs.clone() });
        Ok(addrs)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    use super::*;

    fn counting() -> (CachingResolver, Arc<AtomicUsize>) {
        let lookups = Arc::new(AtomicUsize::new(0));
        let counted = lookups.clone();
        let resolver = CachingResolver::with_lookup(Box::new(move |uri, _, _| {
            counted.fetch_add(1, Ordering::Relaxed);
            if uri.host() == Some("nowhere.invalid") {
                return Err(ureq::Error::HostNotFound);
            }
            let mut addrs = DefaultResolver::default().empty();
            addrs.push("10.1.2.3:4318".parse().unwrap());
            Ok(addrs)
        }));
        (resolver, lookups)
    }

    fn resolve(r: &CachingResolver, url: &str) -> Result<Vec<SocketAddr>, ureq::Error> {
        let config = ureq::Agent::config_builder().build();
        r.resolve(&url.parse().unwrap(), &config, NextTimeout::default()).map(|a| a.to_vec())
    }

    #[test]
    fn an_ip_address_in_the_url_is_not_looked_up() {
        let (r, lookups) = counting();
        assert_eq!(
            resolve(&r, "http://127.0.0.1:4318/v1/traces").unwrap(),
            ["127.0.0.1:4318".parse().unwrap()]
        );
        assert_eq!(resolve(&r, "http://[::1]:14268/api/traces").unwrap(), ["[::1]:14268".parse().unwrap()]);
        assert_eq!(resolve(&r, "http://10.0.0.7/v1/traces").unwrap(), ["10.0.0.7:80".parse().unwrap()]);
        assert_eq!(resolve(&r, "https://10.0.0.7/v1/traces").unwrap(), ["10.0.0.7:443".parse().unwrap()]);
        assert_eq!(lookups.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn a_host_name_is_looked_up_once_per_ttl_and_per_host() {
        let (r, lookups) = counting();
        let want: Vec<SocketAddr> = vec!["10.1.2.3:4318".parse().unwrap()];
        for _ in 0..3 {
            assert_eq!(resolve(&r, "http://collector:4318/v1/traces").unwrap(), want);
        }
        assert_eq!(lookups.load(Ordering::Relaxed), 1);
        // Another host, or another port, is another lookup.
        resolve(&r, "http://other:4318/v1/traces").unwrap();
        resolve(&r, "http://other:4319/v1/traces").unwrap();
        assert_eq!(lookups.load(Ordering::Relaxed), 3);
        // Past the TTL, the same host is looked up again.
        r.last.lock().unwrap().as_mut().unwrap().at -= TTL;
        resolve(&r, "http://other:4319/v1/traces").unwrap();
        assert_eq!(lookups.load(Ordering::Relaxed), 4);
    }

    #[test]
    fn a_failed_lookup_is_not_kept() {
        let (r, lookups) = counting();
        for _ in 0..2 {
            assert!(matches!(resolve(&r, "http://nowhere.invalid:4318/"), Err(ureq::Error::HostNotFound)));
        }
        assert_eq!(lookups.load(Ordering::Relaxed), 2);
    }
}
