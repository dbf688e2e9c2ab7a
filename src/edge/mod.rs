//! The Worker's side of every port: conversions, deferred mail, metrics flushing, error
//! reports and logs. Only this module and `entry` import `worker`.

pub mod convert;
pub mod mail;
pub mod metrics;
pub mod panic;
pub mod report;

use worker::Date;

use crate::domain::{Clock, UnixSeconds};

pub fn now_ms() -> u64 {
    Date::now().as_millis()
}

/// One JSON object per line, readable with `wrangler tail`.
pub fn log_json(value: serde_json::Value) {
    worker::console_log!("{value}");
}

pub struct WorkerClock;

impl Clock for WorkerClock {
    fn now(&self) -> UnixSeconds {
        (now_ms() / 1000) as UnixSeconds
    }
}
