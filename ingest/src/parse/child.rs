//! Waiting on a child process with a deadline: what both the parser process (in the server)
//! and the OCR tools (in the parser process) need.

use std::io::{Read, Write};
use std::process::{Child, ExitStatus};
use std::time::{Duration, Instant};

/// Bytes of a child's stderr kept.
const STDERR_KEPT: u64 = 4096;

/// How a child ended.
#[derive(Debug)]
pub enum Ended {
    /// It exited (or was killed by a signal) before the deadline: its stdout whole, the
    /// first 4 KiB of its stderr.
    Exited {
        status: ExitStatus,
        stdout: Vec<u8>,
        stderr: Vec<u8>,
    },
    /// It was still running at the deadline and was killed.
    TimedOut,
}

/// Writes `input` to the child's stdin (when piped) while reading its stdout and stderr (when
/// piped), so a large input or output cannot fill a pipe and stall both sides, and waits
/// until it exits or `deadline`, when it is killed.
pub fn wait(mut child: Child, input: Option<Vec<u8>>, deadline: Instant) -> std::io::Result<Ended> {
    let mut stdin = child.stdin.take();
    let writer = std::thread::spawn(move || {
        if let (Some(s), Some(input)) = (stdin.as_mut(), input) {
            let _ = s.write_all(&input);
        }
    });
    let mut stdout = child.stdout.take();
    let reader = std::thread::spawn(move || {
        let mut out = Vec::new();
        if let Some(s) = stdout.as_mut() {
            let _ = s.read_to_end(&mut out);
        }
        out
    });
    let mut stderr = child.stderr.take();
    let errors = std::thread::spawn(move || {
        let mut out = Vec::new();
        if let Some(s) = stderr.as_mut() {
            let _ = s.take(STDERR_KEPT).read_to_end(&mut out);
        }
        out
    });
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                let _ = writer.join();
                return Ok(Ended::TimedOut);
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(e);
            }
        }
    };
    let _ = writer.join();
    Ok(Ended::Exited {
        status,
        stdout: reader.join().unwrap_or_default(),
        stderr: errors.join().unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::{Command, Stdio};

    #[test]
    fn input_goes_in_output_comes_back_and_a_late_child_is_killed() {
        let piped = |cmd: &mut Command| {
            cmd.stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        };
        let far = Instant::now() + Duration::from_secs(30);
        let big = vec![b'x'; 1 << 20];
        match wait(piped(&mut Command::new("cat")), Some(big.clone()), far).unwrap() {
            Ended::Exited { status, stdout, .. } => {
                assert!(status.success());
                assert_eq!(stdout, big);
            }
            Ended::TimedOut => panic!("cat timed out"),
        }
        let started = Instant::now();
        let soon = started + Duration::from_millis(200);
        let ended = wait(piped(Command::new("sleep").arg("30")), None, soon).unwrap();
        assert!(matches!(ended, Ended::TimedOut));
        assert!(started.elapsed() < Duration::from_secs(5));
    }
}
