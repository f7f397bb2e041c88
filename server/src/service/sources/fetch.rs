//! Reading what a source points at: a file in its folder, or a URL.
//!
//! URL fetching is guarded against server-side request forgery. A URL must be http or https.
//! Its host may not be, or resolve to, a loopback, private, link-local (cloud metadata),
//! carrier-grade NAT, multicast or unspecified address unless `allow_private_urls` is set:
//! literal addresses are checked in [`check_url`], names in the DNS resolver itself (so the
//! address checked is the address connected to), and every redirect goes through both
//! again. Proxies from the environment are ignored (they would resolve names for us). Bodies
//! are limited in size and time, and the content type must be one ragd can parse.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::Url;

use super::Invalid;
use crate::config::SourcesConfig;
use crate::store::Validators;

/// Whether connecting to `ip` could reach something inside the network.
pub fn is_internal(ip: IpAddr) -> bool {
    is_reserved(ip) || own_addresses().contains(&ip)
}

/// The ranges no source may fetch from: private, local, link-local, shared, documentation,
/// benchmarking and reserved ones, and IPv6 prefixes that carry an IPv4 address or tunnel
/// to one (IPv4-mapped and -compatible, 6to4, Teredo, NAT64).
fn is_reserved(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_internal_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_internal_v4(v4);
            }
            let [s0, s1, s2, ..] = v6.segments();
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s0 & 0xfe00) == 0xfc00 // unique local fc00::/7 (incl. fd00:ec2::254)
                || (s0 & 0xffc0) == 0xfe80 // link-local fe80::/10
                || (s0 & 0xffc0) == 0xfec0 // site-local fec0::/10
                || (v6.segments()[..6] == [0, 0, 0, 0, 0, 0]) // IPv4-compatible ::a.b.c.d
                || (s0 == 0x64 && s1 == 0xff9b && (s2 == 0 || s2 == 1)) // NAT64 64:ff9b::/96 and local-use 64:ff9b:1::/48
                || s0 == 0x2002 // 6to4 2002::/16
                || (s0 == 0x2001 && s1 == 0) // Teredo 2001::/32
                || (s0 == 0x2001 && s1 == 0x0db8) // documentation 2001:db8::/32
                || (s0 == 0x0100 && s1 == 0 && s2 == 0 && v6.segments()[3] == 0)
            // discard-only 100::/64
        }
    }
}

fn is_internal_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // carrier-grade NAT 100.64/10
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 192 && b == 0 && c == 2) // documentation TEST-NET-1
        || (a == 198 && b == 51 && c == 100) // documentation TEST-NET-2
        || (a == 203 && b == 0 && c == 113) // documentation TEST-NET-3
        || (a == 192 && b == 88 && c == 99) // 6to4 relay anycast
        || (a == 198 && (b == 18 || b == 19)) // benchmarking
        || a >= 240 // reserved
}

/// This machine's own addresses (every interface's), read from `/proc`: a source must not
/// reach the host it runs on by its public address either.
fn own_addresses() -> Vec<IpAddr> {
    let mut own: Vec<IpAddr> = std::fs::read_to_string("/proc/net/fib_trie")
        .map(|t| local_v4(&t))
        .unwrap_or_default()
        .into_iter()
        .map(IpAddr::V4)
        .collect();
    own.extend(
        std::fs::read_to_string("/proc/net/if_inet6")
            .map(|t| local_v6(&t))
            .unwrap_or_default()
            .into_iter()
            .map(IpAddr::V6),
    );
    own
}

/// The addresses `/proc/net/fib_trie` marks `/32 host LOCAL`.
fn local_v4(fib_trie: &str) -> Vec<Ipv4Addr> {
    let mut out = Vec::new();
    let mut last: Option<Ipv4Addr> = None;
    for line in fib_trie.lines() {
        let line = line.trim();
        if let Some(addr) = line.strip_prefix("|-- ") {
            last = addr.trim().parse().ok();
        } else if line.starts_with("/32 host LOCAL") {
            if let Some(ip) = last.filter(|ip| !out.contains(ip)) {
                out.push(ip);
            }
        }
    }
    out
}

/// The addresses of `/proc/net/if_inet6` (32 hex digits first on each line).
fn local_v6(if_inet6: &str) -> Vec<std::net::Ipv6Addr> {
    if_inet6
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .filter_map(|hex| u128::from_str_radix(hex, 16).ok())
        .map(std::net::Ipv6Addr::from)
        .collect()
}

/// Parses and checks a source URL: http(s), a host, and no literal internal address (unless
/// allowed).
pub fn check_url(raw: &str, allow_private: bool) -> Result<Url, Invalid> {
    let url = Url::parse(raw).map_err(|e| Invalid::Bad(format!("invalid url {raw:?}: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(Invalid::Bad(format!(
            "only http and https urls are supported, got {raw:?}"
        )));
    }
    let host = url
        .host()
        .ok_or_else(|| Invalid::Bad(format!("url has no host: {raw:?}")))?;
    if allow_private {
        return Ok(url);
    }
    let refused = || {
        Invalid::Forbidden(format!(
            "{raw} points at a private or local address (sources.allow_private_urls is off)"
        ))
    };
    match host {
        url::Host::Ipv4(ip) if is_internal(IpAddr::V4(ip)) => Err(refused()),
        url::Host::Ipv6(ip) if is_internal(IpAddr::V6(ip)) => Err(refused()),
        url::Host::Domain(d) => {
            let d = d.trim_end_matches('.').to_ascii_lowercase();
            if d == "localhost" || d.ends_with(".localhost") || d == "metadata.google.internal" {
                Err(refused())
            } else {
                Ok(url)
            }
        }
        _ => Ok(url),
    }
}

/// A DNS resolver that drops internal addresses, so a public name that resolves to a
/// private address (or rebinds to one) is refused at connect time.
#[derive(Debug)]
struct GuardedResolver;

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        Box::pin(async move {
            let host = name.as_str().to_string();
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|a| !is_internal(a.ip()))
                .collect();
            if addrs.is_empty() {
                return Err(format!("{host} resolves only to private or local addresses").into());
            }
            let addrs: Addrs = Box::new(addrs.into_iter());
            Ok(addrs)
        })
    }
}

/// Content types ragd can parse; others are refused before the body is read.
fn acceptable_type(content_type: &str) -> bool {
    let mime = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    mime.is_empty()
        || mime.starts_with("text/")
        || matches!(
            mime.as_str(),
            "application/pdf"
                | "application/xhtml+xml"
                | "application/epub+zip"
                | "application/octet-stream"
                | "application/x-pdf"
        )
        || mime.starts_with("application/vnd.openxmlformats-officedocument.")
}

/// A name that lets format detection see what the server said the body is.
pub fn detection_name(url: &str, content_type: &str) -> String {
    let mime = content_type.split(';').next().unwrap_or("").trim();
    let ext = match mime {
        "text/html" | "application/xhtml+xml" => "html",
        "text/markdown" | "text/x-markdown" => "md",
        "text/plain" => "txt",
        "text/csv" => "csv",
        "text/tab-separated-values" => "tsv",
        "application/pdf" | "application/x-pdf" => "pdf",
        _ => return url.split(['?', '#']).next().unwrap_or(url).to_string(),
    };
    format!("document.{ext}")
}

/// A fetched URL body.
#[derive(Debug)]
pub struct Fetched {
    pub bytes: Vec<u8>,
    pub content_type: String,
    pub validators: Validators,
}

/// What a conditional fetch found.
#[derive(Debug)]
pub enum Fetch {
    /// 304: the body is the one the validators were sent with.
    NotModified,
    Body(Fetched),
}

/// Fetches URLs with the guard and limits of `config`.
#[derive(Debug, Clone)]
pub struct Fetcher {
    client: reqwest::Client,
    max_bytes: u64,
    allow_private: bool,
}

impl Fetcher {
    pub fn new(config: &SourcesConfig) -> Result<Self, reqwest::Error> {
        let allow_private = config.allow_private_urls;
        let max_redirects = config.max_redirects;
        let policy = reqwest::redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() > max_redirects {
                return attempt.error(format!("more than {max_redirects} redirects"));
            }
            match check_url(attempt.url().as_str(), allow_private) {
                Ok(_) => attempt.follow(),
                Err(e) => {
                    let message = format!("redirect refused: {e}");
                    attempt.error(message)
                }
            }
        });
        let mut builder = reqwest::Client::builder()
            .no_proxy()
            .redirect(policy)
            .connect_timeout(Duration::from_secs(config.fetch_timeout_secs.clamp(1, 30)))
            .timeout(Duration::from_secs(config.fetch_timeout_secs.max(1)))
            .user_agent(concat!("ragd/", env!("CARGO_PKG_VERSION")));
        if !allow_private {
            builder = builder.dns_resolver(Arc::new(GuardedResolver));
        }
        Ok(Self {
            client: builder.build()?,
            max_bytes: config.max_file_bytes,
            allow_private,
        })
    }

    /// Fetches one URL, conditionally when `known` holds validators of the body stored last
    /// time; the error is a lowercase message for the run's record.
    pub async fn fetch(&self, url: &str, known: &Validators) -> Result<Fetch, String> {
        use reqwest::header::{ETAG, IF_MODIFIED_SINCE, IF_NONE_MATCH, LAST_MODIFIED};
        let parsed = check_url(url, self.allow_private).map_err(|e| e.to_string())?;
        let mut request = self.client.get(parsed);
        if let Some(etag) = &known.etag {
            request = request.header(IF_NONE_MATCH, etag);
        }
        if let Some(date) = &known.last_modified {
            request = request.header(IF_MODIFIED_SINCE, date);
        }
        let resp = request.send().await.map_err(describe)?;
        let status = resp.status();
        if status == reqwest::StatusCode::NOT_MODIFIED && !known.is_empty() {
            return Ok(Fetch::NotModified);
        }
        if !status.is_success() {
            return Err(format!("http status {}", status.as_u16()));
        }
        let header = |name| {
            resp.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let content_type = header(reqwest::header::CONTENT_TYPE).unwrap_or_default();
        let validators = Validators {
            etag: header(ETAG),
            last_modified: header(LAST_MODIFIED),
        };
        if !acceptable_type(&content_type) {
            return Err(format!("unsupported content type {content_type:?}"));
        }
        if resp.content_length().is_some_and(|n| n > self.max_bytes) {
            return Err(too_large(self.max_bytes));
        }
        let mut bytes = Vec::new();
        let mut stream = resp.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(describe)?;
            if (bytes.len() + chunk.len()) as u64 > self.max_bytes {
                return Err(too_large(self.max_bytes));
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok(Fetch::Body(Fetched {
            bytes,
            content_type,
            validators,
        }))
    }
}

fn too_large(max: u64) -> String {
    format!("larger than sources.max_file_bytes ({max} bytes)")
}

/// The reqwest error with its causes, lowercase (redirect refusals live in the causes).
fn describe(e: reqwest::Error) -> String {
    let mut message = if e.is_timeout() {
        "timed out".to_string()
    } else if e.is_redirect() {
        "redirect failed".to_string()
    } else if e.is_connect() {
        "cannot connect".to_string()
    } else {
        "request failed".to_string()
    };
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        message.push_str(": ");
        message.push_str(&s.to_string());
        source = s.source();
    }
    message.to_lowercase()
}

/// Opens `rel` (a relative path with `/` separators) under the folder `root` without
/// following a symbolic link at any component: each component is opened relative to the
/// one before (`openat` with `O_NOFOLLOW`), so a folder or file swapped for a link after the
/// scan is refused, not followed. Blocking.
pub fn open_confined(root: &Path, rel: &str) -> Result<std::fs::File, String> {
    use rustix::fs::{Mode, OFlags};
    let refuse = |e: rustix::io::Errno| {
        if e == rustix::io::Errno::LOOP || e == rustix::io::Errno::NOTDIR {
            "refused: the path goes through a symbolic link".to_string()
        } else {
            format!("cannot read: {}", std::io::Error::from(e))
        }
    };
    let base = OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NOFOLLOW;
    let mut dir =
        rustix::fs::open(root, base | OFlags::DIRECTORY, Mode::empty()).map_err(refuse)?;
    let parts: Vec<&str> = rel.split('/').collect();
    for (i, part) in parts.iter().enumerate() {
        if part.is_empty() || *part == "." || *part == ".." {
            return Err(format!("refused: {rel:?} is not a plain relative path"));
        }
        if i + 1 == parts.len() {
            let fd = rustix::fs::openat(&dir, *part, base | OFlags::NONBLOCK, Mode::empty())
                .map_err(refuse)?;
            return Ok(std::fs::File::from(fd));
        }
        dir = rustix::fs::openat(&dir, *part, base | OFlags::DIRECTORY, Mode::empty())
            .map_err(refuse)?;
    }
    Err("refused: empty path".into())
}

/// Reads one file of a folder source ([`open_confined`]), refusing files over `max_bytes`.
/// Blocking.
pub fn read_file(root: &Path, rel: &str, max_bytes: u64) -> Result<Vec<u8>, String> {
    use std::io::Read;
    let file = open_confined(root, rel)?;
    let meta = file.metadata().map_err(|e| format!("cannot read: {e}"))?;
    if !meta.is_file() {
        return Err("not a regular file".into());
    }
    if meta.len() > max_bytes {
        return Err(too_large(max_bytes));
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.take(max_bytes + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read: {e}"))?;
    if bytes.len() as u64 > max_bytes {
        return Err(too_large(max_bytes));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_opened_without_following_links_at_any_component() {
        let root = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret.txt"), "vault").unwrap();
        std::fs::create_dir(root.path().join("sub")).unwrap();
        std::fs::write(root.path().join("sub/a.txt"), "harbour").unwrap();
        std::os::unix::fs::symlink(outside.path(), root.path().join("linked")).unwrap();
        std::os::unix::fs::symlink(
            outside.path().join("secret.txt"),
            root.path().join("sub/b.txt"),
        )
        .unwrap();
        assert_eq!(
            read_file(root.path(), "sub/a.txt", 100).unwrap(),
            b"harbour"
        );
        for rel in ["linked/secret.txt", "sub/b.txt"] {
            let e = read_file(root.path(), rel, 100).unwrap_err();
            assert!(e.contains("symbolic link"), "{rel}: {e}");
        }
        for rel in ["../x", "sub/../sub/a.txt", "/etc/passwd", "sub//a.txt"] {
            assert!(
                read_file(root.path(), rel, 100)
                    .unwrap_err()
                    .contains("refused"),
                "{rel}"
            );
        }
        assert!(read_file(root.path(), "sub", 100).is_err());
        assert!(read_file(root.path(), "sub/a.txt", 3)
            .unwrap_err()
            .contains("larger"));
    }

    #[test]
    fn documentation_tunnel_and_nat64_ranges_are_refused() {
        for ip in [
            "192.0.2.10",
            "198.51.100.7",
            "203.0.113.99",
            "192.88.99.1",
            "2001:db8::1",
            "2002:7f00:1::1",
            "2001:0:4136:e378:8000:63bf:3fff:fdd2",
            "64:ff9b:1::a00:1",
            "64:ff9b::7f00:1",
            "100::1",
        ] {
            assert!(is_internal(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["93.184.216.34", "2606:4700::1111", "2001:4860:4860::8888"] {
            assert!(!is_internal(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn the_machines_own_addresses_are_read_from_proc() {
        let fib = "Main:\n  +-- 0.0.0.0/0 3 0 5\n     |-- 0.0.0.0\n        /0 universe UNICAST\n           |-- 127.0.0.1\n              /32 host LOCAL\n           |-- 10.9.8.7\n              /24 link UNICAST\n           |-- 93.184.216.34\n              /32 host LOCAL\n        |-- 93.184.216.255\n           /32 link BROADCAST\n";
        assert_eq!(
            local_v4(fib),
            [
                "127.0.0.1".parse::<Ipv4Addr>().unwrap(),
                "93.184.216.34".parse().unwrap()
            ]
        );
        let inet6 = "2606470000000000000000000000aaaa 04 40 00 80     eth0\n00000000000000000000000000000001 01 80 10 80       lo\n";
        assert_eq!(
            local_v6(inet6),
            [
                "2606:4700::aaaa".parse::<std::net::Ipv6Addr>().unwrap(),
                "::1".parse().unwrap()
            ]
        );
        // Every address of this machine counts as internal.
        for ip in own_addresses() {
            assert!(is_internal(ip), "{ip}");
        }
    }

    #[test]
    fn internal_addresses() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fd00:ec2::254",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::127.0.0.1",
            "64:ff9b::a9fe:a9fe",
        ] {
            assert!(is_internal(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["93.184.216.34", "8.8.8.8", "2606:4700::1111", "1.1.1.1"] {
            assert!(!is_internal(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn urls_are_checked() {
        assert!(check_url("https://example.com/a.pdf", false).is_ok());
        for bad in [
            "http://127.0.0.1/",
            "http://[::1]:8080/",
            "http://169.254.169.254/latest/meta-data/",
            "http://localhost/x",
            "http://LOCALHOST./x",
            "http://app.localhost/",
            "http://0x7f000001/",
            "http://2130706433/",
            "http://metadata.google.internal/computeMetadata/v1/",
        ] {
            assert!(
                matches!(check_url(bad, false), Err(Invalid::Forbidden(_))),
                "{bad}"
            );
        }
        assert!(check_url("http://127.0.0.1/", true).is_ok());
        assert!(matches!(
            check_url("file:///etc/passwd", true),
            Err(Invalid::Bad(_))
        ));
        assert!(matches!(
            check_url("gopher://x/", false),
            Err(Invalid::Bad(_))
        ));
        assert!(check_url("not a url", false).is_err());
    }

    #[test]
    fn content_types() {
        assert!(acceptable_type("text/html; charset=utf-8"));
        assert!(acceptable_type("application/pdf"));
        assert!(acceptable_type(""));
        assert!(acceptable_type(
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
        ));
        assert!(!acceptable_type("image/png"));
        assert!(!acceptable_type("application/javascript"));
        assert!(!acceptable_type("video/mp4"));
        assert_eq!(
            detection_name("https://x/y.php", "text/html"),
            "document.html"
        );
        assert_eq!(
            detection_name("https://x/a.md?v=1", "application/octet-stream"),
            "https://x/a.md"
        );
    }

    #[tokio::test]
    async fn the_resolver_refuses_names_of_internal_addresses() {
        let name: Name = "localhost".parse().unwrap();
        let err = GuardedResolver.resolve(name).await.err().unwrap();
        assert!(err.to_string().contains("private or local"), "{err}");
    }

    #[test]
    fn files_over_the_limit_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("big.txt"), vec![b'a'; 100]).unwrap();
        assert!(read_file(dir.path(), "big.txt", 10)
            .unwrap_err()
            .contains("larger"));
        assert_eq!(read_file(dir.path(), "big.txt", 100).unwrap().len(), 100);
        assert!(read_file(dir.path(), "missing.txt", 100).is_err());
    }
}
