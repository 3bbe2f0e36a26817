//! Listener addresses as written on the command line: `127.0.0.1:PORT`, `[::1]:PORT` or
//! `unix:/abs/path.sock`. One parser serves `serve --listen` and the bootstrap generator, so
//! the address Envoy is told about is the address Sluice binds.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;

/// Where `sluice serve` listens and where `sluice envoy-bootstrap` points Envoy unless told
/// otherwise: a Unix socket, because Envoy and Sluice run side by side (same pod or host)
/// and a local socket skips the TCP/IP stack on every ext_proc message.
pub const DEFAULT_SOCKET: &str = "unix:/run/sluice/sluice.sock";

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ListenAddr {
    Tcp(SocketAddr),
    /// Absolute path of a Unix domain socket.
    Unix(PathBuf),
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ListenAddrError {
    #[error("unix socket path must be absolute (unix:/abs/path.sock), got {0:?}")]
    RelativeUnixPath(String),
    #[error("expected IP:PORT, [IPv6]:PORT or unix:/abs/path.sock, got {0:?}")]
    Syntax(String),
}

impl FromStr for ListenAddr {
    type Err = ListenAddrError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Some(path) = s.strip_prefix("unix:") {
            let path = PathBuf::from(path);
            if !path.is_absolute() {
                return Err(ListenAddrError::RelativeUnixPath(s.to_owned()));
            }
            return Ok(ListenAddr::Unix(path));
        }
        s.parse::<SocketAddr>()
            .map(ListenAddr::Tcp)
            .map_err(|_| ListenAddrError::Syntax(s.to_owned()))
    }
}

impl ListenAddr {
    /// [`DEFAULT_SOCKET`] as an address.
    pub fn default_socket() -> ListenAddr {
        ListenAddr::Unix(PathBuf::from(
            DEFAULT_SOCKET
                .strip_prefix("unix:")
                .unwrap_or(DEFAULT_SOCKET),
        ))
    }
}

impl fmt::Display for ListenAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ListenAddr::Tcp(addr) => write!(f, "{addr}"),
            ListenAddr::Unix(path) => write!(f, "unix:{}", path.display()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_socket_parses_as_itself() {
        assert_eq!(DEFAULT_SOCKET.parse(), Ok(ListenAddr::default_socket()));
    }

    #[test]
    fn parses_each_form_and_prints_it_back() {
        for text in ["127.0.0.1:9000", "[::1]:9000", "unix:/run/sluice.sock"] {
            let addr: ListenAddr = text.parse().unwrap();
            assert_eq!(addr.to_string(), text);
        }
        assert!(matches!(
            "unix:/tmp/s.sock".parse::<ListenAddr>(),
            Ok(ListenAddr::Unix(_))
        ));
    }

    #[test]
    fn rejects_relative_socket_and_host_names() {
        assert_eq!(
            "unix:rel.sock".parse::<ListenAddr>(),
            Err(ListenAddrError::RelativeUnixPath("unix:rel.sock".into()))
        );
        assert!(matches!(
            "localhost:80".parse::<ListenAddr>(),
            Err(ListenAddrError::Syntax(_))
        ));
        assert!(matches!(
            "127.0.0.1".parse::<ListenAddr>(),
            Err(ListenAddrError::Syntax(_))
        ));
    }
}
