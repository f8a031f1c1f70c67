//! What a public endpoint must survive: slow and silent clients, too many
//! connections, and bodies announced too large. Raw TCP on loopback, with
//! short limits so every wait is bounded.

mod common;

use std::{
    io::{Read, Write},
    net::TcpStream,
    time::{Duration, Instant},
};

use common::{Opts, Server};

fn server(extra: &[(&str, &str)]) -> Server {
    Server::with(Opts {
        extra_env: extra
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        ..Opts::default()
    })
}

fn connect(server: &Server) -> TcpStream {
    let addr = server.url.trim_start_matches("http://");
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s
}

/// Reads until the server closes the connection (or the read deadline).
fn read_to_close(s: &mut TcpStream) -> (String, bool) {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return (String::from_utf8_lossy(&out).into_owned(), true),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(_) => return (String::from_utf8_lossy(&out).into_owned(), false),
        }
    }
}

/// The response's JSON body (after the blank line).
fn json_body(response: &str) -> serde_json::Value {
    let body = response.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    // Chunked or not, the JSON object is the part between the braces.
    let start = body
        .find('{')
        .unwrap_or_else(|| panic!("no JSON: {response:?}"));
    let end = body.rfind('}').unwrap();
    serde_json::from_str(&body[start..=end]).unwrap()
}

#[test]
fn a_trickling_or_idle_client_is_cut_off() {
    let server = server(&[("BOXOFFICE_HEADER_TIMEOUT_SECS", "2")]);
    // A head sent one byte at a time, forever: closed after the deadline.
    let mut slow = connect(&server);
    let started = Instant::now();
    let head = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ";
    let mut closed = false;
    for b in head.iter().cycle().take(200) {
        if slow.write_all(&[*b]).is_err() {
            closed = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(300));
        if started.elapsed() > Duration::from_secs(15) {
            break;
        }
    }
    if !closed {
        let (_, eof) = read_to_close(&mut slow);
        closed = eof;
    }
    assert!(
        closed,
        "a trickling head was still open after {:?}",
        started.elapsed()
    );

    // A keep-alive connection that goes quiet after a request is closed too.
    let mut idle = connect(&server);
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let (response, eof) = read_to_close(&mut idle);
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(eof, "an idle keep-alive connection was never closed");
}

#[test]
fn a_body_that_never_arrives_gets_408_and_an_oversized_one_413_at_once() {
    let server = server(&[("BOXOFFICE_BODY_TIMEOUT_SECS", "2")]);
    let mut s = connect(&server);
    s.write_all(
        b"POST /api/users/signin HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"email\":",
    )
    .unwrap();
    let (response, _) = read_to_close(&mut s);
    assert!(response.starts_with("HTTP/1.1 408"), "{response}");
    assert_eq!(json_body(&response)["errors"][0]["code"], "body_timeout");

    // A declared 10^12 bytes: refused before any of it is sent.
    let mut s = connect(&server);
    let started = Instant::now();
    s.write_all(
        b"POST /api/tickets HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000000000000\r\n\r\n",
    )
    .unwrap();
    let (response, eof) = read_to_close(&mut s);
    assert!(response.starts_with("HTTP/1.1 413"), "{response}");
    assert_eq!(json_body(&response)["errors"][0]["code"], "too_large");
    assert!(eof, "the connection is not kept");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "not held open waiting for the body"
    );
}

#[test]
fn connections_beyond_the_cap_wait_to_be_accepted() {
    let server = server(&[
        ("BOXOFFICE_MAX_CONNECTIONS", "3"),
        ("BOXOFFICE_HEADER_TIMEOUT_SECS", "60"),
    ]);
    // Three silent connections take every slot.
    let silent: Vec<TcpStream> = (0..3).map(|_| connect(&server)).collect();
    std::thread::sleep(Duration::from_millis(300));
    let mut fourth = connect(&server);
    fourth
        .set_read_timeout(Some(Duration::from_millis(1500)))
        .unwrap();
    fourth
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut buf = [0u8; 64];
    assert!(
        fourth.read(&mut buf).is_err(),
        "a fourth connection was served while three held every slot"
    );
    // One leaves: the waiting connection is accepted and answered.
    drop(silent);
    fourth
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let (response, _) = read_to_close(&mut fourth);
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
}
