//! The app's settings (`<store>/settings.json`), shared by the GUI and the CLI's `use`.

use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::fsutil;
use crate::store::Store;

/// How switching the active host reaches the docker client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum SwitchMode {
    /// DOCKER_HOST & co. in the active env file: new terminals follow.
    #[default]
    Env,
    /// The docker CLI's current context: every terminal follows, open ones too (the env file
    /// then clears DOCKER_HOST so the context applies).
    Context,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum Theme {
    #[default]
    System,
    Light,
    Dark,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Settings {
    pub switch_mode: SwitchMode,
    /// Keep a docker context `berth-NAME` for every machine.
    pub docker_contexts: bool,
    /// Desktop notification when a create (or another long operation) ends.
    pub notifications: bool,
    pub theme: Theme,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            switch_mode: SwitchMode::Env,
            docker_contexts: true,
            notifications: true,
            theme: Theme::System,
        }
    }
}

impl Settings {
    /// The saved settings; defaults when there are none or they cannot be read.
    pub fn load(store: &Store) -> Settings {
        std::fs::read_to_string(store.root().join("settings.json"))
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_default()
    }

    pub fn save(&self, store: &Store) -> Result<()> {
        fsutil::ensure_private_dir(store.root())?;
        fsutil::write_json(
            &store.root().join("settings.json"),
            self,
            fsutil::PUBLIC_MODE,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::at(dir.path());
        assert_eq!(Settings::load(&store), Settings::default());
        let s = Settings {
            switch_mode: SwitchMode::Context,
            theme: Theme::Dark,
            ..Default::default()
        };
        s.save(&store).unwrap();
        assert_eq!(Settings::load(&store), s);
        std::fs::write(dir.path().join("settings.json"), "{oops").unwrap();
        assert_eq!(
            Settings::load(&store),
            Settings::default(),
            "damaged settings fall back to defaults"
        );
        std::fs::write(
            dir.path().join("settings.json"),
            r#"{"switchMode":"context"}"#,
        )
        .unwrap();
        assert!(
            Settings::load(&store).docker_contexts,
            "missing keys take defaults"
        );
    }
}
