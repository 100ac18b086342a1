//! Asking a person at a terminal: a line typed without echo (passwords, step-up codes,
//! secret values), so it never shows on screen or lands in a scrollback.

use super::{Exit, Res};
use std::io::{IsTerminal, Write};
use zeroize::Zeroizing;

/// Whether a person can be asked: stdin is a terminal.
pub(super) fn interactive() -> bool {
    std::io::stdin().is_terminal()
}

/// Prints `prompt` on stderr and reads one line from the terminal with echo off; the line
/// without its end, in a zeroizing box.
pub(super) fn hidden_line(prompt: &str) -> Res<Zeroizing<String>> {
    eprint!("{prompt}: ");
    let _ = std::io::stderr().flush();
    let mut line = Zeroizing::new(String::new());
    let read = {
        let _echo = EchoOff::new();
        std::io::stdin().read_line(&mut line)
    };
    eprintln!();
    read.map_err(|e| Exit::usage(format!("cannot read the terminal: {e}")))?;
    let end = line.trim_end_matches(['\n', '\r']).len();
    line.truncate(end);
    Ok(line)
}

/// Terminal echo off (via `stty`) while alive; restored on drop.
pub(super) struct EchoOff;

impl EchoOff {
    pub(super) fn new() -> EchoOff {
        let _ = std::process::Command::new("stty")
            .arg("-echo")
            .stdin(std::process::Stdio::inherit())
            .status();
        EchoOff
    }
}

impl Drop for EchoOff {
    fn drop(&mut self) {
        let _ = std::process::Command::new("stty")
            .arg("echo")
            .stdin(std::process::Stdio::inherit())
            .status();
    }
}
