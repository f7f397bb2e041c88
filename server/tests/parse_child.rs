//! The parser process (`ragd parse-child`) as the worker uses it: one child parses many small
//! documents in turn, and a document that kills its child costs that document only.

use std::collections::HashSet;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use ingest::parse::Parser;
use ingest::{Format, ParseLimits};
use server::isolate::{ChildParser, MAX_SERVED};

fn exe() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_ragd"))
}

fn note(i: usize) -> Vec<u8> {
    format!("# Note {i}\n\nThe harbor {i} supplies the village.\n").into_bytes()
}

/// A process's nice value (field 19 of `/proc/PID/stat`, after the parenthesised name).
fn nice_of(pid: u32) -> i64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after_name = &stat[stat.rfind(')').unwrap() + 2..];
    after_name.split(' ').nth(16).unwrap().parse().unwrap()
}

fn parsed_text(parser: &ChildParser, bytes: &[u8], format: Format) -> ingest::Result<String> {
    let doc = parser.parse(bytes, format, &ParseLimits::default())?;
    Ok(doc
        .sections
        .iter()
        .map(|s| s.text.as_str())
        .collect::<Vec<_>>()
        .join("\n"))
}

#[test]
fn one_child_parses_many_documents_and_a_failure_costs_one() {
    let parser = ChildParser::new(exe(), 128 << 20, 60, 10);
    let mut children = HashSet::new();
    for i in 0..20 {
        let text = parsed_text(&parser, &note(i), Format::Markdown).unwrap();
        assert!(text.contains(&format!("harbor {i} supplies")), "{text}");
        let idle = parser.idle_pids();
        assert_eq!(idle.len(), 1, "one child waits after each document");
        children.extend(idle);
    }
    assert_eq!(children.len(), 1, "documents in turn share one child");
    let first = children.into_iter().next().unwrap();
    assert_eq!(
        nice_of(first),
        10,
        "the child parses at the ingest priority"
    );

    // Text that outgrows the child's 128 MiB: that document fails naming the limit, and the
    // child that died is not used again.
    let big = "all work and no play makes a dull parser\n".repeat(1_000_000);
    let err = parsed_text(&parser, big.as_bytes(), Format::Text)
        .unwrap_err()
        .to_string();
    assert!(err.contains("parse_memory_bytes"), "{err}");
    assert!(!parser.idle_pids().contains(&first) || parser.idle_pids().is_empty());

    // A document its parser refuses fails alone; the next one is parsed.
    let err = parsed_text(&parser, b"PK\x03\x04 not a zip", Format::Docx).unwrap_err();
    assert!(!err.to_string().is_empty());
    let text = parsed_text(&parser, &note(99), Format::Markdown).unwrap();
    assert!(text.contains("harbor 99"), "{text}");
    assert!(!parser.idle_pids().contains(&first));
}

#[test]
fn a_child_that_died_while_idle_is_replaced() {
    let parser = ChildParser::new(exe(), 128 << 20, 60, 10);
    parsed_text(&parser, &note(1), Format::Markdown).unwrap();
    let idle = parser.idle_pids();
    assert_eq!(idle.len(), 1);
    // As the out-of-memory killer would.
    let status = Command::new("kill")
        .args(["-9", &idle[0].to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    std::thread::sleep(std::time::Duration::from_millis(100));
    let text = parsed_text(&parser, &note(2), Format::Markdown).unwrap();
    assert!(text.contains("harbor 2"), "{text}");
    let now = parser.idle_pids();
    assert_eq!(now.len(), 1);
    assert_ne!(now[0], idle[0]);
}

#[test]
fn a_child_serves_a_bounded_number_of_documents() {
    let parser = ChildParser::new(exe(), 128 << 20, 60, 10);
    let mut children = HashSet::new();
    for i in 0..=MAX_SERVED as usize {
        parsed_text(&parser, &note(i), Format::Markdown).unwrap();
        children.extend(parser.idle_pids());
    }
    assert_eq!(
        children.len(),
        2,
        "a second child after {MAX_SERVED} documents"
    );
}

#[test]
fn without_serve_the_child_parses_the_one_document_on_stdin() {
    let mut child = Command::new(exe())
        .args(["parse-child", "--format", "markdown"])
        .args(["--memory-bytes", &(128u64 << 20).to_string()])
        .args(["--cpu-secs", "10"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&note(7)).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let reply: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let text = reply["Parsed"]["doc"]["sections"][0]["text"].to_string();
    assert!(text.contains("harbor 7"), "{reply}");
}
