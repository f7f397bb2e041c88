//! Parsing in a child process. Every parser reads hostile bytes; in the server's process an
//! abort, a stack overflow, a loop the deadline cannot interrupt or a memory blow-up would
//! take the server down. So the worker runs `ragd parse-child` (this binary, a hidden
//! subcommand) for each document: the child limits its own address space and CPU time
//! (`setrlimit`) before it reads a byte, parses the document from stdin under the same
//! [`ingest::ParseLimits`], and writes the result to stdout as JSON. The parent waits at most
//! the parse deadline and a margin, and turns a child killed by a limit into a clear error
//! for that one document.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ingest::parse::child::{self, Ended};
use ingest::parse::{ParsedDocument, Parser};
use ingest::{Format, ParseLimits};
use serde::{Deserialize, Serialize};

/// The child's answer on stdout.
#[derive(Debug, Serialize, Deserialize)]
enum Reply {
    Parsed { doc: ParsedDocument, parse_ms: u64 },
    Failed { message: String },
}

/// Parses in a child process of `exe` under these limits.
#[derive(Debug, Clone)]
pub struct ChildParser {
    pub exe: PathBuf,
    /// The child's address-space limit (`RLIMIT_AS`), in bytes.
    pub memory_bytes: u64,
    /// The child's CPU-time limit (`RLIMIT_CPU`), in seconds.
    pub cpu_secs: u64,
}

/// Extra wall-clock time the parent allows beyond the parse deadline (process start, I/O).
const MARGIN: Duration = Duration::from_secs(10);

impl Parser for ChildParser {
    fn parse(
        &self,
        bytes: &[u8],
        format: Format,
        limits: &ParseLimits,
    ) -> ingest::Result<ParsedDocument> {
        let failed = |m: String| ingest::Error::Parser(m);
        let child = Command::new(&self.exe)
            .arg("parse-child")
            .args(["--format", &format_name(format)])
            .args([
                "--pdf-timeout-secs",
                &limits.pdf_timeout.as_secs().to_string(),
            ])
            .args(["--max-text-bytes", &limits.max_text_bytes.to_string()])
            .args(["--max-sections", &limits.max_sections.to_string()])
            .args(["--ocr-languages", &limits.ocr.languages])
            .args(["--ocr-dpi", &limits.ocr.dpi.to_string()])
            .args([
                "--ocr-timeout-secs",
                &limits.ocr.timeout.as_secs().to_string(),
            ])
            .args(["--memory-bytes", &self.memory_bytes.to_string()])
            .args(["--cpu-secs", &self.cpu_secs.to_string()])
            .env("RAGD_LOG", "error")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| failed(format!("cannot start the parser process: {e}")))?;
        let started = Instant::now();
        // OCR has a budget of its own, after the text layer's.
        let ocr = if limits.ocr.enabled() && matches!(format, Format::Pdf | Format::Image) {
            limits.ocr.timeout
        } else {
            Duration::ZERO
        };
        let budget = limits.pdf_timeout + ocr + MARGIN;
        // Written and read at once: a large document fills the pipe before the child answers.
        let (status, out, err) = match child::wait(child, Some(bytes.to_vec()), started + budget) {
            Ok(Ended::Exited {
                status,
                stdout,
                stderr,
            }) => (status, stdout, stderr),
            Ok(Ended::TimedOut) => return Err(ingest::Error::Timeout(budget.as_secs())),
            Err(e) => return Err(failed(format!("the parser process: {e}"))),
        };
        if let Ok(reply) = serde_json::from_slice::<Reply>(&out) {
            return match reply {
                Reply::Parsed { doc, .. } => Ok(doc),
                Reply::Failed { message } => Err(failed(message)),
            };
        }
        Err(failed(self.death(
            status,
            started.elapsed(),
            &String::from_utf8_lossy(&err),
        )))
    }
}

impl ChildParser {
    /// Why a child ended without an answer, from how it ended and how long it ran. A parser
    /// is single-threaded: killed before `cpu_secs` of wall time, it cannot have used its CPU
    /// time, so the kernel's out-of-memory killer took it (it volunteers first: see
    /// [`child_main`]).
    fn death(&self, status: std::process::ExitStatus, ran: Duration, stderr: &str) -> String {
        use std::os::unix::process::ExitStatusExt;
        let out_of_memory = ["memory allocation", "capacity overflow", "out of memory"]
            .iter()
            .any(|m| stderr.contains(m));
        match status.signal() {
            Some(9) if ran < Duration::from_secs(self.cpu_secs) => format!(
                "the parser process was killed after {} ms, before its cpu time limit: the machine or its memory cgroup ran out of memory",
                ran.as_millis()
            ),
            Some(9) | Some(24) => format!(
                "the parser ran past its cpu time limit of {} s (parse_cpu_secs)",
                self.cpu_secs
            ),
            Some(6) if out_of_memory => format!(
                "the parser ran out of its memory limit of {} MiB (parse_memory_bytes)",
                self.memory_bytes >> 20
            ),
            Some(11) if stderr.contains("overflow") => "the parser overflowed its stack".into(),
            Some(signal) => format!("the parser process crashed (signal {signal})"),
            None if out_of_memory => format!(
                "the parser ran out of its memory limit of {} MiB (parse_memory_bytes)",
                self.memory_bytes >> 20
            ),
            None => format!(
                "the parser process failed ({status}): {}",
                stderr.lines().last().unwrap_or_default()
            ),
        }
    }
}

fn format_name(format: Format) -> String {
    serde_json::to_value(format)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

/// What `ragd parse-child` is told.
#[derive(Debug, Clone, clap::Args)]
pub struct ChildArgs {
    #[arg(long)]
    pub format: String,
    #[arg(long)]
    pub pdf_timeout_secs: u64,
    #[arg(long)]
    pub max_text_bytes: usize,
    #[arg(long)]
    pub max_sections: usize,
    /// Tesseract's languages joined by `+`; empty: no OCR.
    #[arg(long, default_value = "")]
    pub ocr_languages: String,
    #[arg(long, default_value_t = 200)]
    pub ocr_dpi: u32,
    #[arg(long, default_value_t = 600)]
    pub ocr_timeout_secs: u64,
    #[arg(long)]
    pub memory_bytes: u64,
    #[arg(long)]
    pub cpu_secs: u64,
}

/// `ragd parse-child`: limits itself, parses stdin, answers on stdout. Returns the exit code.
pub fn child_main(args: &ChildArgs) -> i32 {
    use rustix::process::{setrlimit, Resource, Rlimit};
    let limit = |resource, value: u64| {
        setrlimit(
            resource,
            Rlimit {
                current: Some(value),
                maximum: Some(value),
            },
        )
    };
    // The soft CPU limit sends SIGXCPU; the hard one a second later SIGKILL.
    if limit(Resource::As, args.memory_bytes).is_err()
        || setrlimit(
            Resource::Cpu,
            Rlimit {
                current: Some(args.cpu_secs),
                maximum: Some(args.cpu_secs + 1),
            },
        )
        .is_err()
    {
        eprintln!("cannot limit the parser process");
        return 2;
    }
    // When memory runs out (the machine's, or a cgroup's the server shares), the kernel
    // kills this process rather than the server. Raising one's own score needs no privilege.
    let _ = std::fs::write("/proc/self/oom_score_adj", "1000");
    let reply =
        match serde_json::from_value::<Format>(serde_json::Value::String(args.format.clone())) {
            Err(_) => Reply::Failed {
                message: format!("unknown format {}", args.format),
            },
            Ok(format) => {
                let mut bytes = Vec::new();
                if let Err(e) = std::io::stdin().read_to_end(&mut bytes) {
                    eprintln!("cannot read the document: {e}");
                    return 2;
                }
                let limits = ParseLimits {
                    pdf_timeout: Duration::from_secs(args.pdf_timeout_secs),
                    max_text_bytes: args.max_text_bytes,
                    max_sections: args.max_sections,
                    ocr: ingest::parse::ocr::OcrOptions {
                        languages: args.ocr_languages.clone(),
                        dpi: args.ocr_dpi,
                        timeout: Duration::from_secs(args.ocr_timeout_secs),
                    },
                };
                let started = Instant::now();
                match ingest::parse::parse(&bytes, format, &limits) {
                    Ok(doc) => Reply::Parsed {
                        doc,
                        parse_ms: started.elapsed().as_millis() as u64,
                    },
                    Err(e) => Reply::Failed {
                        message: e.to_string(),
                    },
                }
            }
        };
    let mut out = std::io::stdout().lock();
    let written = serde_json::to_writer(&mut out, &reply)
        .map_err(std::io::Error::from)
        .and_then(|()| out.flush());
    match written {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("cannot write the reply: {e}");
            2
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::ExitStatusExt;

    #[test]
    fn a_child_s_end_is_told_by_how_and_when_it_ended() {
        let p = ChildParser {
            exe: PathBuf::from("ragd"),
            memory_bytes: 256 << 20,
            cpu_secs: 60,
        };
        let status = std::process::ExitStatus::from_raw;
        let secs = Duration::from_secs;
        // SIGKILL early: the out-of-memory killer; late: the hard cpu limit.
        let early = p.death(status(9), secs(2), "");
        assert!(early.contains("ran out of memory"), "{early}");
        let late = p.death(status(9), secs(61), "");
        assert!(late.contains("parse_cpu_secs"), "{late}");
        assert!(p.death(status(24), secs(1), "").contains("parse_cpu_secs"));
        let oom = p.death(status(6), secs(1), "memory allocation of 1 bytes failed");
        assert!(oom.contains("256 MiB (parse_memory_bytes)"), "{oom}");
        assert!(p
            .death(status(11), secs(1), "thread has overflowed its stack")
            .contains("stack"));
        assert!(p.death(status(11), secs(1), "").contains("signal 11"));
        assert!(p.death(status(2 << 8), secs(1), "x\nboom").contains("boom"));
    }
}
