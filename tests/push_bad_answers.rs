//! A customer that answers badly — non-JSON, an HTML error page, a huge body, JSON without
//! `code`, a slowloris trickle, a closed connection — gets a clear attempt record and a retry,
//! never a panic and never a lost report.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use common::harness::Harness;
use pushagent::clock::Clock;
use pushagent::push::pusher::StepReport;
use pushagent::push::report::ReportState;

const HOUR: i64 = 1_795_478_400_000;

/// Serve ONE connection with `answer` (raw bytes written after the request was read), then stop.
fn one_bad_answer(answer: fn(&mut TcpStream)) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    std::thread::spawn(move || {
        if let Ok((mut stream, _)) = listener.accept() {
            read_request(&mut stream);
            answer(&mut stream);
        }
    });
    format!("http://{addr}")
}

fn read_request(stream: &mut TcpStream) {
    let mut reader = BufReader::new(stream.try_clone().expect("clone"));
    let mut length = 0usize;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
            break;
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            length = v.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0u8; length];
    let _ = reader.read_exact(&mut body);
}

fn assert_retried_with(answer: fn(&mut TcpStream), expected_in_message: &str) {
    let url = one_bad_answer(answer);
    let harness = Harness::at(HOUR + 4_000_000, 1)
        .customer_url(&url)
        .config(|config| {
            config.customer.timeout_secs = 2;
            config.customer.connect_timeout_secs = 1;
        })
        .build();
    let clock = &harness.clock;
    let mut pusher = harness.pusher_with_pending_hours("aa:bb:cc:dd:ee:01", HOUR, 1);
    let mut done = StepReport::default();
    pusher.send_due(&mut done).expect("a bad answer is not an error of the agent");
    assert_eq!(done.failed_attempts, 1);
    let r = pusher.outbox.get("aa:bb:cc:dd:ee:01", "2026112408").expect("db").expect("report kept");
    assert_eq!(r.state, ReportState::Pending, "still to be sent");
    assert_eq!(r.attempts, 1);
    assert!(r.next_attempt_at_ms > clock.wall_ms(), "retry scheduled later");
    let attempts = pusher.outbox.attempts_of(&r.mac, &r.flux_hour).expect("attempts");
    assert_eq!(attempts.len(), 1);
    assert_eq!(attempts[0].outcome, "retry");
    assert!(
        attempts[0].message.contains(expected_in_message),
        "message {:?} should say {expected_in_message:?}",
        attempts[0].message
    );
}

fn write(stream: &mut TcpStream, text: &str) {
    let _ = stream.write_all(text.as_bytes());
    let _ = stream.flush();
}

#[test]
fn non_json_answer() {
    assert_retried_with(|s| write(s, "HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nnot json!"), "not JSON");
}

#[test]
fn html_error_page() {
    assert_retried_with(
        |s| {
            let page = "<html><body><h1>502 Bad Gateway</h1></body></html>";
            write(
                s,
                &format!(
                    "HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/html\r\nContent-Length: {}\r\n\r\n{page}",
                    page.len()
                ),
            )
        },
        "HTML instead of JSON",
    );
}

#[test]
fn huge_body() {
    assert_retried_with(
        |s| {
            let size = 5 << 20;
            write(s, &format!("HTTP/1.1 200 OK\r\nContent-Length: {size}\r\n\r\n"));
            let chunk = vec![b'a'; 64 * 1024];
            for _ in 0..(size / chunk.len()) {
                if s.write_all(&chunk).is_err() {
                    return; // the agent stopped reading: as it should
                }
            }
        },
        "answer unreadable",
    );
}

#[test]
fn json_without_code() {
    assert_retried_with(
        |s| write(s, "HTTP/1.1 200 OK\r\nContent-Length: 15\r\n\r\n{\"msg\":\"fine\"}\n"),
        "no code",
    );
}

#[test]
fn slowloris_is_cut_by_the_timeout() {
    assert_retried_with(
        |s| {
            write(s, "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n");
            // One byte every 100 ms, for at most 10 s: far beyond the agent's 2 s timeout.
            for _ in 0..100 {
                if s.write_all(b"{").is_err() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        },
        "timed out",
    );
}

#[test]
fn connection_closed_without_answer() {
    assert_retried_with(|s| drop(s.shutdown(std::net::Shutdown::Both)), "no answer");
}

/// A customer that closes an idle keep-alive connection just as the agent reuses it (nginx's
/// `keepalive_timeout` running out as the next push goes out): the agent's next request on its
/// pooled connection gets no answer. That push is an ordinary failed attempt: the hour stays
/// pending at the same version and goes on a new connection after the backoff; nothing is
/// lost and the customer stores every hour once, at version 1.
#[test]
fn a_keep_alive_connection_closed_under_the_next_push_loses_and_doubles_nothing() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let stored = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let store = std::sync::Arc::clone(&stored);
    std::thread::spawn(move || {
        const OK: &str = "HTTP/1.1 200 OK\r\nContent-Length: 21\r\n\r\n{\"code\":0,\"msg\":\"ok\"}";
        // The first connection: one push answered (keep-alive), the next one cut unanswered.
        let Ok((mut first, _)) = listener.accept() else { return };
        let Some(body) = request_body(&mut first) else { return };
        store.lock().expect("store").push(body);
        write(&mut first, OK);
        let _ = request_body(&mut first);
        drop(first);
        // Every later connection: each push stored and answered.
        while let Ok((mut stream, _)) = listener.accept() {
            while let Some(body) = request_body(&mut stream) {
                store.lock().expect("store").push(body);
                write(&mut stream, OK);
            }
        }
    });
    let harness = Harness::at(HOUR + 2 * 3_600_000 + 60_000, 1)
        .customer_url(&url)
        .config(|config| {
            config.customer.timeout_secs = 2;
            config.customer.connect_timeout_secs = 1;
            config.customer.batch_size = 1;
        })
        .build();
    let clock = &harness.clock;
    let mut pusher = harness.pusher_with_pending_hours("aa:bb:cc:dd:ee:01", HOUR, 2);

    let mut done = StepReport::default();
    pusher.send_due(&mut done).expect("a cut connection is not an error of the agent");
    assert_eq!((done.sent, done.failed_attempts), (1, 1), "{done:?}");
    let second = pusher.outbox.get("aa:bb:cc:dd:ee:01", "2026112409").expect("db").expect("report kept");
    assert_eq!((second.state, second.version, second.attempts), (ReportState::Pending, 1, 1));
    let attempts = pusher.outbox.attempts_of(&second.mac, &second.flux_hour).expect("attempts");
    assert_eq!(attempts.len(), 1);
    assert_eq!(attempts[0].outcome, "retry");
    // The request went out on the kept connection and met its end (not a timeout).
    assert!(attempts[0].message.contains("Peer disconnected"), "{:?}", attempts[0].message);

    clock.advance_ms((second.next_attempt_at_ms - clock.wall_ms()) as u64);
    let mut done = StepReport::default();
    pusher.send_due(&mut done).expect("retry");
    assert_eq!((done.sent, done.failed_attempts), (1, 0), "{done:?}");
    for flux_hour in ["2026112408", "2026112409"] {
        let r = pusher.outbox.get("aa:bb:cc:dd:ee:01", flux_hour).expect("db").expect("report");
        assert_eq!((r.state, r.version), (ReportState::Sent, 1), "{r:?}");
    }
    let stored = stored.lock().expect("store").clone();
    let hours: Vec<(String, u64)> = stored
        .iter()
        .map(|body| {
            let records: serde_json::Value = serde_json::from_str(body).expect("a JSON push");
            let record = &records["records"][0];
            (record["flux_hour"].as_str().unwrap_or("").to_owned(), record["version"].as_u64().unwrap_or(0))
        })
        .collect();
    assert_eq!(hours, [("2026112408".to_owned(), 1), ("2026112409".to_owned(), 1)], "each hour stored once");
}

/// The body of the next request on `stream`; None when the connection ends first.
fn request_body(stream: &mut TcpStream) -> Option<String> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return None,
        }
    }
    let head = String::from_utf8_lossy(&head).to_ascii_lowercase();
    let length = head
        .lines()
        .find_map(|line| line.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    let mut body = vec![0u8; length];
    stream.read_exact(&mut body).ok()?;
    Some(String::from_utf8_lossy(&body).into_owned())
}
