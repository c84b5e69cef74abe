//! What the core has to tell the operator (retries, resource adjustments, plans), collected where the engine runs
//! and handed to Python, which logs it through the Connector SDK's `Logging`.

use std::sync::{Arc, Mutex};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Info,
    Warning,
}

impl Level {
    pub fn name(self) -> &'static str {
        match self {
            Level::Info => "INFO",
            Level::Warning => "WARNING",
        }
    }
}

/// A shared, cheap-to-clone list of messages not yet logged.
#[derive(Debug, Clone, Default)]
pub struct Messages(Arc<Mutex<Vec<(Level, String)>>>);

impl Messages {
    pub fn info(&self, text: impl Into<String>) {
        self.push(Level::Info, text.into());
    }

    pub fn warning(&self, text: impl Into<String>) {
        self.push(Level::Warning, text.into());
    }

    fn push(&self, level: Level, text: String) {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((level, text));
    }

    /// Everything since the last call.
    pub fn take(&self) -> Vec<(Level, String)> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Everything since the last call, with the level's name: what Python logs.
    pub fn take_named(&self) -> Vec<(String, String)> {
        self.take()
            .into_iter()
            .map(|(level, text)| (level.name().to_string(), text))
            .collect()
    }
}
