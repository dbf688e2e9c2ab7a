//! Plain shared types every capability uses: ids and time, email addresses, passwords,
//! one-time secrets, configuration, flat JSON objects read field by field, typed events,
//! problem codes, mail as data, the SQL port, the outbound HTTP port, HTTP as data and the
//! feature contract. Nothing here knows it runs in a Worker (but for `text`, which has the
//! JavaScript runtime lower-case what is not ASCII), and nothing here knows any capability.

pub mod assets;
pub mod config;
pub mod crypto;
pub mod email;
pub mod events;
pub mod feature;
pub mod fetch;
pub mod fields;
pub mod ids;
pub mod mail;
pub mod net;
pub mod password;
pub mod problem;
pub mod secrets;
pub mod sql;
pub mod text;
pub mod web;

#[cfg(test)]
pub mod testing;

pub use email::EmailAddress;
pub use ids::{Clock, SessionId, UnixSeconds, UserId};
pub use password::Password;
