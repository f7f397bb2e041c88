//! Parsing in a child process. Every parser reads hostile bytes; in the server's process an
//! abort, a stack overflow, a loop the deadline cannot interrupt or a memory blow-up would
//! take the server down. So the worker hands each document to `ragd parse-child --serve`
//! (this binary, a hidden subcommand): the child limits its own address space (`setrlimit`)
//! before it reads a byte, then parses documents from stdin one after another, each under
//! the same [`ingest::ParseLimits`] and a CPU-time limit of its own, and writes each result to
//! stdout as one line of JSON. The parent waits at most the parse deadline and a margin, and
//! turns a child killed by a limit into a clear error for that one document.
//!
//! Starting a process costs a few milliseconds, as much as the whole ingest of a small file
//! costs besides the model, so a child serves many documents: after a small document it
//! parsed without trouble it waits, idle, for the next one ([`ChildParser`] keeps a few). A
//! child that failed, timed out, read a large file, a PDF or an image (whose OCR tools and
//! PDF deadline threads it starts) or served [`MAX_SERVED`] documents is not reused.
//! `ragd parse-child` without `--serve` parses one document (what `scripts/bench_parse.py`
//! and `scripts/bench_ocr.py` run).

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use ingest::parse::{ParsedDocument, Parser};
use ingest::{Format, ParseLimits};
use serde::{Deserialize, Serialize};

/// The child's answer on stdout.
#[derive(Debug, Serialize, Deserialize)]
enum Reply {
    Parsed { doc: ParsedDocument, parse_ms: u64 },
    Failed { message: String },
}

/// One document for a serving child: this line of JSON, then `len` bytes.
#[derive(Debug, Serialize, Deserialize)]
struct Job {
    format: Format,
    len: usize,
    pdf_timeout_secs: u64,
    max_text_bytes: usize,
    max_sections: usize,
    ocr_languages: String,
    ocr_dpi: u32,
    ocr_timeout_secs: u64,
}

impl Job {
    fn limits(&self) -> ParseLimits {
        ParseLimits {
            pdf_timeout: Duration::from_secs(self.pdf_timeout_secs),
            max_text_bytes: self.max_text_bytes,
            max_sections: self.max_sections,
            ocr: ingest::parse::ocr::OcrOptions {
                languages: self.ocr_languages.clone(),
                dpi: self.ocr_dpi,
                timeout: Duration::from_secs(self.ocr_timeout_secs),
            },
        }
    }
}

/// Parses in child processes of `exe` under these limits.
#[derive(Debug)]
pub struct ChildParser {
    exe: PathBuf,
    /// A child's address-space limit (`RLIMIT_AS`), in bytes.
    memory_bytes: u64,
    /// A child's CPU-time limit (`RLIMIT_CPU`) per document, in seconds.
    cpu_secs: u64,
    /// A child's nice value: it parses at the embedding's ingest priority, so searches get
    /// the CPU first.
    nice: i32,
    /// Children waiting for a document.
    idle: Mutex<Vec<Serving>>,
}

/// Extra wall-clock time the parent allows beyond the parse deadline (process start, I/O).
const MARGIN: Duration = Duration::from_secs(10);
/// Documents one child parses at most.
pub const MAX_SERVED: u32 = 500;
/// A child that read a larger document is not reused (its heap may have grown fragmented).
const REUSE_BYTES: usize = 1 << 20;
/// Idle children kept at most.
const MAX_IDLE: usize = 8;
/// Bytes of a child's stderr kept (its last words say why it died).
const STDERR_KEPT: usize = 4096;

/// A child that parses the documents it is sent, one at a time.
struct Serving {
    child: Child,
    stdin: Option<ChildStdin>,
    /// Its stdout, a line at a time (read by a thread of its own).
    replies: mpsc::Receiver<Vec<u8>>,
    /// The last [`STDERR_KEPT`] bytes of its stderr, complete once `stderr_done` ends.
    stderr: Arc<Mutex<VecDeque<u8>>>,
    stderr_done: Option<std::thread::JoinHandle<()>>,
    served: u32,
}

impl std::fmt::Debug for Serving {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Serving")
            .field("pid", &self.child.id())
            .field("served", &self.served)
            .finish()
    }
}

impl Serving {
    /// Sends one document.
    fn send(&mut self, job: &Job, bytes: &[u8]) -> std::io::Result<()> {
        let stdin = self
            .stdin
            .as_mut()
            .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::BrokenPipe))?;
        let mut line = serde_json::to_vec(job).map_err(std::io::Error::from)?;
        line.push(b'\n');
        stdin.write_all(&line)?;
        stdin.write_all(bytes)?;
        stdin.flush()
    }

    /// Waits for the child to end (it closed its stdout, or was killed): how, and its last
    /// words.
    fn end(mut self) -> (std::io::Result<ExitStatus>, String) {
        self.stdin = None;
        let status = self.child.wait();
        if let Some(done) = self.stderr_done.take() {
            let _ = done.join();
        }
        let words = self.stderr.lock().unwrap_or_else(|p| p.into_inner());
        let (a, b) = words.as_slices();
        let text = String::from_utf8_lossy(&[a, b].concat()).into_owned();
        (status, text)
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        // Closing its stdin ends an idle child; a busy one (timed out) is killed.
        self.stdin = None;
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Parser for ChildParser {
    fn parse(
        &self,
        bytes: &[u8],
        format: Format,
        limits: &ParseLimits,
    ) -> ingest::Result<ParsedDocument> {
        let failed = |m: String| ingest::Error::Parser(m);
        let started = Instant::now();
        // OCR has a budget of its own, after the text layer's.
        let ocr = if limits.ocr.enabled() && matches!(format, Format::Pdf | Format::Image) {
            limits.ocr.timeout
        } else {
            Duration::ZERO
        };
        let budget = limits.pdf_timeout + ocr + MARGIN;
        let job = Job {
            format,
            len: bytes.len(),
            pdf_timeout_secs: limits.pdf_timeout.as_secs(),
            max_text_bytes: limits.max_text_bytes,
            max_sections: limits.max_sections,
            ocr_languages: limits.ocr.languages.clone(),
            ocr_dpi: limits.ocr.dpi,
            ocr_timeout_secs: limits.ocr.timeout.as_secs(),
        };
        // An idle child that has died since (the machine's out-of-memory killer) is replaced.
        let idle = self
            .take_idle()
            .and_then(|mut idle| idle.send(&job, bytes).is_ok().then_some(idle));
        let mut serving = match idle {
            Some(idle) => idle,
            None => {
                let mut fresh = self
                    .spawn()
                    .map_err(|e| failed(format!("cannot start the parser process: {e}")))?;
                if fresh.send(&job, bytes).is_err() {
                    // It died reading the document: say why below.
                    fresh.stdin = None;
                }
                fresh
            }
        };
        match serving
            .replies
            .recv_timeout(budget.saturating_sub(started.elapsed()))
        {
            Ok(line) => match serde_json::from_slice::<Reply>(&line) {
                Ok(Reply::Parsed { doc, .. }) => {
                    serving.served += 1;
                    let reusable = serving.served < MAX_SERVED
                        && bytes.len() <= REUSE_BYTES
                        && !matches!(format, Format::Pdf | Format::Image);
                    if reusable {
                        self.put_back(serving);
                    }
                    Ok(doc)
                }
                Ok(Reply::Failed { message }) => Err(failed(message)),
                Err(e) => Err(failed(format!("the parser process answered nonsense: {e}"))),
            },
            Err(mpsc::RecvTimeoutError::Timeout) => Err(ingest::Error::Timeout(budget.as_secs())),
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                let ran = started.elapsed();
                match serving.end() {
                    (Ok(status), stderr) => Err(failed(self.death(status, ran, &stderr))),
                    (Err(e), _) => Err(failed(format!("the parser process: {e}"))),
                }
            }
        }
    }
}

impl ChildParser {
    pub fn new(exe: PathBuf, memory_bytes: u64, cpu_secs: u64, nice: i32) -> Self {
        Self {
            exe,
            memory_bytes,
            cpu_secs,
            nice,
            idle: Mutex::new(Vec::new()),
        }
    }

    /// The process ids of the children waiting for a document.
    pub fn idle_pids(&self) -> Vec<u32> {
        let idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        idle.iter().map(|s| s.child.id()).collect()
    }

    fn take_idle(&self) -> Option<Serving> {
        self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop()
    }

    fn put_back(&self, serving: Serving) {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        if idle.len() < MAX_IDLE {
            idle.push(serving);
        }
    }

    /// Starts a serving child, with the threads that read its stdout and stderr.
    fn spawn(&self) -> std::io::Result<Serving> {
        let mut child = Command::new(&self.exe)
            .arg("parse-child")
            .arg("--serve")
            .args(["--memory-bytes", &self.memory_bytes.to_string()])
            .args(["--cpu-secs", &self.cpu_secs.to_string()])
            .args(["--nice", &self.nice.to_string()])
            .env("RAGD_LOG", "error")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        let stdin = child.stdin.take();
        let stdout = child.stdout.take();
        let stderr = child.stderr.take();
        let (tx, replies) = mpsc::channel();
        std::thread::Builder::new()
            .name("ragd-parse-out".into())
            .spawn(move || {
                let Some(stdout) = stdout else { return };
                let mut lines = BufReader::new(stdout);
                loop {
                    let mut line = Vec::new();
                    match lines.read_until(b'\n', &mut line) {
                        Ok(n) if n > 0 && line.ends_with(b"\n") => {
                            if tx.send(line).is_err() {
                                return;
                            }
                        }
                        _ => return,
                    }
                }
            })?;
        let kept = Arc::new(Mutex::new(VecDeque::with_capacity(STDERR_KEPT)));
        let words = kept.clone();
        let stderr_done = std::thread::Builder::new()
            .name("ragd-parse-err".into())
            .spawn(move || {
                let Some(mut stderr) = stderr else { return };
                let mut block = [0u8; 1024];
                while let Ok(n) = stderr.read(&mut block) {
                    if n == 0 {
                        return;
                    }
                    let mut words = words.lock().unwrap_or_else(|p| p.into_inner());
                    words.extend(&block[..n]);
                    let over = words.len().saturating_sub(STDERR_KEPT);
                    words.drain(..over);
                }
            })?;
        Ok(Serving {
            child,
            stdin,
            replies,
            stderr: kept,
            stderr_done: Some(stderr_done),
            served: 0,
        })
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

/// What `ragd parse-child` is told.
#[derive(Debug, Clone, clap::Args)]
pub struct ChildArgs {
    /// Parse the documents sent on stdin one after another (a line of JSON, then the bytes)
    /// and answer each with a line of JSON, until stdin closes.
    #[arg(long)]
    pub serve: bool,
    /// Without `--serve`: the format of the one document on stdin.
    #[arg(long, default_value = "")]
    pub format: String,
    #[arg(long, default_value_t = 60)]
    pub pdf_timeout_secs: u64,
    #[arg(long, default_value_t = 64 << 20)]
    pub max_text_bytes: usize,
    #[arg(long, default_value_t = 200_000)]
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
    /// CPU time per document.
    #[arg(long)]
    pub cpu_secs: u64,
    /// Lower its priority to this nice value (0 to 19; 0: unchanged).
    #[arg(long, default_value_t = 0)]
    pub nice: i32,
}

/// `ragd parse-child`: limits itself, parses stdin, answers on stdout. Returns the exit code.
pub fn child_main(args: &ChildArgs) -> i32 {
    use rustix::process::{setrlimit, Resource, Rlimit};
    let fixed = |value: u64| Rlimit {
        current: Some(value),
        maximum: Some(value),
    };
    // No core files from a parser the kernel stops.
    if setrlimit(Resource::As, fixed(args.memory_bytes)).is_err()
        || setrlimit(Resource::Core, fixed(0)).is_err()
    {
        eprintln!("cannot limit the parser process");
        return 2;
    }
    // When memory runs out (the machine's, or a cgroup's the server shares), the kernel
    // kills this process rather than the server. Raising one's own score needs no privilege.
    let _ = std::fs::write("/proc/self/oom_score_adj", "1000");
    if let Err(e) = retrieval::priority::lower_current_thread(args.nice) {
        eprintln!("cannot lower the parser's priority: {e}");
    }
    if args.serve {
        return serve(args.cpu_secs);
    }
    // One document: the soft CPU limit sends SIGXCPU; the hard one a second later SIGKILL.
    if setrlimit(
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
                let job = Job {
                    format,
                    len: bytes.len(),
                    pdf_timeout_secs: args.pdf_timeout_secs,
                    max_text_bytes: args.max_text_bytes,
                    max_sections: args.max_sections,
                    ocr_languages: args.ocr_languages.clone(),
                    ocr_dpi: args.ocr_dpi,
                    ocr_timeout_secs: args.ocr_timeout_secs,
                };
                answer(&bytes, &job)
            }
        };
    match write_reply(&mut std::io::stdout().lock(), &reply) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("cannot write the reply: {e}");
            2
        }
    }
}

/// Parses one document.
fn answer(bytes: &[u8], job: &Job) -> Reply {
    let started = Instant::now();
    match ingest::parse::parse(bytes, job.format, &job.limits()) {
        Ok(doc) => Reply::Parsed {
            doc,
            parse_ms: started.elapsed().as_millis() as u64,
        },
        Err(e) => Reply::Failed {
            message: e.to_string(),
        },
    }
}

/// The reply as one line of JSON (JSON strings escape their newlines).
fn write_reply(out: &mut impl Write, reply: &Reply) -> std::io::Result<()> {
    serde_json::to_writer(&mut *out, reply).map_err(std::io::Error::from)?;
    out.write_all(b"\n")?;
    out.flush()
}

/// `--serve`: documents one after another until stdin closes. Each may use `cpu_secs` of CPU
/// time more than the process had used before it (past that the kernel's SIGXCPU ends the
/// process, which the parent reports for that document).
fn serve(cpu_secs: u64) -> i32 {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    use rustix::time::{clock_gettime, ClockId};
    let mut input = std::io::stdin().lock();
    let mut out = std::io::stdout().lock();
    loop {
        let mut line = Vec::new();
        match input.read_until(b'\n', &mut line) {
            Ok(0) => return 0,
            Ok(_) => {}
            Err(e) => {
                eprintln!("cannot read the next document: {e}");
                return 2;
            }
        }
        let job: Job = match serde_json::from_slice(&line) {
            Ok(job) => job,
            Err(e) => {
                eprintln!("cannot read the next document: {e}");
                return 2;
            }
        };
        let mut bytes = Vec::with_capacity(job.len.min(64 << 20));
        match (&mut input).take(job.len as u64).read_to_end(&mut bytes) {
            Ok(n) if n == job.len => {}
            _ => {
                eprintln!("the document ended early");
                return 2;
            }
        }
        let used = clock_gettime(ClockId::ProcessCPUTime);
        let soft = u64::try_from(used.tv_sec).unwrap_or(0) + 1 + cpu_secs;
        let hard = getrlimit(Resource::Cpu).maximum;
        let limit = Rlimit {
            current: Some(hard.map_or(soft, |h| h.min(soft))),
            maximum: hard,
        };
        if setrlimit(Resource::Cpu, limit).is_err() {
            eprintln!("cannot limit the parser process");
            return 2;
        }
        if let Err(e) = write_reply(&mut out, &answer(&bytes, &job)) {
            eprintln!("cannot write the reply: {e}");
            return 2;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::ExitStatusExt;

    #[test]
    fn a_child_s_end_is_told_by_how_and_when_it_ended() {
        let p = ChildParser::new(PathBuf::from("ragd"), 256 << 20, 60, 0);
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
