//! Logging with a `[plugin-name] ` prefix. Messages below the host's log level are not even
//! formatted. Logging never fails loudly: a host that refuses a log line is ignored.

use std::fmt::{Display, Write};

use crate::hostcalls;
use crate::types::LogLevel;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Log {
    plugin_name: &'static str,
}

impl Log {
    pub const fn new(plugin_name: &'static str) -> Log {
        Log { plugin_name }
    }

    pub fn plugin_name(&self) -> &'static str {
        self.plugin_name
    }

    /// Whether the host would keep a message at `level`. If the host cannot tell, assume yes.
    pub fn enabled(&self, level: LogLevel) -> bool {
        hostcalls::get_log_level().map_or(true, |host_level| level >= host_level)
    }

    pub fn log(&self, level: LogLevel, message: impl Display) {
        if !self.enabled(level) {
            return;
        }
        let mut line = String::with_capacity(self.plugin_name.len() + 64);
        let _ = write!(line, "[{}] {}", self.plugin_name, message);
        let _ = hostcalls::log(level, &line);
    }

    pub fn trace(&self, message: impl Display) {
        self.log(LogLevel::Trace, message)
    }

    pub fn debug(&self, message: impl Display) {
        self.log(LogLevel::Debug, message)
    }

    pub fn info(&self, message: impl Display) {
        self.log(LogLevel::Info, message)
    }

    pub fn warn(&self, message: impl Display) {
        self.log(LogLevel::Warn, message)
    }

    pub fn error(&self, message: impl Display) {
        self.log(LogLevel::Error, message)
    }

    pub fn critical(&self, message: impl Display) {
        self.log(LogLevel::Critical, message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;
    use std::fmt;

    struct Counted<'a>(&'a Cell<u32>);

    impl fmt::Display for Counted<'_> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            self.0.set(self.0.get() + 1);
            f.write_str("msg")
        }
    }

    #[test]
    fn prefixes_and_filters_by_level() {
        let fake = crate::testing::install();
        fake.set_log_level(LogLevel::Info);
        let log = Log::new("demo");
        let formatted = Cell::new(0);
        log.debug(Counted(&formatted));
        assert_eq!(
            formatted.get(),
            0,
            "filtered messages must not be formatted"
        );
        log.warn(format_args!("x={}", 1));
        assert_eq!(
            fake.logs(),
            vec![(LogLevel::Warn, "[demo] x=1".to_string())]
        );
    }

    #[test]
    fn host_failure_is_swallowed() {
        let fake = crate::testing::install();
        fake.fail("proxy_log", crate::types::Status::InternalFailure);
        fake.fail("proxy_get_log_level", crate::types::Status::InternalFailure);
        Log::new("demo").error("still fine");
        assert!(fake.logs().is_empty());
    }
}
