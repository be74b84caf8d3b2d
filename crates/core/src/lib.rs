//! Berth's engine: everything that is not GUI. The CLI (`crates/cli`) and the desktop app
//! (`src-tauri`) are thin layers over [`ops::Berth`].

pub mod agent;
pub mod certs;
pub mod child;
pub mod cloud;
pub mod containers;
pub mod contexts;
pub mod credentials;
pub mod daemon_config;
pub mod drivers;
pub mod engine;
pub mod error;
pub mod fsutil;
pub mod machine;
pub mod monitor;
pub mod names;
pub mod ops;
pub mod profiles;
pub mod progress;
pub mod provision;
pub mod reverse_sshfs;
pub mod settings;
pub mod shellenv;
pub mod ssh;
pub mod store;
pub mod template;
pub mod terminal;
pub mod text;
pub mod userfile;

pub use error::{Error, ErrorKind, Result};
pub use ops::Berth;
pub use store::Store;

/// Berth's version, as `berth version` prints it.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
