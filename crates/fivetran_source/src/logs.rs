//! Log lines as the Partner SDK wants them: one JSON object per line on stdout, with `level` (INFO, WARNING or
//! SEVERE), `message` and `message-origin` (`sdk_connector`). Written with a JSON encoder, so a quote or a newline
//! in a message cannot break the line. Messages come from the core, which never puts a secret in one.

use connector_accel_core::messages::{Level, Messages};
use serde_json::json;
use std::io::Write;

/// The line for `message` at `level` ("INFO", "WARNING" or "SEVERE").
pub fn line(level: &str, message: &str) -> String {
    json!({"level": level, "message": message, "message-origin": "sdk_connector"}).to_string()
}

fn write(level: &str, message: &str) {
    let mut out = std::io::stdout().lock();
    // A closed stdout must not stop a sync: the log is lost, the data is not.
    let _ = writeln!(out, "{}", line(level, message));
    let _ = out.flush();
}

pub fn info(message: &str) {
    write("INFO", message);
}

pub fn warning(message: &str) {
    write("WARNING", message);
}

pub fn severe(message: &str) {
    write("SEVERE", message);
}

/// Logs everything the core collected since the last call; returns the warnings among it (they are also sent to
/// Fivetran as `Warning`s).
pub fn drain(log: &Messages) -> Vec<String> {
    let mut warnings = Vec::new();
    for (level, text) in log.take() {
        match level {
            Level::Info => info(&text),
            Level::Warning => {
                warning(&text);
                warnings.push(text);
            }
        }
    }
    warnings
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_line_is_one_json_object_whatever_the_message_holds() {
        let line = super::line("WARNING", "table \"a\"\nwith a quote");
        assert!(!line.contains('\n'));
        let parsed: serde_json::Value = serde_json::from_str(&line).expect("one JSON object");
        assert_eq!(parsed["level"], "WARNING");
        assert_eq!(parsed["message"], "table \"a\"\nwith a quote");
        assert_eq!(parsed["message-origin"], "sdk_connector");
    }
}
