//! A blocking RESP2 client: enough to send commands and read replies in tests, without pulling a
//! Redis client crate into the workspace.

use std::io::{self, BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::Duration;

#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    Simple(String),
    Error(String),
    Int(i64),
    Bulk(Option<Vec<u8>>),
    Array(Option<Vec<Reply>>),
}

impl Reply {
    pub fn as_array(&self) -> Option<&[Reply]> {
        match self {
            Reply::Array(Some(items)) => Some(items),
            _ => None,
        }
    }

    /// Bulk or simple string as text.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Reply::Simple(s) => Some(s),
            Reply::Bulk(Some(b)) => std::str::from_utf8(b).ok(),
            _ => None,
        }
    }

    pub fn as_int(&self) -> Option<i64> {
        match self {
            Reply::Int(i) => Some(*i),
            _ => None,
        }
    }
}

pub struct Connection {
    reader: BufReader<TcpStream>,
}

/// Bounds every read and write, so a wedged server fails a test instead of hanging it.
const IO_TIMEOUT: Duration = Duration::from_secs(10);
/// Sanity bound on lengths announced by the server.
const MAX_LEN: i64 = 512 << 20;

impl Connection {
    pub fn connect(port: u16) -> io::Result<Self> {
        let stream = TcpStream::connect(("127.0.0.1", port))?;
        stream.set_read_timeout(Some(IO_TIMEOUT))?;
        stream.set_write_timeout(Some(IO_TIMEOUT))?;
        Ok(Connection {
            reader: BufReader::new(stream),
        })
    }

    /// Sends one command (each argument a bulk string) and reads its reply.
    pub fn command(&mut self, args: &[&[u8]]) -> io::Result<Reply> {
        let mut out = format!("*{}\r\n", args.len()).into_bytes();
        for arg in args {
            out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
            out.extend_from_slice(arg);
            out.extend_from_slice(b"\r\n");
        }
        self.reader.get_mut().write_all(&out)?;
        self.read_reply()
    }

    /// `command` with text arguments.
    pub fn cmd(&mut self, args: &[&str]) -> io::Result<Reply> {
        let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
        self.command(&args)
    }

    fn read_reply(&mut self) -> io::Result<Reply> {
        let line = self.read_line()?;
        let (kind, rest) = line.split_at(1.min(line.len()));
        match kind {
            "+" => Ok(Reply::Simple(rest.to_string())),
            "-" => Ok(Reply::Error(rest.to_string())),
            ":" => Ok(Reply::Int(parse_int(rest)?)),
            "$" => match parse_len(rest)? {
                None => Ok(Reply::Bulk(None)),
                Some(n) => {
                    let mut buf = vec![0; n + 2];
                    io::Read::read_exact(&mut self.reader, &mut buf)?;
                    buf.truncate(n);
                    Ok(Reply::Bulk(Some(buf)))
                }
            },
            "*" => match parse_len(rest)? {
                None => Ok(Reply::Array(None)),
                Some(n) => (0..n)
                    .map(|_| self.read_reply())
                    .collect::<io::Result<_>>()
                    .map(|v| Reply::Array(Some(v))),
            },
            _ => Err(invalid(format!("unexpected RESP line {line:?}"))),
        }
    }

    fn read_line(&mut self) -> io::Result<String> {
        let mut line = String::new();
        if self.reader.read_line(&mut line)? == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "redis closed the connection",
            ));
        }
        line.strip_suffix("\r\n")
            .map(str::to_string)
            .ok_or_else(|| invalid(format!("RESP line without CRLF: {line:?}")))
    }
}

fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

fn parse_int(s: &str) -> io::Result<i64> {
    s.parse()
        .map_err(|_| invalid(format!("bad RESP integer {s:?}")))
}

fn parse_len(s: &str) -> io::Result<Option<usize>> {
    match parse_int(s)? {
        -1 => Ok(None),
        n if (0..=MAX_LEN).contains(&n) => Ok(Some(n as usize)),
        n => Err(invalid(format!("bad RESP length {n}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;
    use std::thread;

    /// A scripted server: checks the exact request bytes and answers with canned RESP.
    fn serve_once(expect: &'static [u8], answer: &'static [u8]) -> u16 {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut got = vec![0; expect.len()];
            io::Read::read_exact(&mut s, &mut got).unwrap();
            assert_eq!(got, expect);
            s.write_all(answer).unwrap();
        });
        port
    }

    #[test]
    fn encodes_commands_and_decodes_nested_replies() {
        let port = serve_once(
            b"*2\r\n$4\r\nECHO\r\n$3\r\na\r\n\r\n",
            b"*5\r\n+OK\r\n:-3\r\n$4\r\nab\r\n\r\n$-1\r\n*1\r\n-ERR x\r\n",
        );
        let mut c = Connection::connect(port).unwrap();
        let reply = c.command(&[b"ECHO", b"a\r\n"]).unwrap();
        assert_eq!(
            reply,
            Reply::Array(Some(vec![
                Reply::Simple("OK".into()),
                Reply::Int(-3),
                Reply::Bulk(Some(b"ab\r\n".to_vec())),
                Reply::Bulk(None),
                Reply::Array(Some(vec![Reply::Error("ERR x".into())])),
            ]))
        );
    }

    #[test]
    fn malformed_replies_are_errors() {
        for answer in [&b"?what\r\n"[..], b":12x\r\n", b"$-7\r\n", b"+no crlf"] {
            let answer: &'static [u8] = Box::leak(answer.to_vec().into_boxed_slice());
            let port = serve_once(b"*1\r\n$4\r\nPING\r\n", answer);
            let mut c = Connection::connect(port).unwrap();
            assert!(c.cmd(&["PING"]).is_err(), "{answer:?}");
        }
    }
}
