//! The strategy host's error type: what went wrong, in which strategy, file and line.

use std::fmt;
use thiserror::Error;

/// What kind of failure a [`StrategyError`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The file could not be read.
    Io,
    /// The source does not compile (or is not text: binary chunks are refused).
    Syntax,
    /// The file compiled but does not return a valid strategy table.
    Shape,
    /// A callback (or the file's top level) raised an error, including a refused `ctx` call.
    Runtime,
    /// A callback used more than its instruction budget (runaway loop).
    Budget,
    /// The strategy's state hit its memory limit.
    Memory,
    /// State could not be exported or restored (not plain data).
    State,
    /// No strategy with that id is loaded.
    Unknown,
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Io => "cannot read file",
            Self::Syntax => "syntax error",
            Self::Shape => "invalid strategy",
            Self::Runtime => "runtime error",
            Self::Budget => "instruction budget exceeded",
            Self::Memory => "memory limit exceeded",
            Self::State => "state error",
            Self::Unknown => "unknown strategy",
        })
    }
}

/// A strategy failure, naming the strategy, its file and (when known) the line.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("strategy '{strategy}' ({file}{}){}: {kind}: {message}",
    line.map(|l| format!(":{l}")).unwrap_or_default(),
    callback.map(|c| format!(" in {c}")).unwrap_or_default())]
pub struct StrategyError {
    /// The strategy id (file stem).
    pub strategy: String,
    /// The script's path as given to the host.
    pub file: String,
    /// The line in `file`, when the error has a position.
    pub line: Option<u32>,
    /// The callback that was running (`on_bar`, …), if any.
    pub callback: Option<&'static str>,
    /// What kind of failure.
    pub kind: ErrorKind,
    /// The message without the `file:line:` prefix.
    pub message: String,
}

impl StrategyError {
    /// Builds an error with no line or callback.
    #[must_use]
    pub fn new(strategy: &str, file: &str, kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            strategy: strategy.to_owned(),
            file: file.to_owned(),
            line: None,
            callback: None,
            kind,
            message: message.into(),
        }
    }

    /// Builds an error from a Lua error, taking the line from its `file:line:` prefix.
    pub(crate) fn from_lua(strategy: &str, file: &str, kind: ErrorKind, err: &mlua::Error) -> Self {
        let text = lua_message(err);
        let (line, message) = split_position(file, &text);
        Self { strategy: strategy.to_owned(), file: file.to_owned(), line, callback: None, kind, message }
    }

    /// The same error, attributed to a callback.
    #[must_use]
    pub(crate) fn in_callback(mut self, callback: &'static str) -> Self {
        self.callback = Some(callback);
        self
    }
}

/// The innermost message of a Lua error (callback wrappers and contexts removed).
fn lua_message(err: &mlua::Error) -> String {
    match err {
        mlua::Error::CallbackError { cause, .. } => lua_message(cause),
        mlua::Error::WithContext { cause, .. } => lua_message(cause),
        mlua::Error::SyntaxError { message, .. } => message.clone(),
        mlua::Error::RuntimeError(m) | mlua::Error::MemoryError(m) => m.clone(),
        other => other.to_string(),
    }
}

/// Splits `"<file>:<line>: message"` (as Lua prefixes positions) into the line and the
/// message's first line (the traceback that follows points into host code and is dropped).
/// Searches for the file name anywhere in the first line, since Lua may shorten long names.
fn split_position(file: &str, text: &str) -> (Option<u32>, String) {
    let first = text.lines().next().unwrap_or("");
    let candidates = [file, file.rsplit('/').next().unwrap_or(file)];
    for name in candidates {
        if let Some(at) = first.find(&format!("{name}:")) {
            let rest = &first[at + name.len() + 1..];
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            if let Ok(line) = digits.parse::<u32>() {
                let msg = rest[digits.len()..].trim_start_matches(':').trim_start();
                return (Some(line), msg.to_owned());
            }
        }
    }
    (None, first.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn position_prefix_becomes_the_line() {
        let (line, msg) = split_position("strategies/a.lua", "strategies/a.lua:12: boom");
        assert_eq!(line, Some(12));
        assert_eq!(msg, "boom");
        let (line, msg) = split_position("strategies/a.lua", "no position here");
        assert_eq!(line, None);
        assert_eq!(msg, "no position here");
    }

    #[test]
    fn display_names_strategy_file_line_and_callback() {
        let mut e = StrategyError::new("a", "strategies/a.lua", ErrorKind::Runtime, "boom");
        e.line = Some(3);
        let e = e.in_callback("on_bar");
        assert_eq!(e.to_string(), "strategy 'a' (strategies/a.lua:3) in on_bar: runtime error: boom");
    }
}
